"""Z'': TransR entity embeddings trained with PyKEEN's pipeline (paper eq. 5)."""

from __future__ import annotations

import torch

from kogner.kg.graph import KnowledgeGraph

from .settings import TeacherSettings
from .text import resolve_device


def logical_stage(graph: KnowledgeGraph, settings: TeacherSettings) -> tuple[torch.Tensor, dict]:
    """TransR via PyKEEN's pipeline; every KG node is a PyKEEN entity with id = its row."""
    from pykeen.pipeline import pipeline
    from pykeen.triples import TriplesFactory

    if graph.num_edges < 3:
        raise ValueError(f"TransR needs at least 3 edges to split train/validation/test; the graph has {graph.num_edges}")
    relation_names = graph.relation_names()
    relation_of = {name: i for i, name in enumerate(relation_names)}
    mapped = torch.stack([
        torch.tensor(graph.edge_heads, dtype=torch.long),
        torch.tensor([relation_of[r] for r in graph.edge_relations.tolist()], dtype=torch.long),
        torch.tensor(graph.edge_tails, dtype=torch.long),
    ], dim=1)
    mapped = torch.unique(mapped, dim=0)
    factory = TriplesFactory(mapped, entity_to_id={n: i for i, n in enumerate(graph.node_ids)},
                             relation_to_id=relation_of, num_entities=graph.num_nodes,
                             num_relations=len(relation_names))
    train, valid, test = factory.split(list(settings.transr_split), random_state=settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)

    def subsample(part: TriplesFactory, limit: int | None) -> TriplesFactory:
        if limit is None or part.num_triples <= limit:
            return part
        keep = torch.randperm(part.num_triples, generator=generator)[:limit]
        return part.clone_and_exchange_triples(part.mapped_triples[keep.sort().values])

    train_used = subsample(train, settings.transr_max_train_triples)
    test_used = subsample(test, settings.transr_max_eval_triples)
    device = resolve_device(settings.device)
    result = pipeline(
        training=train_used, validation=valid, testing=test_used,
        model="TransR",
        model_kwargs={"embedding_dim": settings.transr_dim, "relation_dim": settings.transr_relation_dim},
        optimizer="Adam", optimizer_kwargs={"lr": settings.transr_lr},
        training_kwargs={"num_epochs": settings.transr_epochs, "batch_size": settings.transr_batch_size,
                         "use_tqdm_batch": False},
        evaluation_kwargs={"batch_size": 256, "use_tqdm": False},
        random_seed=settings.seed, device=str(device),
    )
    metric = result.metric_results.get_metric
    embeddings = result.model.entity_representations[0](indices=None).detach().float().cpu()
    losses = [float(v) for v in result.losses]
    metrics = {
        "mrr": float(metric("both.realistic.inverse_harmonic_mean_rank")),
        "hits_at_10": float(metric("both.realistic.hits_at_10")),
        "evaluation": "filtered rank-based, both sides, realistic ranks",
        "triples": {"total": int(mapped.shape[0]), "train": train.num_triples, "train_used": train_used.num_triples,
                    "validation": valid.num_triples, "test": test.num_triples, "test_evaluated": test_used.num_triples},
        "relations": len(relation_names),
        "first_epoch_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
    }
    return embeddings, metrics
