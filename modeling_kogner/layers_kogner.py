"""KoGNER's layers: the span representation (paper §2.1), the distillation head (eq. 6) and the linking head."""

from __future__ import annotations

import torch
from torch import nn


def first_sub_tokens(hidden: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
    """Sub-token states ``[B, T, d]`` at each word's first sub-token ``word_index`` ``[B, N]`` -> ``[B, N, d]``."""
    return hidden.gather(1, word_index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))


class FeedForward(nn.Sequential):
    """Two-layer feed-forward network ``Linear -> ReLU -> Dropout -> Linear`` (the paper's FFN)."""

    def __init__(self, in_features: int, out_features: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(in_features, out_features * 2),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(out_features * 2, out_features),
        )


class SpanRepresentation(nn.Module):
    """``s_pq = FFN([x_p; x_q])`` for every span of up to ``max_width`` words (paper §2.1)."""

    def __init__(self, word_dim: int, hidden_size: int, max_width: int, dropout: float) -> None:
        super().__init__()
        self.max_width = max_width
        self.ffn = FeedForward(2 * word_dim, hidden_size, dropout)

    def forward(self, words: torch.Tensor, word_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map words ``[B, N, d]`` (mask ``[B, N]``) to spans ``[B, N * W, h]`` and their mask ``[B, N * W]``."""
        batch, num_words, dim = words.shape
        ends = torch.arange(num_words, device=words.device)[:, None] + torch.arange(self.max_width, device=words.device)
        inside = ends < num_words  # [N, W]
        ends = ends.clamp(max=num_words - 1)
        # FFN's first layer on [x_p; x_q] equals W_start x_p + W_end x_q + b: computing both halves once per word
        # instead of once per span (N * W of them) gives the same result with max_width times fewer products.
        first, activation, dropout, second = self.ffn
        weight_start, weight_end = first.weight.split(dim, dim=1)
        from_start = nn.functional.linear(words, weight_start, first.bias)  # [B, N, 2h]
        from_end = nn.functional.linear(words, weight_end)  # [B, N, 2h]
        hidden = from_start[:, :, None, :] + from_end[:, ends.reshape(-1)].reshape(batch, num_words, self.max_width, -1)
        spans = second(dropout(activation(hidden))).reshape(batch, num_words * self.max_width, -1)
        span_mask = inside[None] & word_mask[:, ends]  # the end word must be a real word of that window
        return spans, span_mask.reshape(batch, num_words * self.max_width)


class TeacherProjection(nn.Linear):
    """``MLP_dist``: maps teacher vectors ``H`` into the distillation space (frozen by default: ``LossSettings``)."""


class DistillationHead(nn.Module):
    """The two linear maps of eq. 6: ``MLP_span`` for student spans and ``MLP_dist`` for teacher vectors."""

    def __init__(self, span_dim: int, teacher_dim: int, distillation_dim: int) -> None:
        super().__init__()
        self.span_projection = nn.Linear(span_dim, distillation_dim)
        self.teacher_projection = TeacherProjection(teacher_dim, distillation_dim)

    def forward(self, spans: torch.Tensor, teacher_vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project ``[K, h]`` spans and ``[K, r]`` teacher vectors to ``[K, D]`` each."""
        return self.span_projection(spans), self.teacher_projection(teacher_vectors.to(spans.dtype))


class LinkingHead(nn.Module):
    """Entity linking by retrieval: ``query_projection`` maps a span's mean sub-token vector ``[K, d]`` and
    ``entity_projection`` the teacher vectors ``H`` ``[M, r]`` into one ``[*, D]`` space, compared by cosine.

    Both maps are fitted after training with the student frozen (`kogner.training.linking_heads`); the ``fitted``
    buffer (saved with the weights) records it, so that an unfitted head is refused instead of linking at random.
    """

    def __init__(self, word_dim: int, teacher_dim: int, linking_dim: int) -> None:
        super().__init__()
        self.query_projection = nn.Linear(word_dim, linking_dim)
        self.entity_projection = nn.Linear(teacher_dim, linking_dim)
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
