"""Evaluation: the strict span scorer (`metrics`), batched prediction and tables (`evaluate`), the CLI (`cli`)."""

from .evaluate import evaluate_dataset, markdown_table, predict_spans
from .metrics import gold_spans, span_scores, spans_to_iob

__all__ = ["evaluate_dataset", "gold_spans", "markdown_table", "predict_spans", "span_scores", "spans_to_iob"]
