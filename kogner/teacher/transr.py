"""Z'': TransR entity embeddings trained with PyKEEN (paper eq. 5), beside a TransE baseline on the same split.

* Triples: every distinct ``(head, relation, tail)`` among the teacher's entities, split train/validation/test
  by PyKEEN with its coverage rule (every entity of a triple is in the training part), so every entity that has
  a relation triple gets a trained vector. ``transr_max_train_triples`` can cap the training part for very large
  graphs; the sample then starts with one triple per entity (`covering_sample`), so coverage is kept.
* Training: PyKEEN's sLCWA training loop (``transr_negatives`` corrupted triples per positive drawn by
  ``transr_negative_sampler``, self-adversarial
  negative sampling loss with margin ``transr_margin`` on L1 distances). First TransE (``transr_init_epochs``),
  then TransR initialised from it as in the TransR paper (Lin et al., 2015: entity and relation vectors from
  TransE, identity projections; ``transr_epochs``). The norm bounds are set so that this initial TransR scores
  every triple exactly as the trained TransE does, and it learns relation-specific projections from there.
  The TransE baseline reported beside TransR is that initialisation (``transr_init_epochs`` epochs).
* Evaluation: PyKEEN's filtered rank-based evaluator (both sides, realistic ranks, filtered by every known
  triple) on the same held-out triples for both models: MRR, Hits@1, Hits@10.
* Coverage: entities in no triple have no trained Z''. They are recorded (``covered`` mask, saved in
  ``teacher.safetensors``) and left out of the distillation target; their Z'' row is the mean of the trained rows,
  i.e. zero after centring in H. A graph with too few triples skips TransR (a warning; H = [Z, Z']).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from kogner.kg.graph import KnowledgeGraph

from .settings import TeacherSettings
from .text import resolve_device

logger = logging.getLogger(__name__)

MIN_TRIPLES = 10  # fewer distinct triples cannot be split into train/validation/test and evaluated


def relation_triples(graph: KnowledgeGraph) -> tuple[torch.Tensor, list[str]]:
    """Distinct ``[T, 3]`` (head row, relation id, tail row) triples and the relation names (sorted)."""
    relation_names = graph.relation_names()
    relation_of = {name: i for i, name in enumerate(relation_names)}
    if graph.num_edges == 0:
        return torch.zeros((0, 3), dtype=torch.long), relation_names
    mapped = torch.stack([
        torch.tensor(graph.edge_heads, dtype=torch.long),
        torch.tensor([relation_of[r] for r in graph.edge_relations.tolist()], dtype=torch.long),
        torch.tensor(graph.edge_tails, dtype=torch.long),
    ], dim=1)
    return torch.unique(mapped, dim=0), relation_names


def covered_rows(triples: torch.Tensor, num_entities: int) -> torch.Tensor:
    """Bool ``[M]``: True for entities that are the head or tail of at least one triple."""
    covered = torch.zeros(num_entities, dtype=torch.bool)
    covered[triples[:, 0]] = True
    covered[triples[:, 2]] = True
    return covered


def covering_sample(triples: torch.Tensor, limit: int, generator: torch.Generator) -> torch.Tensor:
    """At most ``limit`` triples (more only if needed) that still cover every entity of ``triples``.

    In a random order, the first triple of each entity (as head and as tail) is kept, then random others fill the
    sample up to ``limit``.
    """
    if triples.shape[0] <= limit:
        return triples
    shuffled = triples[torch.randperm(triples.shape[0], generator=generator)]
    needed = np.zeros(shuffled.shape[0], dtype=bool)
    for column in (0, 2):
        _, first = np.unique(shuffled[:, column].numpy(), return_index=True)
        needed[first] = True
    needed_rows = np.flatnonzero(needed)
    rest = np.flatnonzero(~needed)[: max(0, limit - len(needed_rows))]
    return shuffled[torch.as_tensor(np.sort(np.concatenate([needed_rows, rest])))]


def _train(model_name: str, train: Any, settings: TeacherSettings, device: torch.device, seed: int, epochs: int,
           lr: float, model_kwargs: dict[str, Any], max_norm: float | None = None) -> tuple[Any, list[float], float]:
    """One PyKEEN model trained with its sLCWA loop; returns the model, the loss per epoch and the seconds taken."""
    from pykeen.models import model_resolver
    from pykeen.training import SLCWATrainingLoop

    torch.manual_seed(seed)
    model = model_resolver.make(model_name, triples_factory=train, random_seed=seed,
                                loss="NSSA", loss_kwargs={"margin": settings.transr_margin,
                                                          "adversarial_temperature": 1.0},
                                **model_kwargs).to(device)
    if max_norm is not None:  # TransR passes max_projection_norm to its constrainers but not to its interaction
        model.interaction.max_projection_norm = max_norm
    optimizer = torch.optim.Adam(model.get_grad_params(), lr=lr)
    loop = SLCWATrainingLoop(model=model, triples_factory=train, optimizer=optimizer,
                             negative_sampler=settings.transr_negative_sampler,
                             negative_sampler_kwargs={"num_negs_per_pos": settings.transr_negatives})
    start = time.perf_counter()
    losses = loop.train(triples_factory=train, num_epochs=epochs, batch_size=settings.transr_batch_size,
                        use_tqdm=False, use_tqdm_batch=False, pin_memory=device.type == "cuda")
    return model, [float(loss) for loss in losses or []], round(time.perf_counter() - start, 2)


def _evaluate(model: Any, triples: torch.Tensor, filter_triples: list[torch.Tensor]) -> dict[str, float]:
    """Filtered rank-based MRR and Hits@1/10 (both sides, realistic ranks)."""
    from pykeen.evaluation import RankBasedEvaluator

    results = RankBasedEvaluator(filtered=True).evaluate(
        model, triples, additional_filter_triples=filter_triples, batch_size=256, use_tqdm=False)
    metric = results.get_metric
    return {"mrr": round(float(metric("both.realistic.inverse_harmonic_mean_rank")), 5),
            "hits_at_1": round(float(metric("both.realistic.hits_at_1")), 5),
            "hits_at_10": round(float(metric("both.realistic.hits_at_10")), 5)}


def _pretrained(tensor: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A PyKEEN initializer that fills a weight with a copy of ``tensor``.

    Unlike ``PretrainedInitializer`` it never hands out ``tensor`` itself: the training loop resets the model before
    training (torch's own ``reset_parameters`` overwrites the weight in place, then PyKEEN's initializer runs), and
    a weight that shared ``tensor``'s storage would have overwritten the pretrained values by then.
    """
    source = tensor.detach().clone()

    def initialize(weight: torch.Tensor) -> torch.Tensor:
        if weight.shape != source.shape:
            raise ValueError(f"pretrained shape {list(source.shape)} does not fit the weight {list(weight.shape)}")
        return source.to(device=weight.device, dtype=weight.dtype, copy=True)

    return initialize


def _identity_projections(num_relations: int, entity_dim: int, relation_dim: int) -> torch.Tensor:
    """``[R, d, k]`` projections that keep the first ``k`` coordinates (the identity when ``k == d``)."""
    return torch.eye(entity_dim, relation_dim).expand(num_relations, entity_dim, relation_dim).clone()


def logical_stage(graph: KnowledgeGraph, settings: TeacherSettings,
                  evaluate_on: str = "test") -> tuple[torch.Tensor, dict]:
    """Z'' ``[M, transr_dim]`` (uncovered rows: the mean of the trained rows) and the metrics for teacher.json.

    ``evaluate_on="validation"`` scores the validation triples instead of the test triples (for tuning).
    Returns a ``[M, 0]`` tensor when the graph has fewer than ``MIN_TRIPLES`` distinct relation triples.
    """
    from pykeen.triples import TriplesFactory

    triples, relation_names = relation_triples(graph)
    covered = covered_rows(triples, graph.num_nodes)
    if triples.shape[0] < MIN_TRIPLES:
        reason = (f"the graph has {triples.shape[0]} distinct relation triples; TransR needs at least {MIN_TRIPLES} "
                  "to train and evaluate: Z'' is left out of H")
        logger.warning("TransR skipped: %s", reason)
        return torch.zeros((graph.num_nodes, 0)), {"skipped": reason, "triples": {"total": int(triples.shape[0])},
                                                   "coverage": 0.0, "covered": 0, "entities": graph.num_nodes}
    if evaluate_on not in ("test", "validation"):
        raise ValueError(f"evaluate_on must be 'test' or 'validation', got {evaluate_on!r}")
    factory = TriplesFactory(triples, entity_to_id={n: i for i, n in enumerate(graph.node_ids)},
                             relation_to_id={n: i for i, n in enumerate(relation_names)},
                             num_entities=graph.num_nodes, num_relations=len(relation_names))
    train, valid, test = factory.split(list(settings.transr_split), random_state=settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    train_used = train
    if settings.transr_max_train_triples and train.num_triples > settings.transr_max_train_triples:
        train_used = train.clone_and_exchange_triples(
            covering_sample(train.mapped_triples, settings.transr_max_train_triples, generator))
    trained = covered_rows(train_used.mapped_triples, graph.num_nodes)
    if not torch.equal(trained, covered):
        raise RuntimeError(f"{int((covered & ~trained).sum())} entities with triples have none in the training part")
    evaluated = valid if evaluate_on == "validation" else test
    eval_triples = evaluated.mapped_triples
    if eval_triples.shape[0] > settings.transr_max_eval_triples:
        keep = torch.randperm(eval_triples.shape[0], generator=generator)[: settings.transr_max_eval_triples]
        eval_triples = eval_triples[keep.sort().values]
    filters = [train.mapped_triples, valid.mapped_triples, test.mapped_triples]
    device = resolve_device(settings.device)
    dim = settings.transr_dim

    transe, transe_losses, transe_seconds = _train(
        "TransE", train_used, settings, device, settings.seed, settings.transr_init_epochs, settings.transr_init_lr,
        {"embedding_dim": dim, "scoring_fct_norm": 1})
    transe_metrics = _evaluate(transe, eval_triples, filters)
    entity_init = transe.entity_representations[0](indices=None).detach().cpu()
    relation_init = transe.relation_representations[0](indices=None).detach().cpu()
    relation_dim = min(settings.transr_relation_dim or dim, dim)
    # TransE's unit-L2 entities have L1 norms <= sqrt(d): with that bound (instead of 1) on entities and projected
    # entities, and no bound on relation vectors (TransE has none), TransR starts with exactly TransE's scores
    transr_kwargs: dict[str, Any] = {
        "embedding_dim": dim, "relation_dim": relation_dim, "scoring_fct_norm": 1,
        "max_projection_norm": dim ** 0.5, "relation_constrainer": None,
        "entity_initializer": _pretrained(entity_init),
        "relation_initializer": _pretrained(relation_init[:, :relation_dim]),
        "relation_projection_initializer": _pretrained(_identity_projections(len(relation_names), dim, relation_dim)),
    }
    transr, transr_losses, transr_seconds = _train("TransR", train_used, settings, device, settings.seed,
                                                   settings.transr_epochs, settings.transr_lr, transr_kwargs,
                                                   max_norm=dim ** 0.5)
    transr_metrics = _evaluate(transr, eval_triples, filters)
    embeddings = transr.entity_representations[0](indices=None).detach().float().cpu()
    if not covered.all():
        embeddings[~covered] = embeddings[covered].mean(dim=0)
    metrics = {
        **transr_metrics,
        "transe": {**transe_metrics, "epochs": settings.transr_init_epochs, "train_seconds": transe_seconds,
                   "first_epoch_loss": transe_losses[0] if transe_losses else None,
                   "final_loss": transe_losses[-1] if transe_losses else None},
        "mrr_ratio_to_transe": (round(transr_metrics["mrr"] / transe_metrics["mrr"], 4)
                                if transe_metrics["mrr"] else None),
        "evaluation": f"PyKEEN RankBasedEvaluator, filtered by all known triples, both sides, realistic ranks, on "
                      f"{eval_triples.shape[0]} {evaluate_on} triples",
        "evaluated_on": evaluate_on,
        "triples": {"total": int(triples.shape[0]), "train": train.num_triples, "train_used": train_used.num_triples,
                    "validation": valid.num_triples, "test": test.num_triples,
                    "evaluated": int(eval_triples.shape[0])},
        "relations": len(relation_names),
        "entities": graph.num_nodes,
        "covered": int(covered.sum()),
        "coverage": round(float(covered.float().mean()), 5),
        "uncovered_per_type": _uncovered_per_type(graph, covered),
        "initialisation": "TransR from TransE (entity and relation vectors) with identity projections (Lin et al.)",
        "train_seconds": transr_seconds,
        "first_epoch_loss": transr_losses[0] if transr_losses else None,
        "final_loss": transr_losses[-1] if transr_losses else None,
    }
    return embeddings, metrics


def _uncovered_per_type(graph: KnowledgeGraph, covered: torch.Tensor) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in torch.nonzero(~covered).flatten().tolist():
        counts[graph.types[row]] = counts.get(graph.types[row], 0) + 1
    return dict(sorted(counts.items()))


def coverage_mask(graph: KnowledgeGraph, logical_vectors: torch.Tensor) -> torch.Tensor:
    """Bool ``[M]``: entities whose Z'' was trained (all True when TransR was skipped and H has no Z'')."""
    if logical_vectors.shape[1] == 0:
        return torch.ones(graph.num_nodes, dtype=torch.bool)
    return covered_rows(relation_triples(graph)[0], graph.num_nodes)


def coverage_summary(covered: torch.Tensor, logical_metrics: dict) -> dict[str, Any]:
    """The ``coverage`` block of teacher.json."""
    return {"entities": int(covered.numel()), "covered": int(covered.sum()),
            "fraction": round(float(covered.float().mean()), 5) if covered.numel() else 0.0,
            "transr_skipped": logical_metrics.get("skipped"),
            "meaning": "covered = the entity has a trained Z'' (it is in at least one relation triple); uncovered "
                       "entities are left out of the distillation target (Teacher.covered_index)"}
