"""Evaluate a KoGNER model on schema datasets: batched prediction, the strict span scorer, Markdown tables.

Also the ``kogner-eval`` / ``python evaluate.py`` command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from .metrics import Span, gold_spans, span_scores

PredictFn = Callable[[Sequence[Sequence[str]]], list[list[Span]]]


def dataset_labels(dataset: Any) -> list[str]:
    """The entity types annotated in a schema dataset, sorted."""
    return sorted({entity["label"] for entities in dataset["ner"] for entity in entities})


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


def main(argv: Sequence[str] | None = None) -> int:
    """``kogner-eval``: score a saved model (directory or Hub id) on benchmark corpora or saved datasets."""
    parser = argparse.ArgumentParser(
        prog="kogner-eval",
        description="Evaluate a KoGNER model with strict span+type matching and print a Markdown table "
        "(also written as JSON).",
    )
    parser.add_argument("--model", required=True, help="model directory or Hub id (loaded with trust_remote_code)")
    parser.add_argument(
        "--corpora",
        nargs="*",
        default=None,
        help="benchmark names (ncbi_disease bc5cdr bc2gm jnlpba bc4chemd), optionally NAME:SPLIT, or saved "
        "dataset dirs / Hub ids as PATH[:SPLIT]; default: every benchmark present, test split",
    )
    parser.add_argument("--data-dir", default=None, help="benchmark folder (default: $KOGNER_DATA_DIR or ../shared/data/benchmarks)")
    parser.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the model's)")
    parser.add_argument("--nested", action="store_true", help="allow nested entities (flat_ner=False)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-sentences", type=int, default=None, help="evaluate on the first N sentences only")
    parser.add_argument("--output", default=None, help="JSON file for the results (default: MODEL/eval_results.json)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModel

    from .data import resolve_eval_sets

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True).to(device).eval()
    eval_sets = resolve_eval_sets(args.corpora, data_dir=args.data_dir, default_split="test")
    if not eval_sets:
        print("no evaluation corpus found; pass --corpora or --data-dir", file=sys.stderr)
        return 2
    results: dict[str, dict[str, Any]] = {}
    for name, (dataset, labels) in eval_sets.items():
        if args.max_sentences:
            dataset = dataset.select(range(min(args.max_sentences, len(dataset))))
        results[name] = evaluate_dataset(
            model, dataset, labels, args.threshold, not args.nested, args.batch_size, description=name
        )
    print(markdown_table(results))
    output = Path(args.output) if args.output else Path(args.model) / "eval_results.json"
    if not output.parent.exists() or not output.parent.is_dir():
        output = Path("eval_results.json")
    output.write_text(json.dumps({"model": args.model, "results": results}, indent=2))
    print(f"results written to {output}")
    return 0
