"""Score a saved model on annotated corpora or schema datasets (strict span + type match).

    kogner-eval --model runs/demo/model
    python -m kogner.evaluation --model runs/demo/model --corpora bc5cdr ncbi_disease:validation

The results go to their own file, ``MODEL/evaluation_<what was evaluated>.json`` (``./`` for a Hub id), written
atomically: evaluating never overwrites what training wrote (``eval_results.json``, ``training_log.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from kogner.atomic import atomic_write_json
from kogner.checks import check_model_source
from kogner.corpora.mix import resolve_eval_sets
from modeling_kogner.processing_kogner import check_threshold

from .evaluate import evaluate_dataset, markdown_table

TRAINING_FILES = ("eval_results.json", "training_log.json", "config.json", "README.md")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kogner-eval",
        description="Evaluate a KoGNER model with strict span+type matching and print a Markdown table "
        "(also written as JSON, to MODEL/evaluation_<corpora>.json unless --output is given).",
    )
    parser.add_argument("--model", required=True, help="model directory or Hub id (loaded with trust_remote_code)")
    parser.add_argument("--revision", default=None,
                        help="Hub id only: the commit (or tag/branch) to load, pinning the remote code that runs")
    parser.add_argument(
        "--corpora",
        nargs="*",
        default=None,
        help="corpus names (ncbi_disease bc5cdr bc2gm jnlpba bc4chemd), optionally NAME:SPLIT, or saved "
        "dataset dirs / Hub ids as PATH[:SPLIT]; default: every evaluation corpus present, test split",
    )
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: $KOGNER_DATA_DIR or ../shared/data/benchmarks)")
    parser.add_argument("--threshold", type=float, default=None, help="decision threshold in [0, 1] (default: the model's)")
    parser.add_argument("--nested", action="store_true", help="allow nested entities (flat_ner=False)")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per forward pass (positive)")
    parser.add_argument("--max-sentences", type=int, default=None, help="evaluate on the first N (positive) sentences only")
    parser.add_argument("--output", default=None,
                        help="JSON file for the results (default: MODEL/evaluation_<corpora>.json; never one of "
                        f"the files training wrote: {', '.join(TRAINING_FILES)})")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``parser.error`` (exit 2, one line naming the option) on a value that cannot work."""
    if args.batch_size < 1:
        parser.error(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.max_sentences is not None and args.max_sentences < 1:
        parser.error(f"--max-sentences must be a positive integer (omit it to use every sentence), got {args.max_sentences}")
    if args.threshold is not None:
        try:
            check_threshold(args.threshold, "--threshold")
        except ValueError as error:
            parser.error(str(error))
    if args.data_dir and not Path(args.data_dir).is_dir():
        parser.error(f"--data-dir {args.data_dir}: no such directory")
    try:
        check_model_source(args.model, "--model")
    except OSError as error:
        parser.error(str(error))
    if args.revision and Path(args.model).exists():
        parser.error(f"--revision applies to Hub ids; {args.model} is a local directory")


def output_path(args: argparse.Namespace, set_names: Sequence[str]) -> Path:
    """Where the results go: ``--output``, else ``evaluation_<sets and settings>.json`` beside the model."""
    if args.output:
        return Path(args.output)
    parts = ["+".join(set_names)]
    if args.threshold is not None:
        parts.append(f"t{args.threshold:g}")
    if args.nested:
        parts.append("nested")
    if args.max_sentences:
        parts.append(f"n{args.max_sentences}")
    slug = re.sub(r"[^\w.+-]+", "-", "_".join(parts)).strip("-")
    if len(slug) > 80:
        slug = slug[:60] + "-" + hashlib.sha256(slug.encode()).hexdigest()[:8]
    folder = Path(args.model) if Path(args.model).is_dir() else Path(".")
    return folder / f"evaluation_{slug}.json"


def main(argv: Sequence[str] | None = None) -> int:
    """``kogner-eval``: score a saved model (directory or Hub id) on annotated corpora or saved datasets."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)

    eval_sets = resolve_eval_sets(args.corpora, data_dir=args.data_dir, default_split="test")
    if not eval_sets:
        print("no evaluation corpus found; pass --corpora or --data-dir", file=sys.stderr)
        return 2
    empty = [name for name, (dataset, _) in eval_sets.items() if len(dataset) == 0]
    if empty:
        parser.error(f"--corpora: {', '.join(empty)} has no sentences (an empty split); choose another split")
    output = output_path(args, list(eval_sets))
    if Path(args.model).is_dir() and output.resolve().parent == Path(args.model).resolve() \
            and output.name in TRAINING_FILES:
        parser.error(f"--output {output}: that file belongs to the trained model; choose another name")

    import torch
    from transformers import AutoModel

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True, revision=args.revision).to(device).eval()
    results: dict[str, dict[str, Any]] = {}
    for name, (dataset, labels) in eval_sets.items():
        if args.max_sentences:
            dataset = dataset.select(range(min(args.max_sentences, len(dataset))))
        results[name] = evaluate_dataset(
            model, dataset, labels, args.threshold, not args.nested, args.batch_size, description=name
        )
    print(markdown_table(results))
    evaluation = {"corpora": list(eval_sets), "threshold": args.threshold, "nested": args.nested,
                  "max_sentences": args.max_sentences, "batch_size": args.batch_size}
    atomic_write_json(output, {"model": args.model, "revision": args.revision, "evaluation": evaluation,
                               "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": results})
    print(f"results written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
