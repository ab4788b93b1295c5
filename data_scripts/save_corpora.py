"""Save the annotated corpora as `datasets.DatasetDict`s in the KoGNER schema, with a dataset card.

    python data_scripts/save_corpora.py --out runs/benchmarks                      # every corpus present
    python data_scripts/save_corpora.py --out runs/benchmarks --corpora ncbi_disease bc5cdr

Writes ``OUT/<corpus>/`` (``DatasetDict.save_to_disk``: train / validation / test as present, plus that corpus'
README.md card) and ``OUT/README.md`` (one card for all of them): names, references and licences are read from the
corpora folder's README.md and licence files. Upload with ``hf upload ORG/NAME OUT --repo-type dataset``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from datasets import DatasetDict

from kogner.corpora.registry import SPLIT_FILES, available_corpora, load_corpus_split, resolve_data_dir
from kogner.datagen.card import corpora_card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--corpora", nargs="+", default=None, help="corpus folders (default: every one present)")
    parser.add_argument("--data-dir", default=None, help="corpora folder (default: $KOGNER_DATA_DIR, else "
                                                         "../shared/data/benchmarks)")
    args = parser.parse_args(argv)
    root = resolve_data_dir(args.data_dir)
    present = available_corpora(root, args.corpora)
    missing = sorted(set(args.corpora or []) - set(present))
    if missing:
        parser.error(f"no split files of {', '.join(missing)} under {root}")
    out = Path(args.out)
    saved = {}
    for corpus, splits in present.items():
        dataset = DatasetDict({split: load_corpus_split(corpus, split, data_dir=root) for split in SPLIT_FILES
                               if split in splits})
        dataset.save_to_disk(str(out / corpus))
        (out / corpus / "README.md").write_text(corpora_card({corpus: dataset}, root), encoding="utf-8")
        saved[corpus] = dataset
        counts = ", ".join(f"{split} {len(part)}" for split, part in dataset.items())
        print(f"{corpus}: {counts} -> {out / corpus}")
    (out / "README.md").write_text(corpora_card(saved, root), encoding="utf-8")
    print(f"card: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
