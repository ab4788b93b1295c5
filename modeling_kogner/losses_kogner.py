"""KoGNER's two losses (paper eqs. 2 and 6): span×label BCE and span-to-teacher MSE."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def span_label_loss(
    logits: torch.Tensor, targets: torch.Tensor, pair_mask: torch.Tensor, alpha: float = -1.0, gamma: float = 0.0
) -> torch.Tensor:
    """Binary cross-entropy summed over valid span×label pairs, averaged over the windows of the batch.

    Args:
        logits: ``[B, S, C]`` span·label scores.
        targets: ``[B, S, C]`` 1.0 for gold (span, label) pairs, else 0.0.
        pair_mask: ``[B, S, C]`` bool, True for pairs that count (real spans, labels scored for that window).
        alpha: focal alpha weighting of positives; negative disables it.
        gamma: focal exponent; 0 gives plain BCE.
    """
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if gamma > 0:
        probabilities = torch.sigmoid(logits)
        p_true = probabilities * targets + (1 - probabilities) * (1 - targets)
        loss = loss * (1 - p_true) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return (loss * pair_mask).sum() / max(logits.shape[0], 1)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error between projected span vectors and projected teacher vectors, ``[K, D]`` each.

    With ``K = 0`` (no KG-linked span in the batch) the result is exactly 0 but stays connected to the graph, so
    distributed training sees every parameter used.
    """
    per_span = (student - teacher).pow(2).mean(dim=-1)  # [K]; empty when K = 0, and its sum is then 0
    return per_span.sum() / max(student.shape[0], 1)
