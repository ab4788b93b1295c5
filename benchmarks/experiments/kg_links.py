"""How many gold mentions of the training corpora link to the knowledge graph by name (`kogner.corpora.linking`).

Each corpus split present is linked with `link_corpus` (normalised exact name or synonym, type-compatible only,
`LABEL_KG_TYPES`) against the KG itself (names + synonyms; the default) or a built teacher (names only, what a
training run that has only ``--teacher`` can use); the coverage per corpus and label goes to
``benchmarks/results/kg_links.json``.

    python -m benchmarks.experiments.kg_links                      # biokg-lite, every corpus' train split
    python -m benchmarks.experiments.kg_links --source teacher --teacher runs/teacher \\
        --output benchmarks/results/kg_links_teacher.json
    python -m benchmarks.experiments.kg_links --corpora ncbi_disease bc5cdr --split test
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=["kg", "teacher"], default="kg",
                        help="link against the KG (names + synonyms) or a built teacher (names only)")
    parser.add_argument("--kg", default="biokg-lite", help="KG adapter name for --source kg (default %(default)s)")
    parser.add_argument("--kg-cache", default="runs/kg-cache", help="biokg-lite cache folder (default %(default)s)")
    parser.add_argument("--teacher", default="runs/teacher", help="teacher folder for --source teacher")
    parser.add_argument("--corpora", nargs="+", default=None, help="corpus folders (default: every one present)")
    parser.add_argument("--split", default="train", help="split to link (default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--output", default=str(RESULTS_DIR / "kg_links.json"), help="results JSON")
    return parser.parse_args(argv)


def load_source(args: argparse.Namespace) -> tuple[Any, str]:
    if args.source == "teacher":
        from kogner.teacher import Teacher

        return Teacher.load(args.teacher), f"teacher {args.teacher} (names only)"
    from kogner.kg import load_kg

    options = {"cache_dir": args.kg_cache} if args.kg == "biokg-lite" else {}
    return load_kg(args.kg, **options), f"KG {args.kg} (names + synonyms)"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from kogner.corpora.linking import LABEL_KG_TYPES, link_corpus
    from kogner.corpora.registry import available_corpora, load_corpus

    started, run_info = time.time(), provenance(command_line("experiments.kg_links", argv))
    source, description = load_source(args)
    present = available_corpora(args.data_dir)
    corpora = args.corpora or sorted(present)
    results: dict[str, Any] = {}
    for corpus in tqdm(corpora, desc="linking", unit="corpus"):
        if args.split not in present.get(corpus, []):
            print(f"corpus {corpus}: no {args.split} split, skipped", flush=True)
            continue
        _, report = link_corpus(load_corpus(corpus, args.split, args.data_dir), source)
        results[corpus] = report
        print(f"{corpus}: {report['linked']}/{report['mentions']} mentions linked "
              f"({100 * report['share_linked']:.1f}%)",
              flush=True)
    total = sum(r["mentions"] for r in results.values())
    linked = sum(r["linked"] for r in results.values())
    write_json(Path(args.output), {
        **run_info, "source": description, "split": args.split,
        "method": "normalised exact name/synonym match (kogner.words.normalize_mention), type-compatible only",
        "label_kg_types": {label: list(types) for label, types in LABEL_KG_TYPES.items()},
        "total": {"mentions": total, "linked": linked, "share_linked": round(linked / total, 4) if total else 0.0},
        "corpora": results, "seconds": round(time.time() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
