"""KoGNER's losses (paper eqs. 2 and 6): span×label BCE and span-to-teacher distillation, both on a per-item scale.

Both terms are means, so that the weights ``a`` (``lang_weight``) and ``b`` (``dist_weight``) of
``a * lang_loss + b * dist_loss`` compare like with like whatever the batch looks like:

* ``lang_loss`` is the mean binary cross-entropy over the span×label pairs that count (real spans, and labels the
  example's source annotates: ``label_mask``). A sum would grow with sentence length × span width × number of
  labels (thousands of pairs per window) and drown the distillation term.
* ``dist_loss`` is the mean squared error over the KG-linked spans of the batch and the dimensions of the
  distillation space (0 when the batch has no linked span).

``distillation_loss="contrastive"`` replaces the MSE by an InfoNCE term (`contrastive_distillation_loss`): the MSE
pulls a span towards its entity's point but nothing pushes it away from the other entities, so that point need not be
the span's nearest entity, which is what linking (``link=True``) asks for.

`LossSettings` holds every setting of this objective. They are training settings, not part of the saved model
(``config.json``): the trainer takes them from its training arguments and sets ``model.loss_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

DISTILLATION_LOSSES = ("mse", "contrastive")


@dataclass(frozen=True)
class LossSettings:
    """The training objective ``a * lang_loss + b * dist_loss`` and how its two terms are computed.

    Attributes:
        lang_weight: weight ``a`` of the language (span×label BCE) loss, >= 0.
        dist_weight: weight ``b`` of the distillation loss, >= 0; 0 leaves the distillation term out of the loss.
        focal_alpha: focal-loss alpha weighting of positives; negative disables it.
        focal_gamma: focal-loss exponent; 0 is plain BCE.
        distillation_loss: ``"mse"`` (the paper's eq. 6) or ``"contrastive"`` (InfoNCE against other entities:
            trains the span space for retrieval, ``link=True``).
        distillation_temperature: softmax temperature of the contrastive loss (and of the linking-head fit), > 0.
        freeze_teacher_projection: keep ``MLP_dist`` at its random initialisation. When both sides of the MSE are
            trainable they can both collapse to a constant and the loss reaches 0 without transferring anything; a
            fixed random linear map preserves the geometry of ``H``, so the student has to learn it. The
            contrastive loss cannot collapse (other entities push back), so it may train ``MLP_dist`` too.

    Raises:
        ValueError: on a value outside the ranges above, naming the setting.
    """

    lang_weight: float = 0.8
    dist_weight: float = 0.2
    focal_alpha: float = -1.0
    focal_gamma: float = 0.0
    distillation_loss: str = "mse"
    distillation_temperature: float = 0.05
    freeze_teacher_projection: bool = True

    def __post_init__(self) -> None:
        if self.lang_weight < 0 or self.dist_weight < 0:
            raise ValueError(f"lang_weight and dist_weight must be >= 0, got {self.lang_weight}, {self.dist_weight}")
        if self.distillation_loss not in DISTILLATION_LOSSES:
            raise ValueError(f"distillation_loss must be one of {DISTILLATION_LOSSES}, got {self.distillation_loss!r}")
        if isinstance(self.distillation_temperature, bool) or not self.distillation_temperature > 0:
            raise ValueError(f"distillation_temperature must be > 0, got {self.distillation_temperature}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names (each also a training argument of ``train.py``)."""
        return tuple(setting.name for setting in fields(cls))

    @classmethod
    def from_object(cls, source: object) -> "LossSettings":
        """The settings that ``source`` (e.g. training arguments) has as attributes; defaults for the others."""
        return cls(**{name: getattr(source, name) for name in cls.names() if hasattr(source, name)})

    def combine(
        self, lang_loss: torch.Tensor, dist_loss: torch.Tensor, lang_scale: float = 1.0, dist_scale: float = 1.0
    ) -> torch.Tensor:
        """The loss that training minimises: ``(a / lang_scale) * lang_loss + (b / dist_scale) * dist_loss``.

        The scales are 1 unless a loss balance divides each term by a running mean of its own value
        (`kogner.training.balance`). With ``b = 0`` the distillation term is left out (it adds no gradient at all).
        """
        loss = (self.lang_weight / lang_scale) * lang_loss
        if self.dist_weight != 0:
            loss = loss + (self.dist_weight / dist_scale) * dist_loss
        return loss


def span_label_loss(
    logits: torch.Tensor, targets: torch.Tensor, pair_mask: torch.Tensor, alpha: float = -1.0, gamma: float = 0.0
) -> torch.Tensor:
    """Binary cross-entropy averaged over the valid span×label pairs of the batch.

    Args:
        logits: ``[B, S, C]`` span·label scores.
        targets: ``[B, S, C]`` 1.0 for gold (span, label) pairs, else 0.0.
        pair_mask: ``[B, S, C]`` bool, True for pairs that count (real spans, labels scored for that window).
        alpha: focal alpha weighting of positives; negative disables it.
        gamma: focal exponent; 0 gives plain BCE.

    Returns:
        The mean over the pairs where ``pair_mask`` is True; exactly 0 (still connected to the graph) when none is.
    """
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    if gamma > 0:
        probabilities = torch.sigmoid(logits)
        p_true = probabilities * targets + (1 - probabilities) * (1 - targets)
        loss = loss * (1 - p_true) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    pair_mask = pair_mask.to(loss.dtype)
    return (loss * pair_mask).sum() / pair_mask.sum().clamp(min=1.0)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error between projected span vectors and projected teacher vectors, ``[K, D]`` each: the mean
    over the ``K`` linked spans of each span's mean over the ``D`` dimensions.

    With ``K = 0`` (no KG-linked span in the batch) the result is exactly 0 but stays connected to the graph, so
    distributed training sees every parameter used.
    """
    per_span = (student - teacher).pow(2).mean(dim=-1)  # [K]; empty when K = 0, and its sum is then 0
    return per_span.sum() / max(student.shape[0], 1)


def contrastive_distillation_loss(
    student: torch.Tensor, candidates: torch.Tensor, excluded: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE over cosine similarities: each linked span must pick its own entity among the candidates.

    Args:
        student: ``[K, D]`` projected span vectors.
        candidates: ``[C, D]`` projected teacher vectors, ``C >= K``; row ``i < K`` is the entity of span ``i``, the
            rest are the other linked spans' entities and sampled negatives.
        excluded: ``[K, C]`` bool, True for candidates that are span ``i``'s own entity again (another span linked to
            the same entity): neither a positive nor a negative.
        temperature: softmax temperature on the cosines.

    Returns:
        The mean over the ``K`` spans of ``-log softmax`` of the own entity; exactly 0 (still connected to the graph)
        when ``K = 0``.
    """
    num_spans = student.shape[0]
    logits = F.normalize(student, dim=-1) @ F.normalize(candidates, dim=-1).T / temperature  # [K, C]
    logits = logits.masked_fill(excluded, float("-inf"))
    own = torch.arange(num_spans, device=student.device)
    return F.cross_entropy(logits, own, reduction="sum") / max(num_spans, 1)
