"""Label real sentences with the knowledge graph's names and synonyms (`kogner.datagen.kg_annotator`).

    python data_scripts/kg_annotate.py --source craft --out runs/kg-text-craft --teacher runs/teacher
    python data_scripts/kg_annotate.py --source abstracts.txt --out runs/kg-text --types disease phenotype

``--source``: a registered training corpus (``craft``, ``biored``, ...; its train and validation splits, or
``NAME:SPLIT``), any other training source (GLiNER JSON, a ``.pubtator`` file, a saved dataset), or a plain-text
file (one or more sentences per line; all in ``train``). The output folder is a training source like ``runs/data``
(``--train_data runs/kg-text``): a `DatasetDict` with ``annotation.json`` (settings and counts) and ``README.md``.
The first run builds the biokg-lite lexicon once (minutes; cached, see `kogner.kg.lexicon`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from kogner.datagen.kg_annotator import AMBIGUITY_POLICIES, AnnotatorSettings, KGAnnotator, annotate_to_folder, name_table
from kogner.kg.biokg_lite import ENTITY_TYPES

DEFAULTS = AnnotatorSettings()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="corpus name[:split], training source, or plain-text file")
    parser.add_argument("--out", required=True, help="output folder (a dataset loadable with load_from_disk)")
    parser.add_argument("--splits", nargs="+", default=["train", "validation"],
                        help="splits of a corpus source to annotate (test is never needed for training)")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: $KOGNER_DATA_DIR or ../shared)")
    parser.add_argument("--teacher", default=None,
                        help="teacher folder (its entities.tsv): kge links only for ids the teacher knows; matches "
                             "outside it stay labels without a distillation target (default: keep every id)")
    parser.add_argument("--types", nargs="+", choices=ENTITY_TYPES, default=None,
                        help="KG entity types to label (default: all)")
    parser.add_argument("--min-chars", type=int, default=DEFAULTS.min_chars,
                        help="names with fewer letters and digits are never matched")
    parser.add_argument("--common-zipf", default=str(DEFAULTS.common_zipf),
                        help="names at least this common in English (wordfreq Zipf; 'none': no filter) are skipped "
                             "unless written as an acronym in their own case")
    parser.add_argument("--case-sensitive-chars", type=int, default=DEFAULTS.case_sensitive_chars,
                        help="names this short (letters and digits) must match in their own case")
    parser.add_argument("--ambiguous", choices=AMBIGUITY_POLICIES, default=DEFAULTS.ambiguous,
                        help="a name of several types: skip it, label all types, or the first by priority")
    parser.add_argument("--max-ids", type=int, default=DEFAULTS.max_ids,
                        help="a name of more entities of its type than this gets no kge link (label only)")
    parser.add_argument("--overlap-with", nargs="*", default=None, metavar="CORPUS[:SPLIT]",
                        help="for a PubTator source: drop documents sharing a sentence with these corpora (zero-shot: "
                             "every split of the evaluated corpora); default: the evaluation corpora's test splits")
    parser.add_argument("--cache-dir", default=None, help="lexicon cache folder (default: $KOGNER_CACHE_DIR)")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> AnnotatorSettings:
    """`AnnotatorSettings` from the command line; ``ValueError`` names a bad value."""
    zipf = None if args.common_zipf.lower() == "none" else float(args.common_zipf)
    return AnnotatorSettings(types=tuple(args.types) if args.types else None, min_chars=args.min_chars,
                             common_zipf=zipf, case_sensitive_chars=args.case_sensitive_chars,
                             ambiguous=args.ambiguous, max_ids=args.max_ids)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        settings = settings_from_args(args)
        teacher_ids = None
        if args.teacher:
            from kogner.teacher.files import ENTITIES_FILE, read_entities

            teacher_ids = read_entities(Path(args.teacher) / ENTITIES_FILE)[0]
        annotator = KGAnnotator(name_table(settings.types, args.cache_dir), settings, teacher_ids, progress=True)
        summary = annotate_to_folder(annotator, args.source, args.out, args.splits, args.data_dir,
                                     args.overlap_with, progress=True)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"kg_annotate: {error}") from error
    print(f"wrote {args.out}: {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
