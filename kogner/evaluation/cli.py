"""Score a saved model on benchmark corpora or schema datasets (strict span + type match).

    kogner-eval --model runs/demo/model
    python -m kogner.evaluation --model runs/demo/model --corpora bc5cdr ncbi_disease:validation
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from kogner.corpora.mix import resolve_eval_sets

from .evaluate import evaluate_dataset, markdown_table


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
