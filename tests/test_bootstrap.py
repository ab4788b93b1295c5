"""The paired bootstrap of a span-F1 difference: counts from the span scorer, a known difference, identical arms,
determinism and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from kogner.evaluation.bootstrap import f1_from_counts, paired_bootstrap, sentence_counts
from kogner.evaluation.metrics import span_scores


def toy_arms(sentences: int = 400) -> tuple[list[list[tuple]], list[list[tuple]], list[list[tuple]]]:
    """Gold of two spans per sentence; arm A finds the first span of every sentence and one false span in every
    fifth; arm B is arm A plus the second span in every other sentence (a fixed set of extra true positives)."""
    gold = [[(0, 1, "gene"), (3, 3, "disease")] for _ in range(sentences)]
    arm_a = [[(0, 1, "gene")] + ([(5, 5, "gene")] if index % 5 == 0 else []) for index in range(sentences)]
    arm_b = [spans + ([(3, 3, "disease")] if index % 2 == 0 else []) for index, spans in enumerate(arm_a)]
    return gold, arm_a, arm_b


def test_sentence_counts_agree_with_the_span_scorer() -> None:
    gold = [[(0, 1, "gene"), (3, 3, "disease")], [], [(2, 2, "gene")]]
    predicted = [[(0, 1, "gene"), (0, 1, "gene"), (3, 3, "gene")], [(1, 1, "disease")], []]
    counts = sentence_counts(gold, predicted)
    assert counts.tolist() == [[1, 1, 1], [0, 1, 0], [0, 0, 1]]  # the duplicate span counts once
    assert f1_from_counts(counts.sum(axis=0)) == pytest.approx(span_scores(gold, predicted)["f1"])
    assert f1_from_counts(np.zeros(3)) == 0.0


def test_interval_contains_the_known_difference_and_excludes_zero() -> None:
    gold, arm_a, arm_b = toy_arms()
    counts_a, counts_b = sentence_counts(gold, arm_a), sentence_counts(gold, arm_b)
    true_difference = span_scores(gold, arm_b)["f1"] - span_scores(gold, arm_a)["f1"]
    result = paired_bootstrap(counts_a, counts_b, resamples=2000, seed=7)
    assert result.difference == pytest.approx(true_difference)
    assert 0 < result.ci_low < true_difference < result.ci_high
    assert result.mean == pytest.approx(true_difference, abs=0.01)
    reverse = paired_bootstrap(counts_b, counts_a, resamples=2000, seed=7)
    assert reverse.ci_high < 0 and reverse.difference == pytest.approx(-true_difference)
    assert result.to_dict(scale=100)["ci95"] == [round(100 * result.ci_low, 4), round(100 * result.ci_high, 4)]
    assert "ci90" in paired_bootstrap(counts_a, counts_b, resamples=50, confidence=0.9).to_dict()


def test_identical_arms_give_zero_and_a_seed_gives_the_same_result() -> None:
    gold, arm_a, _ = toy_arms(50)
    counts = sentence_counts(gold, arm_a)
    same = paired_bootstrap(counts, counts.copy(), resamples=300, seed=1)
    assert (same.difference, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
    rng = np.random.default_rng(0)
    noisy_a, noisy_b = rng.integers(0, 3, (50, 3)), rng.integers(0, 3, (50, 3))
    assert paired_bootstrap(noisy_a, noisy_b, resamples=300, seed=5) == paired_bootstrap(
        noisy_a, noisy_b, resamples=300, seed=5)
    assert paired_bootstrap(noisy_a, noisy_b, resamples=300, seed=5) != paired_bootstrap(
        noisy_a, noisy_b, resamples=300, seed=6)


def test_seeds_are_pooled_by_summing_each_sentence_counts() -> None:
    gold, arm_a, arm_b = toy_arms(60)
    counts_a, counts_b = sentence_counts(gold, arm_a), sentence_counts(gold, arm_b)
    two_seeds_b = np.stack([counts_b, counts_a])  # seed 2 of arm B found nothing extra: half the gain
    pooled = paired_bootstrap(np.stack([counts_a, counts_a]), two_seeds_b, resamples=500, seed=3)
    summed = paired_bootstrap(2 * counts_a, counts_a + counts_b, resamples=500, seed=3)
    assert pooled == summed
    assert 0 < pooled.difference < paired_bootstrap(counts_a, counts_b, resamples=10, seed=3).difference


def test_arguments_are_checked() -> None:
    counts = np.ones((4, 3), dtype=int)
    with pytest.raises(ValueError, match="different sentences: 4 vs 3"):
        paired_bootstrap(counts, counts[:3])
    with pytest.raises(ValueError, match=r"counts_b: expected \(sentences, 3\)"):
        paired_bootstrap(counts, np.ones((4, 2)))
    with pytest.raises(ValueError, match="resamples must be >= 1"):
        paired_bootstrap(counts, counts, resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(counts, counts, confidence=1.5)
    with pytest.raises(ValueError, match="counts_a: no sentences"):
        paired_bootstrap(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        sentence_counts([[], []], [[]])


def test_stratified_bootstrap_of_the_mean_over_corpora() -> None:
    """Two corpora with known differences: the statistic is their unweighted mean, the interval holds it, one stratum
    is the plain paired bootstrap, and identical arms give 0 everywhere."""
    from kogner.evaluation.bootstrap import stratified_paired_bootstrap

    gold, arm_a, arm_b = toy_arms(300)
    first = (sentence_counts(gold, arm_a), sentence_counts(gold, arm_b))
    second = (sentence_counts(gold[:100], arm_a[:100]), sentence_counts(gold[:100], arm_a[:100]))  # no difference
    gain = span_scores(gold, arm_b)["f1"] - span_scores(gold, arm_a)["f1"]
    both = stratified_paired_bootstrap([first, second], resamples=2000, seed=4)
    assert both.difference == pytest.approx(gain / 2) and both.sentences == 400
    assert 0 < both.ci_low < gain / 2 < both.ci_high and both.mean == pytest.approx(gain / 2, abs=0.01)
    alone = stratified_paired_bootstrap([first], resamples=500, seed=2)
    plain = paired_bootstrap(*first, resamples=500, seed=2)
    assert (alone.difference, alone.ci_low, alone.ci_high) == pytest.approx((plain.difference, plain.ci_low,
                                                                             plain.ci_high))
    same = stratified_paired_bootstrap([(first[0], first[0]), (second[0], second[0])], resamples=300)
    assert (same.difference, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="no strata"):
        stratified_paired_bootstrap([])
    with pytest.raises(ValueError, match="different sentences"):
        stratified_paired_bootstrap([first, (second[0], first[1])])
