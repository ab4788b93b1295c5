"""Print what the registered corpora hold: tag -> label prompt, sentences and entities per split and per type.

    python data_scripts/corpora.py --stats [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kogner.corpora.registry import (
    CORPUS_TAGS, EVALUATION_CORPORA, SPLIT_FILES, available_corpora, corpus_stats, load_corpus_split, resolve_data_dir,
)


def _print_stats(data_dir: str | None) -> int:
    root = resolve_data_dir(data_dir)
    print(f"registered corpora (kogner/corpora/registry.py CORPUS_TAGS) under {root}")
    present = available_corpora(root)
    for corpus, tags in CORPUS_TAGS.items():
        if corpus not in present:
            print(f"\n{corpus}: absent (put train.tsv/devel.tsv/test.tsv in {root / corpus})")
            continue
        role = "evaluation" if corpus in EVALUATION_CORPORA else "training only"
        print(f"\n{corpus} ({role}; tags: {', '.join(f'{tag} -> {label}' for tag, label in tags.items())})")
        for split in SPLIT_FILES:
            if split not in present[corpus]:
                print(f"  {split:<10} absent ({root / corpus / SPLIT_FILES[split]})")
                continue
            stats = corpus_stats(load_corpus_split(corpus, split, data_dir=root))
            per_label = ", ".join(f"{label} {count}" for label, count in stats["per_label"].items())
            print(f"  {split:<10} {stats['sentences']:>6} sentences {stats['entities']:>6} entities  ({per_label})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stats", action="store_true", help="print tags -> label prompts, sentences and entities per split and per type")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder with one sub-folder per corpus (default: $KOGNER_DATA_DIR, else ../shared/data/benchmarks)",
    )
    args = parser.parse_args(argv)
    if args.data_dir and not Path(args.data_dir).is_dir():
        parser.error(f"--data-dir {args.data_dir}: no such directory")
    if not args.stats:
        parser.print_help()
        return 2
    return _print_stats(args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
