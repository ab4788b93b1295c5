"""Build the BMG-style NER dataset from a knowledge graph (paper, appendix B).

    python data_scripts/make_bmg_dataset.py --kg biokg-lite --generator template --out runs/data

Writes the `DatasetDict`, ``jsonl/``, a dataset card and drop counts to ``--out``; an interrupted run
started again with the same arguments resumes (see `kogner.datagen.build`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from kogner.datagen.build import DEFAULT_PER_RELATION, build_bmg_dataset
from kogner.kg import parse_kg_options
from kogner.datagen.card import type_counts
from kogner.datagen.llm import add_llm_arguments, llm_settings_from_args


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kg", default="biokg-lite", help="KG adapter name for kogner.kg.load_kg")
    parser.add_argument(
        "--kg-option", action="append", default=[], metavar="KEY=VALUE",
        help="option passed to load_kg (repeatable; VALUE parsed as JSON when possible), e.g. root=/data/BMG",
    )
    parser.add_argument("--generator", choices=["template", "llm"], default="template",
                        help="sentence generator: 'template' (offline, deterministic) or 'llm' (chat-completions API)")
    parser.add_argument("--out", default="runs/data", help="output folder (created; reused to resume)")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--per-relation", type=int, default=None,
                          help=f"rows sampled per relation type (relation + entity types); default {DEFAULT_PER_RELATION}")
    sampling.add_argument("--rate", type=float, default=None,
                          help="fraction of each relation type's edges to sample (the paper: about 0.0001)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling, templates and the split")
    parser.add_argument("--validation-fraction", type=float, default=0.1, help="share of sentences in validation")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="share of sentences in test")
    parser.add_argument("--split", choices=["random", "entity-disjoint"], default="random",
                        help="random (seeded), or entity-disjoint: validation/test sentences mention no KG entity "
                             "of the training sentences (kogner.datagen.splits; used by the benchmark protocols)")
    parser.add_argument("--restart", action="store_true", help="discard the progress in --out and start over")
    add_llm_arguments(parser)
    parser.add_argument("--push_to_hub", "--push-to-hub", dest="push_to_hub", default=None, metavar="REPO",
                        help="also push the dataset and its card to this Hugging Face Hub dataset repo (needs network)")
    parser.add_argument("--private", action="store_true", help="with --push_to_hub: create a private repo")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise SystemExit(f"make_bmg_dataset: --out {args.out} is a file; expected a folder (created if missing)")
    try:
        llm = llm_settings_from_args(args) if args.generator == "llm" else None
        built = build_bmg_dataset(
            args.out, kg=args.kg, kg_options=parse_kg_options(args.kg_option), generator=args.generator,
            llm_settings=llm, llm_cache=args.llm_cache, per_relation=args.per_relation, rate=args.rate, seed=args.seed,
            validation_fraction=args.validation_fraction, test_fraction=args.test_fraction, restart=args.restart,
            split=args.split,
        )
    except ValueError as error:  # bad settings or a resume conflict: one line, no traceback
        raise SystemExit(f"make_bmg_dataset: {error}") from error
    dataset = built.dataset
    print(f"wrote {args.out}: " + ", ".join(f"{split} {len(part)}" for split, part in dataset.items()) + " sentences")
    mentions = sum((type_counts(part) for part in dataset.values()), Counter())
    print("entity mentions per type: " + json.dumps(dict(sorted(mentions.items()))))
    print(f"dropped by reason: {json.dumps(dict(sorted(built.drops.items())))}  ({built.seconds:.0f} s)")
    if args.push_to_hub:
        from huggingface_hub import HfApi

        dataset.push_to_hub(args.push_to_hub, private=args.private)
        HfApi().upload_file(path_or_fileobj=f"{args.out}/README.md", path_in_repo="README.md",
                            repo_id=args.push_to_hub, repo_type="dataset")
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
