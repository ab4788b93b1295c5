"""Evaluate a KoGNER model on schema datasets: batched prediction, the strict span scorer, Markdown tables.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from kogner.schema import dataset_labels

from .metrics import Span, gold_spans, span_scores

PredictFn = Callable[[Sequence[Sequence[str]]], list[list[Span]]]


def predict_spans(
    model: Any,
    batch_words: Sequence[Sequence[str]],
    labels: Sequence[str],
    threshold: float | None = None,
    flat_ner: bool = True,
    batch_size: int = 32,
    progress: bool = True,
    description: str = "predicting",
) -> list[list[Span]]:
    """Decoded ``(start, end, label)`` spans for each pre-split sentence, in chunks with a progress bar."""
    chunk = max(batch_size * 8, 1)
    spans: list[list[Span]] = []
    with tqdm(total=len(batch_words), desc=description, disable=not progress, unit="sent") as bar:
        for first in range(0, len(batch_words), chunk):
            words = batch_words[first : first + chunk]
            found = model.predict_word_spans(words, labels, threshold, flat_ner, batch_size=batch_size)
            spans.extend([(span.start, span.end, labels[span.label]) for span in sentence] for sentence in found)
            bar.update(len(words))
    return spans


def evaluate_dataset(
    model: Any,
    dataset: Any,
    labels: Sequence[str] | None = None,
    threshold: float | None = None,
    flat_ner: bool = True,
    batch_size: int = 32,
    progress: bool = True,
    description: str = "evaluating",
) -> dict[str, Any]:
    """Strict span P/R/F1 of ``model`` on a schema dataset, with the labels used as prompts recorded."""
    labels = list(labels) if labels else dataset_labels(dataset)
    predicted = predict_spans(model, dataset["tokens"], labels, threshold, flat_ner, batch_size, progress, description)
    scores = span_scores([gold_spans(example) for example in dataset], predicted)
    scores["labels"] = labels
    return scores


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per evaluated corpus: labels, precision, recall, F1 (percent) and per-label F1."""
    lines = ["| corpus | labels (prompts) | P | R | F1 | per-label F1 |", "|---|---|---|---|---|---|"]
    for corpus, scores in results.items():
        per_label = ", ".join(
            f"{label} {values['f1'] * 100:.1f}" for label, values in scores["per_label"].items() if values["support"]
        )
        lines.append(
            f"| {corpus} | {', '.join(scores['labels'])} | {scores['precision'] * 100:.1f} | "
            f"{scores['recall'] * 100:.1f} | {scores['f1'] * 100:.1f} | {per_label} |"
        )
    return "\n".join(lines)
