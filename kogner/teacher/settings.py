"""Every setting of the teacher build (they all feed the stage cache keys)."""

from __future__ import annotations

from dataclasses import dataclass

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
    transr_dim: int = 128                 # d'' (entity embedding width)
    transr_relation_dim: int = 64
    transr_epochs: int = 15
    transr_batch_size: int = 2048
    transr_lr: float = 5e-3
    transr_split: tuple[float, float, float] = (0.9, 0.05, 0.05)
    transr_max_train_triples: int | None = 100_000   # subsample training triples above this (CPU budget)
    transr_max_eval_triples: int = 1000               # subsample test triples for MRR/Hits@10
    seed: int = 0
    device: str | None = None             # None/"auto": cuda when available

    def resolved_encoder(self) -> str:
        return resolve_encoder(self.encoder or MINILM_ALIAS)
