"""Strict span-level precision/recall/F1: an entity counts only if its start, end and type all match.

One scorer for training-time evaluation, ``evaluate.py`` and the benchmarks.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

Span = tuple[int, int, str]  # (start word, end word inclusive, label)


def _prf(true_positives: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold, "predicted": predicted}


def span_scores(gold: Iterable[Iterable[Span]], predicted: Iterable[Iterable[Span]]) -> dict[str, object]:
    """Micro precision/recall/F1 and per-label scores over sentences.

    Duplicate spans within one sentence count once (sets), nested gold spans count separately.

    Returns:
        ``{"precision", "recall", "f1", "support", "predicted", "per_label": {label: {...}}}``.
    """
    true_positives: Counter = Counter()
    gold_counts: Counter = Counter()
    predicted_counts: Counter = Counter()
    sentences = 0
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        sentences += 1
        gold_set, predicted_set = set(gold_spans), set(predicted_spans)
        for span in gold_set:
            gold_counts[span[2]] += 1
        for span in predicted_set:
            predicted_counts[span[2]] += 1
        for span in gold_set & predicted_set:
            true_positives[span[2]] += 1
    result: dict[str, object] = _prf(
        sum(true_positives.values()), sum(predicted_counts.values()), sum(gold_counts.values())
    )
    labels = sorted(set(gold_counts) | set(predicted_counts))
    result["per_label"] = {
        label: _prf(true_positives[label], predicted_counts[label], gold_counts[label]) for label in labels
    }
    result["sentences"] = sentences
    return result


def gold_spans(example: dict) -> list[Span]:
    """The ``ner`` field of a schema example as ``(start, end, label)`` tuples."""
    return [(entity["start"], entity["end"], entity["label"]) for entity in example["ner"]]


def spans_to_iob(spans: Iterable[Span], length: int) -> list[str]:
    """IOB2 tags of a sentence of ``length`` words from flat ``(start, end, label)`` spans (e.g. for seqeval)."""
    tags = ["O"] * length
    for start, end, label in spans:
        tags[start] = f"B-{label}"
        for position in range(start + 1, end + 1):
            tags[position] = f"I-{label}"
    return tags
