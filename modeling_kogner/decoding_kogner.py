"""Decoding span×label probabilities into entities: candidates above a threshold, then greedy selection.

Greedy selection takes candidates by descending score and keeps each one that does not conflict with a span kept
before it. It runs in ``O(k log k + k * w)`` for ``k`` candidates of at most ``w`` words: the sort, then a constant
number of slice checks per candidate over its own words (per-word occupancy for flat decoding, per-word extreme
starts/ends for nested decoding), never a scan of the spans kept so far.
"""

from __future__ import annotations

from operator import itemgetter
from typing import NamedTuple, Sequence

import torch


class SpanCandidate(NamedTuple):
    """A scored span: word indices ``start``..``end`` (inclusive) in the whole text, label index, probability."""

    start: int
    end: int
    label: int
    score: float


def batch_candidates(
    probabilities: torch.Tensor,
    num_words: Sequence[int],
    max_width: int,
    threshold: float,
    word_offsets: Sequence[int],
    best_label_only: bool = False,
) -> list[list[SpanCandidate]]:
    """Spans of each window of a batch whose probability reaches ``threshold``, in whole-text word indices.

    Args:
        probabilities: ``[B, N * max_width, C]`` sigmoid scores (on any device; only the hits are copied back).
        num_words: real words of each window; spans running past them are ignored.
        word_offsets: index, in its whole text, of each window's first word.
        best_label_only: keep, for each span, only the label(s) with its highest score. Without multi-label
            decoding the other labels of a span can never be chosen (the best one is taken first, or the span is
            blocked anyway), so this drops them early without changing the decoded result.
    """
    batch, flat_size, _ = probabilities.shape
    device = probabilities.device
    positions = torch.arange(flat_size, device=device)
    span_ends = torch.div(positions, max_width, rounding_mode="floor") + positions % max_width  # [N * W]
    lengths = torch.as_tensor(list(num_words), dtype=torch.long, device=device)
    inside = span_ends[None, :] < lengths[:, None]  # [B, N * W]
    hits = (probabilities >= threshold) & inside[:, :, None]
    if best_label_only:
        hits &= probabilities == probabilities.amax(dim=-1, keepdim=True)
    rows, flat, labels = torch.nonzero(hits, as_tuple=True)  # sorted by row
    scores = probabilities[rows, flat, labels].float().cpu().tolist()
    rows, flat, labels = rows.cpu(), flat.cpu(), labels.cpu()
    offsets = torch.as_tensor(list(word_offsets), dtype=torch.long)[rows]
    starts = torch.div(flat, max_width, rounding_mode="floor")
    ends = starts + flat % max_width
    every = list(map(SpanCandidate._make, zip((starts + offsets).tolist(), (ends + offsets).tolist(),
                                              labels.tolist(), scores)))
    found: list[list[SpanCandidate]] = []
    first = 0
    for count in torch.bincount(rows, minlength=batch).tolist():
        found.append(every[first : first + count])
        first += count
    return found


def merge_candidates(candidates: list[SpanCandidate]) -> list[SpanCandidate]:
    """Keep the best score of each ``(start, end, label)`` found by several overlapping windows."""
    best: dict[tuple[int, int, int], SpanCandidate] = {}
    for candidate in candidates:
        key = (candidate.start, candidate.end, candidate.label)
        if key not in best or candidate.score > best[key].score:
            best[key] = candidate
    return list(best.values())


_POSITION = itemgetter(0, 1, 2)
_SCORE = itemgetter(3)


def score_order(candidates: Sequence[SpanCandidate]) -> list[SpanCandidate]:
    """Candidates by descending score, ties by ``(start, end, label)``: two stable sorts on C-level keys."""
    ordered = sorted(candidates, key=_POSITION)
    ordered.sort(key=_SCORE, reverse=True)  # reverse keeps the order of equal scores (stability)
    return ordered


def greedy_decode(
    candidates: list[SpanCandidate], flat_ner: bool = True, multi_label: bool = False
) -> list[SpanCandidate]:
    """Select spans by descending score, skipping those that conflict with a span already chosen.

    ``flat_ner=True``: chosen spans never overlap. ``flat_ner=False``: spans may nest (one inside another) but not
    cross. ``multi_label=True``: the same span may be chosen with several labels. Ties in score are broken by
    position, then label. Returns spans sorted by position.

    A candidate whose span was already chosen (with another label) is kept exactly when ``multi_label`` is set:
    it conflicts with nothing the chosen one did not. Any other candidate ``[s, e]`` is checked against the spans
    chosen so far through per-word tables, touching only its own ``e - s + 1`` words:

    - flat: ``occupied[p]`` marks words covered by a chosen span; the candidate must find all its words free;
    - nested: a chosen ``[a, b]`` crosses ``[s, e]`` iff it ends inside (``s <= b < e``) having started before
      (``a < s``), or starts inside (``s < a <= e``) and ends after (``b > e``); so the candidate needs
      ``min_start[b] >= s`` for ``b`` in ``s..e-1`` and ``max_end[a] <= e`` for ``a`` in ``s+1..e``, where
      ``min_start[p]`` is the smallest start of a chosen span ending at ``p`` and ``max_end[p]`` the largest end of
      one starting at ``p``.

    The tables have one entry per word up to the last ``end`` (word indices are non-negative, as in a text).
    """
    if not candidates:
        return []
    ordered = score_order(candidates)
    size = max(candidate.end for candidate in candidates) + 2
    chosen_spans: set[tuple[int, int]] = set()
    chosen: list[SpanCandidate] = []
    table = _FlatTable(size) if flat_ner else _NestedTable(size)
    for candidate in ordered:
        start, end = candidate.start, candidate.end
        if (start, end) in chosen_spans:
            if multi_label:
                chosen.append(candidate)
            continue
        if table.conflicts(start, end):
            continue
        table.take(start, end)
        chosen_spans.add((start, end))
        chosen.append(candidate)
    chosen.sort(key=_POSITION)
    return chosen


class _FlatTable:
    """``occupied[p]`` marks words covered by a chosen span (flat decoding)."""

    def __init__(self, size: int) -> None:
        self.occupied = bytearray(size)

    def conflicts(self, start: int, end: int) -> bool:
        return self.occupied.find(1, start, end + 1) >= 0

    def take(self, start: int, end: int) -> None:
        self.occupied[start : end + 1] = b"\x01" * (end + 1 - start)


class _NestedTable:
    """``min_start[p]``: smallest start of a chosen span ending at ``p``; ``max_end[p]``: largest end of one starting
    at ``p`` (nested decoding: a candidate may nest in chosen spans but not cross them)."""

    def __init__(self, size: int) -> None:
        self.min_start = [size] * size  # nothing ends at p: no chosen span starts before any s
        self.max_end = [-1] * size  # nothing starts at p

    def conflicts(self, start: int, end: int) -> bool:
        return start < end and (min(self.min_start[start:end]) < start or max(self.max_end[start + 1 : end + 1]) > end)

    def take(self, start: int, end: int) -> None:
        self.min_start[end] = min(self.min_start[end], start)
        self.max_end[start] = max(self.max_end[start], end)
