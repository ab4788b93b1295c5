"""Decoding span×label probabilities into entities: candidates above a threshold, then greedy selection."""

from __future__ import annotations

from typing import NamedTuple

import torch


class SpanCandidate(NamedTuple):
    """A scored span: word indices ``start``..``end`` (inclusive) in the whole text, label index, probability."""

    start: int
    end: int
    label: int
    score: float


def window_candidates(
    probabilities: torch.Tensor, num_words: int, max_width: int, threshold: float, word_offset: int = 0
) -> list[SpanCandidate]:
    """Spans of one window whose probability reaches ``threshold``.

    Args:
        probabilities: ``[N * max_width, C]`` sigmoid scores of one window (``N >= num_words``).
        num_words: real words in the window; spans past them are ignored.
        word_offset: index of the window's first word in the whole text.
    """
    flat, label = torch.nonzero(probabilities >= threshold, as_tuple=True)
    starts = torch.div(flat, max_width, rounding_mode="floor")
    ends = starts + flat % max_width
    keep = ends < num_words
    scores = probabilities[flat[keep], label[keep]].tolist()
    return [
        SpanCandidate(start + word_offset, end + word_offset, label_id, score)
        for start, end, label_id, score in zip(starts[keep].tolist(), ends[keep].tolist(), label[keep].tolist(), scores)
    ]


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
