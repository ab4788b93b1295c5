"""Paired bootstrap over test sentences for the difference in strict span F1 between two arms.

Contract:

* Each arm is scored on the same test sentences, in the same order. Per sentence the strict span scorer
  (:func:`kogner.evaluation.metrics.span_scores`) gives three counts: true positives, false positives, false
  negatives (:func:`sentence_counts`).
* Several training seeds are pooled by **summing each sentence's counts over the seeds**: a sentence (with the
  predictions of every seed on it) is the resampling unit. The interval reflects the sampling of test sentences;
  the seeds are pooled, not resampled, so seed-to-seed variance is not part of it. Counts are therefore given as ``(sentences, 3)`` or ``(seeds, sentences, 3)`` arrays; the
  two arms may have different numbers of seeds but must have the same sentences.
* One resample draws ``len(sentences)`` sentence ids with replacement; **both arms are scored on the same ids**
  (the pairing), and the statistic is ``F1(b) - F1(a)`` of the summed counts (micro F1, in [-1, 1]).
* The interval is the percentile interval of the resampled differences; for a given ``seed`` the result is
  deterministic. Identical arms give a difference of exactly 0 in every resample.
* Several test sets (strata, e.g. corpora) combine through :func:`stratified_paired_bootstrap`: each stratum
  is resampled within itself and the statistic is the unweighted mean over strata of their F1 differences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .metrics import Span, span_scores

COUNT_COLUMNS = ("tp", "fp", "fn")
CHUNK_RESAMPLES = 500  # resamples drawn at once: memory is a few CHUNK_RESAMPLES x sentences arrays


def sentence_counts(gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]]) -> np.ndarray:
    """``(sentences, 3)`` integer array of true positives, false positives and false negatives per sentence.

    Counted by the project's strict span scorer, one sentence at a time (duplicate spans count once).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted sentences")
    counts = np.zeros((len(gold), 3), dtype=np.int64)
    for row, (gold_spans, predicted_spans) in enumerate(zip(gold, predicted)):
        scores = span_scores([gold_spans], [predicted_spans])
        true_positives = round(scores["recall"] * scores["support"])  # recall = tp / gold, exactly recoverable
        counts[row] = (true_positives, scores["predicted"] - true_positives, scores["support"] - true_positives)
    return counts


def f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """Micro F1 from ``(..., 3)`` tp/fp/fn counts (0 where there is neither a gold nor a predicted span)."""
    counts = np.asarray(counts, dtype=np.float64)
    true_positives = counts[..., 0]
    denominator = 2 * true_positives + counts[..., 1] + counts[..., 2]
    return np.divide(2 * true_positives, denominator, out=np.zeros_like(denominator), where=denominator > 0)


@dataclass(frozen=True)
class BootstrapResult:
    """``F1(b) - F1(a)`` on all sentences (``difference``), the mean over resamples and the percentile interval."""

    difference: float
    mean: float
    ci_low: float
    ci_high: float
    confidence: float
    resamples: int
    sentences: int
    seed: int

    def to_dict(self, scale: float = 1.0) -> dict[str, object]:
        """JSON-ready, differences multiplied by ``scale`` (100: percentage points); the interval as ``ci95``
        (``ci90`` for ``confidence=0.9``)."""
        values = asdict(self)
        low, high = (round(values.pop(key) * scale, 4) for key in ("ci_low", "ci_high"))
        values.update(difference=round(self.difference * scale, 4), mean=round(self.mean * scale, 4))
        return values | {f"ci{100 * self.confidence:g}": [low, high]}


def _pooled(counts: np.ndarray | Sequence, name: str) -> np.ndarray:
    array = np.asarray(counts)
    if array.ndim == 3:
        array = array.sum(axis=0)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name}: expected (sentences, 3) or (seeds, sentences, 3) tp/fp/fn counts, got shape "
                         f"{array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name}: no sentences")
    if (array < 0).any():
        raise ValueError(f"{name}: negative counts")
    return array.astype(np.float64)


def _checked(counts_a: np.ndarray | Sequence, counts_b: np.ndarray | Sequence, resamples: int,
             confidence: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = _pooled(counts_a, "counts_a"), _pooled(counts_b, "counts_b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"the arms were scored on different sentences: {a.shape[0]} vs {b.shape[0]}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return a, b


def _resampled_differences(a: np.ndarray, b: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``F1(b) - F1(a)`` of ``resamples`` resamples of the sentences, both arms on the same drawn ids."""
    sentences = a.shape[0]
    both = np.concatenate([a, b], axis=1)  # (sentences, 6): one product sums both arms over the same drawn ids
    differences = np.empty(resamples)
    offsets = np.arange(CHUNK_RESAMPLES)[:, None] * sentences
    for start in range(0, resamples, CHUNK_RESAMPLES):
        size = min(CHUNK_RESAMPLES, resamples - start)
        drawn = rng.integers(0, sentences, size=(size, sentences))
        # how often each sentence was drawn in each resample, as one bincount over (resample, sentence) cells
        copies = np.bincount((drawn + offsets[:size]).ravel(), minlength=size * sentences).reshape(size, sentences)
        sums = copies.astype(np.float64) @ both
        differences[start : start + size] = f1_from_counts(sums[:, 3:]) - f1_from_counts(sums[:, :3])
    return differences


def _result(observed: float, differences: np.ndarray, confidence: float, sentences: int,
            seed: int) -> BootstrapResult:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(differences, [tail, 100 - tail])
    return BootstrapResult(difference=observed, mean=float(differences.mean()), ci_low=float(low), ci_high=float(high),
                           confidence=confidence, resamples=len(differences), sentences=sentences, seed=seed)


def _observed(a: np.ndarray, b: np.ndarray) -> float:
    return float(f1_from_counts(b.sum(axis=0)) - f1_from_counts(a.sum(axis=0)))


def paired_bootstrap(counts_a: np.ndarray | Sequence, counts_b: np.ndarray | Sequence, resamples: int = 10_000,
                     seed: int = 0, confidence: float = 0.95) -> BootstrapResult:
    """Paired bootstrap of ``F1(b) - F1(a)`` over sentences (see the module docstring for the contract).

    Raises:
        ValueError: counts of the wrong shape, arms with different numbers of sentences, ``resamples < 1`` or a
            ``confidence`` outside (0, 1).
    """
    a, b = _checked(counts_a, counts_b, resamples, confidence)
    differences = _resampled_differences(a, b, resamples, np.random.default_rng(seed))
    return _result(_observed(a, b), differences, confidence, a.shape[0], seed)


def stratified_paired_bootstrap(strata: Sequence[tuple[np.ndarray | Sequence, np.ndarray | Sequence]],
                                resamples: int = 10_000, seed: int = 0,
                                confidence: float = 0.95) -> BootstrapResult:
    """Paired bootstrap of the **mean over strata** (e.g. test corpora) of ``F1(b) - F1(a)``.

    ``strata`` holds one ``(counts_a, counts_b)`` pair per stratum, each as :func:`paired_bootstrap` takes them.
    One resample draws each stratum's sentences with replacement within that stratum (its size kept), both arms on
    the same ids, and averages the strata's F1 differences with equal weight; ``difference`` is that mean on all
    sentences, ``sentences`` the total over strata. With one stratum this is :func:`paired_bootstrap`.

    Raises:
        ValueError: no strata, or a stratum :func:`paired_bootstrap` would refuse.
    """
    if not strata:
        raise ValueError("no strata to bootstrap")
    checked = [_checked(a, b, resamples, confidence) for a, b in strata]
    rng = np.random.default_rng(seed)
    differences = np.mean([_resampled_differences(a, b, resamples, rng) for a, b in checked], axis=0)
    observed = float(np.mean([_observed(a, b) for a, b in checked]))
    return _result(observed, differences, confidence, sum(a.shape[0] for a, _ in checked), seed)
