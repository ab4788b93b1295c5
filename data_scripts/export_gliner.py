"""Export a dataset of this project in GLiNER's training format (one file per split).

    python data_scripts/export_gliner.py --data runs/data --out runs/gliner              # train/validation/test.json
    python data_scripts/export_gliner.py --data bc5cdr --splits train --out runs/gliner --format jsonl

``--data`` is any source ``train.py`` accepts: a folder written by ``make_bmg_dataset.py``, a corpus name, a Hub
dataset id. Each record becomes ``{"tokenized_text": [...], "ner": [[start, end, label], ...]}`` (word indices, end
inclusive), the format GLiNER trains on; ``--keep-kg-links`` adds ``"kge": [[start, end, kg_id], ...]``. Such a
file is accepted back as ``--train_data FILE.json`` (see `kogner.corpora.gliner_format`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from kogner.corpora.gliner_format import write_gliner
from kogner.corpora.mix import load_source


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset folder, corpus name or Hub id (as for train.py)")
    parser.add_argument("--out", required=True, help="output folder: one <split>.json(l) file per split")
    parser.add_argument("--splits", nargs="+", default=["train", "validation", "test"],
                        help="splits to export (default: %(default)s)")
    parser.add_argument("--format", choices=["json", "jsonl"], default="json",
                        help="json: one JSON list per file (what GLiNER's train.py reads); jsonl: one record per line")
    parser.add_argument("--keep-kg-links", action="store_true",
                        help="also write each record's knowledge-graph links as 'kge': [[start, end, kg_id], ...]")
    parser.add_argument("--data-dir", default=None, help="folder of the annotated corpora (default: $KOGNER_DATA_DIR)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for split in args.splits:
        dataset, _ = load_source(f"{args.data}:{split}", split, args.data_dir)
        path = Path(args.out) / f"{split}.{args.format}"
        count = write_gliner(dataset, path, keep_kg_links=args.keep_kg_links)
        print(f"{split}: {count} records -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
