"""Greedy span decoding: identical to the original quadratic decoder (kept here as the oracle), and linear-ish."""

from __future__ import annotations

import random
import sys
from typing import Callable, Sequence

import pytest
import torch

from modeling_kogner.decoding_kogner import SpanCandidate, batch_candidates, greedy_decode, merge_candidates

MODES = [(True, False), (False, False), (True, True), (False, True)]  # (flat_ner, multi_label)


# ------------------------------------------------------------------------------------------------------- the oracle
def _oracle_conflicts(a: SpanCandidate, b: SpanCandidate, flat_ner: bool, multi_label: bool) -> bool:
    if (a.start, a.end) == (b.start, b.end):
        return not multi_label
    overlap = a.start <= b.end and b.start <= a.end
    if not overlap:
        return False
    if flat_ner:
        return True
    nested = (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)
    return not nested


def oracle_decode(
    candidates: list[SpanCandidate], flat_ner: bool = True, multi_label: bool = False
) -> list[SpanCandidate]:
    """The decoder as it was before the per-word tables: every candidate against every span chosen so far."""
    chosen: list[SpanCandidate] = []
    for candidate in sorted(candidates, key=lambda c: (-c.score, c.start, c.end, c.label)):
        if not any(_oracle_conflicts(candidate, kept, flat_ner, multi_label) for kept in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda c: (c.start, c.end, c.label))


def oracle_batch_candidates(probabilities, num_words, max_width, threshold, word_offsets) -> list[list[SpanCandidate]]:
    """The candidate extraction as it was (a Python filter over every hit)."""
    rows, flat, labels = torch.nonzero(probabilities >= threshold, as_tuple=True)
    scores = probabilities[rows, flat, labels].float().tolist()
    starts = torch.div(flat, max_width, rounding_mode="floor")
    ends = starts + flat % max_width
    found: list[list[SpanCandidate]] = [[] for _ in num_words]
    for row, start, end, label, score in zip(rows.tolist(), starts.tolist(), ends.tolist(), labels.tolist(), scores):
        if end < num_words[row]:
            found[row].append(SpanCandidate(start + word_offsets[row], end + word_offsets[row], label, score))
    return found


# ------------------------------------------------------------------------------------------------- random inputs
def random_candidates(generator: random.Random, count: int, words: int, max_width: int, labels: int,
                      score_levels: int | None) -> list[SpanCandidate]:
    """Random spans; few score levels make many ties, repeated spans/labels make duplicates."""
    candidates = []
    for _ in range(count):
        start = generator.randrange(words)
        end = min(words - 1, start + generator.randrange(max_width))
        score = generator.randrange(score_levels) / score_levels if score_levels else generator.random()
        candidates.append(SpanCandidate(start, end, generator.randrange(labels), score))
    if candidates and generator.random() < 0.3:
        candidates.append(generator.choice(candidates))  # an exact duplicate
    return candidates


@pytest.mark.parametrize("flat_ner, multi_label", MODES)
def test_same_output_as_the_quadratic_decoder_on_random_candidates(flat_ner, multi_label):
    generator = random.Random(1234 + 2 * flat_ner + multi_label)
    for case in range(400):
        words = generator.randint(1, 40)
        candidates = random_candidates(
            generator, generator.randint(0, 80), words, generator.randint(1, 10), generator.randint(1, 4),
            generator.choice([None, 3, 10]),
        )
        expected = oracle_decode(candidates, flat_ner, multi_label)
        assert greedy_decode(candidates, flat_ner, multi_label) == expected, (case, candidates)
        merged = merge_candidates(candidates)
        assert greedy_decode(merged, flat_ner, multi_label) == oracle_decode(merged, flat_ner, multi_label), case


@pytest.mark.parametrize("flat_ner, multi_label", MODES)
def test_every_span_of_a_text_scored_like_the_model_does(flat_ner, multi_label):
    """Dense candidates (every span of every width, every label), as an untrained model at threshold 0 gives."""
    generator = random.Random(7)
    for _ in range(20):
        words, width, labels = generator.randint(5, 60), generator.randint(1, 8), generator.randint(1, 3)
        candidates = [
            SpanCandidate(start, min(words - 1, start + offset), label, generator.random())
            for start in range(words) for offset in range(width) for label in range(labels)
            if start + offset < words
        ]
        assert greedy_decode(candidates, flat_ner, multi_label) == oracle_decode(candidates, flat_ner, multi_label)


def test_the_decoder_keeps_its_documented_semantics():
    candidates = [
        SpanCandidate(0, 2, 0, 0.9),  # outer
        SpanCandidate(1, 1, 1, 0.8),  # nested inside the outer span
        SpanCandidate(2, 3, 0, 0.7),  # crosses the outer span
        SpanCandidate(0, 2, 1, 0.6),  # same span as the outer one, another label
        SpanCandidate(5, 6, 0, 0.5),  # disjoint from everything
    ]
    outer, inner, crossing, relabelled, apart = candidates
    assert greedy_decode(candidates, flat_ner=True) == [outer, apart]
    assert greedy_decode(candidates, flat_ner=False) == [outer, inner, apart]
    assert greedy_decode(candidates, flat_ner=True, multi_label=True) == [outer, relabelled, apart]
    assert greedy_decode(candidates, flat_ner=False, multi_label=True) == [outer, relabelled, inner, apart]
    assert greedy_decode([]) == []


@pytest.mark.parametrize("multi_label", [False, True])
def test_batch_candidates_match_the_original_extraction_and_best_label_pruning_changes_nothing(multi_label):
    torch.manual_seed(0)
    max_width, offsets = 4, [0, 9, 30]
    num_words = [12, 7, 0]
    probabilities = torch.rand(3, 12 * max_width, 3)
    probabilities[0, 5, :] = 0.75  # a tie between labels
    found = batch_candidates(probabilities, num_words, max_width, 0.3, offsets)
    assert found == oracle_batch_candidates(probabilities, num_words, max_width, 0.3, offsets)
    assert found[2] == []
    pruned = batch_candidates(probabilities, num_words, max_width, 0.3, offsets, best_label_only=True)
    assert sum(map(len, pruned)) < sum(map(len, found))
    for flat_ner in (True, False):
        every = [candidate for window in found for candidate in window]
        best = [candidate for window in pruned for candidate in window]
        assert greedy_decode(merge_candidates(best), flat_ner) == greedy_decode(merge_candidates(every), flat_ner)


# ----------------------------------------------------------------------------------------------------- scaling
def python_lines_executed(function: Callable[[], object]) -> int:
    """Python line events while ``function`` runs (its callees included): an operation count, not a timing."""
    count = 0

    def tracer(frame, event, argument):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        function()
    finally:
        sys.settrace(previous)
    return count


def dense_candidates(words: int, width: int, seed: int) -> list[SpanCandidate]:
    generator = random.Random(seed)
    return [
        SpanCandidate(start, start + offset, label, generator.random())
        for start in range(words) for offset in range(width) for label in range(2) if start + offset < words
    ]


@pytest.mark.parametrize("flat_ner, multi_label", MODES)
def test_decoding_work_grows_linearly_with_the_text(flat_ner, multi_label):
    small, large = dense_candidates(300, 8, seed=1), dense_candidates(2400, 8, seed=1)  # 8x more candidates
    small_work = python_lines_executed(lambda: greedy_decode(small, flat_ner, multi_label))
    large_work = python_lines_executed(lambda: greedy_decode(large, flat_ner, multi_label))
    assert large_work / small_work < 8 * 1.25, (small_work, large_work)  # quadratic would be ~64x


def test_the_oracle_really_is_quadratic():
    """The operation count above tells the two apart: the old decoder's work grows with the square of the text."""
    small, large = dense_candidates(50, 8, seed=1), dense_candidates(200, 8, seed=1)  # 4x more candidates
    small_work = python_lines_executed(lambda: oracle_decode(small, False, True))
    large_work = python_lines_executed(lambda: oracle_decode(large, False, True))
    assert large_work / small_work > 8, (small_work, large_work)
