"""Every setting of the teacher build (they all feed the stage cache keys)."""

from __future__ import annotations

from dataclasses import dataclass

from kogner.checks import check_model_source, check_number_fields
from kogner.defaults import MINILM_ALIAS, resolve_encoder

STAGES = ("text", "spatial", "logical")
FORMAT_VERSION = 1


@dataclass
class TeacherSettings:
    """Every knob of the teacher; all of them feed the stage cache keys."""

    encoder: str | None = None            # HF path or Hub id; None = offline all-MiniLM-L6-v2
    text_max_length: int = 128
    text_batch_size: int = 64
    gnn_layers: int = 2                   # K in eq. 3
    gnn_heads: int = 2
    gnn_hidden: int | None = 128          # width of Z'; None = Z's width (the paper's d'), 3x the CPU cost
    gnn_max_neighbors: int | None = 16    # messages per node per layer (random subset of hub neighbours)
    gnn_epochs: int = 30
    gnn_lr: float = 2e-3
    gnn_dropout: float = 0.2
    gnn_test_fraction: float = 0.2
    gnn_full_batch_max_nodes: int = 200_000   # above: sampled mini-batches (NeighborLoader or fallback)
    gnn_batch_size: int = 1024
    gnn_fanouts: tuple[int, ...] = (10, 10)
    transr_dim: int = 64                  # d'' (entity width of TransR and of its TransE initialisation)
    transr_relation_dim: int | None = None    # relation space k <= d'' (None = d''; projections start as identity)
    transr_init_epochs: int = 8           # TransE epochs: the baseline, and TransR's starting point
    transr_init_lr: float = 1e-2          # TransE learning rate (Adam)
    transr_epochs: int = 2                # TransR epochs after that (~2.5x a TransE epoch on CPU at d''=64)
    transr_lr: float = 3e-3               # TransR learning rate (Adam): a fine-tuning of the TransE start
    transr_batch_size: int = 2048
    transr_negatives: int = 8             # corrupted triples per training triple (sLCWA)
    transr_margin: float = 6.0            # margin of the self-adversarial negative sampling loss (L1 distances)
    transr_split: tuple[float, float, float] = (0.9, 0.05, 0.05)
    transr_max_train_triples: int | None = None   # cap on training triples (None = all); keeps every entity covered
    transr_max_eval_triples: int = 2000   # held-out triples ranked for MRR/Hits (a random subset above this)
    seed: int = 0
    device: str | None = None             # None/"auto": cuda when available

    def __post_init__(self) -> None:
        """Bad values fail here, naming the option (``--gnn-epochs -1``), not deep inside a stage."""
        check_number_fields(self)
        if self.encoder:
            check_model_source(self.encoder, "--encoder")

    def resolved_encoder(self) -> str:
        return resolve_encoder(self.encoder or MINILM_ALIAS)
