"""Choose the decision threshold on development splits of the training corpora, never on a test split.

The procedure: predict every dev sentence once at the lowest threshold of the grid, keeping each decoded span's
score; the spans decoded at a higher threshold ``t`` are exactly those with score >= ``t`` (greedy decoding takes
spans by descending score, so raising the threshold cuts a prefix-closed tail, and merging overlapping windows
keeps each span's best score). Each grid point is scored with the project's strict scorer on every dev set; the
threshold with the best **mean F1 over the dev sets** wins (ties: the one closest to 0.5). The choice, its dev
F1 curve and the dev sets it saw are returned, written into the model's config (``threshold``) and into the
results JSON of the benchmark protocols.

    python -m kogner.evaluation.threshold --model runs/release/model --dev bionlp09 craft runs/data --write-config
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from kogner.atomic import atomic_write_json

from .metrics import Span, gold_spans, span_scores

ScoredSpan = tuple[int, int, str, float]
ScoredPredictFn = Callable[[Sequence[Sequence[str]], Sequence[str], float], list[list[ScoredSpan]]]
DEFAULT_GRID = tuple(round(0.05 * step, 2) for step in range(1, 20))  # 0.05 ... 0.95


class TestSplitError(ValueError):
    """A test split was offered to threshold selection."""


@dataclass
class ThresholdChoice:
    """The chosen threshold, its mean dev F1, the whole curve and the dev sets it was chosen on."""

    threshold: float
    mean_f1: float
    dev_sets: list[str]
    curve: dict[str, dict[str, float]] = field(default_factory=dict)  # str(threshold) -> {set: f1, "mean": f1}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_dev_names(names: Sequence[str], where: str = "threshold selection") -> None:
    """Refuse test splits: a name ``X:test`` (the evaluation sets' naming) cannot tune anything."""
    leaked = [name for name in names if name.rsplit(":", 1)[-1] == "test"]
    if leaked:
        raise TestSplitError(f"{where} got test split(s) {leaked}: choose on validation splits only")
    if not names:
        raise ValueError("threshold selection needs at least one dev set")


def spans_at(scored: Sequence[Sequence[ScoredSpan]], threshold: float) -> list[list[Span]]:
    """The spans decoded at ``threshold`` from spans decoded (with scores) at a lower threshold."""
    return [[(start, end, label) for start, end, label, score in sentence if score >= threshold] for sentence in scored]


def model_scored_predict(model: Any, batch_size: int = 32) -> ScoredPredictFn:
    """A `ScoredPredictFn` for a KoGNER model: decoded ``(start, end, label, score)`` spans per sentence."""

    def predict(batch_words: Sequence[Sequence[str]], labels: Sequence[str], threshold: float) -> list[list[ScoredSpan]]:
        found = model.predict_word_spans(batch_words, labels, threshold, batch_size=batch_size)
        return [[(span.start, span.end, labels[span.label], span.score) for span in sentence] for sentence in found]

    return predict


def choose_threshold(
    scored_sets: Mapping[str, tuple[Sequence[Sequence[Span]], Sequence[Sequence[ScoredSpan]]]],
    grid: Sequence[float] = DEFAULT_GRID,
) -> ThresholdChoice:
    """Best mean F1 over the sets ``{name: (gold spans, scored predictions at min(grid))}``; ties -> nearest 0.5."""
    check_dev_names(list(scored_sets))
    if not grid:
        raise ValueError("the threshold grid is empty")
    curve: dict[str, dict[str, float]] = {}
    for threshold in sorted(grid):
        point = {name: span_scores(gold, spans_at(scored, threshold))["f1"] for name, (gold, scored) in scored_sets.items()}
        point["mean"] = sum(point.values()) / len(scored_sets)
        curve[str(threshold)] = point
    best = max(sorted(grid), key=lambda t: (round(curve[str(t)]["mean"], 12), -abs(t - 0.5)))
    return ThresholdChoice(threshold=float(best), mean_f1=curve[str(best)]["mean"], dev_sets=list(scored_sets),
                           curve=curve)


def select_threshold(
    predict: ScoredPredictFn,
    dev_sets: Mapping[str, tuple[Any, Sequence[str]]],
    grid: Sequence[float] = DEFAULT_GRID,
) -> tuple[ThresholdChoice, dict[str, list[list[ScoredSpan]]]]:
    """Predict each dev set ``{name: (dataset, label prompts)}`` once and choose; also returns the predictions."""
    check_dev_names(list(dev_sets))
    lowest = min(grid)
    scored_sets, predictions = {}, {}
    for name, (dataset, labels) in dev_sets.items():
        predictions[name] = predict(dataset["tokens"], list(labels), lowest)
        scored_sets[name] = ([gold_spans(example) for example in dataset], predictions[name])
    return choose_threshold(scored_sets, grid), predictions


def write_threshold(model_dir: str | Path, threshold: float) -> None:
    """Set ``threshold`` in a saved model's ``config.json`` (what ``predict_entities`` uses by default)."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved model config to write the threshold into")
    config = json.loads(path.read_text(encoding="utf-8"))
    config["threshold"] = threshold
    atomic_write_json(path, config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="saved KoGNER model directory")
    parser.add_argument("--dev", nargs="+", required=True,
                        help="dev sources as for evaluate.py (default split: validation); test splits are refused")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--grid", nargs="+", type=float, default=list(DEFAULT_GRID), help="thresholds to try")
    parser.add_argument("--max-dev", type=int, default=0, help="first N sentences per dev set (0 = all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--write-config", action="store_true", help="store the choice in the model's config.json")
    parser.add_argument("--output", default=None, help="JSON file for the choice and its dev F1 curve")
    args = parser.parse_args(argv)
    from modeling_kogner import KoGNERModel

    from kogner.corpora.mix import resolve_eval_sets

    dev_sets = resolve_eval_sets(args.dev, args.data_dir, "validation")
    if args.max_dev:
        dev_sets = {name: (data.select(range(min(args.max_dev, len(data)))), labels)
                    for name, (data, labels) in dev_sets.items()}
    model = KoGNERModel.from_pretrained(args.model)
    choice, _ = select_threshold(model_scored_predict(model, args.batch_size), dev_sets, args.grid)
    print(f"threshold {choice.threshold} (mean dev F1 {100 * choice.mean_f1:.1f} on {', '.join(choice.dev_sets)})")
    if args.write_config:
        write_threshold(args.model, choice.threshold)
    if args.output:
        Path(args.output).write_text(json.dumps(choice.to_dict(), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
