"""Decoding span×label probabilities into entities: candidates above a threshold, then greedy selection."""

from __future__ import annotations

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
) -> list[list[SpanCandidate]]:
    """Spans of each window of a batch whose probability reaches ``threshold``, in whole-text word indices.

    Args:
        probabilities: ``[B, N * max_width, C]`` sigmoid scores (on any device; only the hits are copied back).
        num_words: real words of each window; spans running past them are ignored.
        word_offsets: index, in its whole text, of each window's first word.
    """
    rows, flat, labels = torch.nonzero(probabilities >= threshold, as_tuple=True)
    scores = probabilities[rows, flat, labels].float().cpu().tolist()
    rows, flat, labels = rows.cpu(), flat.cpu(), labels.cpu()
    starts = torch.div(flat, max_width, rounding_mode="floor")
    ends = starts + flat % max_width
    keep = (ends < torch.tensor(list(num_words), dtype=torch.long)[rows]).tolist()
    offsets = torch.tensor(list(word_offsets), dtype=torch.long)[rows]
    found: list[list[SpanCandidate]] = [[] for _ in num_words]
    for row, start, end, label, score, kept in zip(
        rows.tolist(), (starts + offsets).tolist(), (ends + offsets).tolist(), labels.tolist(), scores, keep
    ):
        if kept:
            found[row].append(SpanCandidate(start, end, label, score))
    return found


def merge_candidates(candidates: list[SpanCandidate]) -> list[SpanCandidate]:
    """Keep the best score of each ``(start, end, label)`` found by several overlapping windows."""
    best: dict[tuple[int, int, int], SpanCandidate] = {}
    for candidate in candidates:
        key = (candidate.start, candidate.end, candidate.label)
        if key not in best or candidate.score > best[key].score:
            best[key] = candidate
    return list(best.values())


def _conflicts(a: SpanCandidate, b: SpanCandidate, flat_ner: bool, multi_label: bool) -> bool:
    if (a.start, a.end) == (b.start, b.end):
        return not multi_label
    overlap = a.start <= b.end and b.start <= a.end
    if not overlap:
        return False
    if flat_ner:
        return True
    nested = (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)
    return not nested


def greedy_decode(candidates: list[SpanCandidate], flat_ner: bool = True, multi_label: bool = False) -> list[SpanCandidate]:
    """Select spans by descending score, skipping those that conflict with a span already chosen.

    ``flat_ner=True``: chosen spans never overlap. ``flat_ner=False``: spans may nest (one inside another) but not
    cross. ``multi_label=True``: the same span may be chosen with several labels. Returns spans sorted by position.
    """
    chosen: list[SpanCandidate] = []
    for candidate in sorted(candidates, key=lambda c: (-c.score, c.start, c.end, c.label)):
        if not any(_conflicts(candidate, kept, flat_ner, multi_label) for kept in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda c: (c.start, c.end, c.label))
