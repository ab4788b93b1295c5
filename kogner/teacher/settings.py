"""Every setting of the teacher build (they all feed the stage cache keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kogner.checks import check_model_source, check_number_fields
from kogner.defaults import MINILM_ALIAS, resolve_encoder

STAGES = ("text", "spatial", "logical")
FORMAT_VERSION = 1
NEGATIVE_SAMPLERS = ("basic", "bernoulli")  # PyKEEN's negative samplers offered for TransE/TransR


def knob(default: Any, text: str) -> Any:
    """A field with its command-line help in ``metadata["help"]`` (where ``HfArgumentParser`` reads it too)."""
    return field(default=default, metadata={"help": text})


@dataclass
class TeacherSettings:
    """Every knob of the teacher; all of them feed the stage cache keys.

    Each field with a help text is a ``--dashed-name`` option of ``data_scripts/build_teacher.py``
    (:mod:`kogner.teacher.arguments`); there an ``int | None`` field takes 0 for None.
    """

    encoder: str | None = knob(None, "HF encoder path or Hub id for Z (default: offline all-MiniLM-L6-v2 package)")
    text_max_length: int = knob(128, "max tokens of name + description")
    text_batch_size: int = knob(64, "entity texts encoded per batch")
    gnn_layers: int = knob(2, "TransformerConv layers K (eq. 3)")
    gnn_heads: int = knob(2, "attention heads")
    gnn_hidden: int | None = knob(128, "width of Z' (0 = Z's width d', as in the paper: about 3x the CPU cost)")
    gnn_max_neighbors: int | None = knob(
        16, "max incoming messages per node per layer, a random subset of a hub's neighbours (0 = all)")
    gnn_epochs: int = knob(30, "epochs of the node-type pretraining")
    gnn_lr: float = knob(2e-3, "learning rate of the Graph Transformer")
    gnn_dropout: float = knob(0.2, "dropout of the Graph Transformer")
    gnn_test_fraction: float = knob(0.2, "held-out fraction per node type for the accuracy report")
    gnn_full_batch_max_nodes: int = knob(
        200_000, "above this many nodes train on sampled mini-batches (NeighborLoader or a fallback)")
    gnn_batch_size: int = knob(1024, "seed nodes per mini-batch")
    gnn_fanouts: tuple[int, ...] = knob((10, 10), "neighbours sampled per hop in mini-batch mode")
    transr_dim: int = knob(64, "TransR (and TransE) entity dim d''")
    transr_relation_dim: int | None = knob(
        None, "TransR relation space dim k <= d'' (0 = d'', identity projections at the start)")
    transr_init_epochs: int = knob(24, "TransE epochs: the baseline and TransR's initialisation")
    transr_init_lr: float = knob(3e-3, "TransE learning rate (Adam)")
    transr_epochs: int = knob(2, "TransR epochs after the TransE initialisation")
    transr_lr: float = knob(1e-3, "TransR learning rate (Adam): a fine-tuning of the TransE start")
    transr_batch_size: int = knob(2048, "training triples per batch of TransE and TransR")
    transr_negatives: int = knob(8, "corrupted triples per training triple (sLCWA)")
    transr_margin: float = knob(6.0, "margin of the self-adversarial negative sampling loss (L1 distances)")
    transr_negative_sampler: str = knob(
        "basic", "how corrupted triples are drawn: basic (head or tail at random) or bernoulli (the side chosen per "
        "relation by its tails-per-head and heads-per-tail ratios, fewer false negatives on 1-to-N relations)")
    transr_split: tuple[float, float, float] = (0.9, 0.05, 0.05)  # train/validation/test: no command-line option
    transr_max_train_triples: int | None = knob(
        None, "cap on training triples, keeping one per entity (0 = all, the default)")
    transr_max_eval_triples: int = knob(2000, "held-out triples ranked for MRR/Hits (a random subset above this)")
    seed: int = knob(0, "random seed of every stage")
    device: str | None = knob(None, "cpu, cuda, cuda:1 ... (default: cuda when available)")

    def __post_init__(self) -> None:
        """Bad values fail here, naming the option (``--gnn-epochs -1``), not deep inside a stage."""
        check_number_fields(self)
        if self.transr_negative_sampler not in NEGATIVE_SAMPLERS:
            raise ValueError(f"--transr-negative-sampler must be one of {', '.join(NEGATIVE_SAMPLERS)}, "
                             f"got {self.transr_negative_sampler!r}")
        if self.encoder:
            check_model_source(self.encoder, "--encoder")

    def resolved_encoder(self) -> str:
        return resolve_encoder(self.encoder or MINILM_ALIAS)
