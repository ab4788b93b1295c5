"""Precision and recall of the KG annotator per type against gold annotations of corpora that are not evaluated.

    nice -n 19 python -m benchmarks.kg_annotator        # -> benchmarks/results/kg_annotator.json

Gold: CRAFT (its ontology types: GGP, Taxon, CHEBI, CL) and BioRED after the zero-shot overlap filter (documents
sharing a sentence with any split of NCBI-disease, BC5CDR, BC2GM, JNLPBA dropped). `GOLD_LABELS` says which
annotator type counts against which gold label (KG ``phenotype`` and ``disease`` both against BioRED's
DiseaseOrPhenotypicFeature). A match is correct when its word span and mapped label equal a gold span (exact);
``overlap`` numbers count any shared word instead.

Settings are chosen on the validation splits only (coordinate search from the defaults, one setting at a time,
by micro-F1 over every measured type; a change must gain `MIN_GAIN` points); the chosen settings are then re-measured on the train splits, which no
choice looked at. A type whose dev precision stays under `MIN_TYPE_PRECISION` is dropped when that raises dev
micro-F1 by `MIN_GAIN`. The run also times the annotation of 30,000 sentences on one core.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json
from kogner.corpora.mix import load_pubtator_source
from kogner.corpora.registry import EVALUATION_CORPORA, load_corpus_split
from kogner.datagen.kg_annotator import (
    AnnotatorSettings, KGAnnotator, english_zipf, name_table, word_keys,
)
from kogner.kg.lexicon import lexicon_cache_path
from kogner.kg.biokg_lite import ENTITY_TYPES

GOLD_LABELS: dict[str, dict[str, str]] = {
    "craft": {"gene": "gene or gene product", "organism": "organism", "chemical": "chemical",
              "cell type": "cell type"},
    "biored": {"gene": "gene", "disease": "disease", "phenotype": "disease", "chemical": "chemical",
               "organism": "organism", "cell line": "cell line"},
}
"""Gold corpus -> {annotator (KG) type -> the corpus' label it is scored against}."""
SEARCH: dict[str, list[Any]] = {
    "ambiguous": ["skip", "priority", "all"],
    "common_zipf": [None, 3.5, 4.0, 4.5, 5.0, 5.5],
    "min_chars": [2, 3, 4, 5],
    "case_sensitive_chars": [0, 3, 4, 6],
    "title_case_acronyms": [False, True],
}
"""The settings compared, in the order of the coordinate search."""
MIN_TYPE_PRECISION = 0.5
MIN_GAIN = 0.5
"""A change is adopted only when it raises dev micro-F1 by at least this many points: with about 7,500 gold spans
one standard error of F1 is of that order, and smaller gains are noise."""
SPEED_SENTENCES = 30_000


def gold_sets(split: str, data_dir: str | None) -> dict[str, list[dict[str, Any]]]:
    """Corpus -> schema records of ``split``: CRAFT, and BioRED without documents shared with the evaluated
    corpora (any split)."""
    biored = load_pubtator_source("biored", split, data_dir, overlap_with=list(EVALUATION_CORPORA))
    return {"craft": load_corpus_split("craft", split, data_dir).to_list(), "biored": biored.to_list()}


def spans_of(record: dict[str, Any], mapping: dict[str, str] | None = None) -> set[tuple[int, int, str]]:
    """``(start, end, label)`` of a record's ``ner``; with ``mapping``, types mapped (unmapped types dropped)."""
    found = set()
    for span in record["ner"]:
        label = span["label"] if mapping is None else mapping.get(span["label"])
        if label is not None:
            found.add((span["start"], span["end"], label))
    return found


def score(annotator: KGAnnotator, gold: dict[str, list[dict[str, Any]]],
          false_positives: dict[str, Counter] | None = None) -> dict[str, Any]:
    """Per annotator type (pooled over corpora) and per corpus label: counts, precision, recall, F1; and micro-F1.
    ``false_positives``, when given, collects the words of wrong matches per ``corpus:type``."""
    counts: dict[str, Counter] = {}
    for corpus, records in gold.items():
        mapping = GOLD_LABELS[corpus]
        for record in records:
            predicted = annotator.annotate(record["tokens"])
            truth = spans_of(record)
            for start, end, kg_type in spans_of(predicted):
                label = mapping.get(kg_type)
                if label is None:
                    continue
                hit = (start, end, label) in truth
                if not hit and false_positives is not None:
                    words = " ".join(record["tokens"][start:end + 1])
                    false_positives.setdefault(f"{corpus}:{kg_type}", Counter())[words] += 1
                near = any(label == gold_label and start <= gold_end and gold_start <= end
                           for gold_start, gold_end, gold_label in truth)
                for key in (f"type:{kg_type}", f"label:{corpus}:{label}"):
                    counts.setdefault(key, Counter()).update(predicted=1, correct=hit, overlap_correct=near)
            for start, end, label in truth:
                if label not in mapping.values():
                    continue
                types = {kg_type for kg_type, mapped in mapping.items() if mapped == label}
                found = {kg_type for s, e, kg_type in spans_of(predicted) if (s, e) == (start, end) and kg_type in types}
                counts.setdefault(f"label:{corpus}:{label}", Counter()).update(gold=1, found=bool(found))
                for kg_type in types:
                    counts.setdefault(f"type:{kg_type}", Counter()).update(gold=1, found=kg_type in found)
    report = {key: _rates(counter) for key, counter in sorted(counts.items())}
    labels = [counter for key, counter in counts.items() if key.startswith("label:")]
    total = sum(labels, Counter())
    report["micro"] = _rates(total)
    return report


def _rates(counter: Counter) -> dict[str, Any]:
    precision = counter["correct"] / counter["predicted"] if counter["predicted"] else 0.0
    recall = counter["found"] / counter["gold"] if counter["gold"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    overlap = counter["overlap_correct"] / counter["predicted"] if counter["predicted"] else 0.0
    return {"predicted": counter["predicted"], "gold": counter["gold"], "precision": round(100 * precision, 1),
            "recall": round(100 * recall, 1), "f1": round(100 * f1, 1), "overlap_precision": round(100 * overlap, 1)}


def search(annotator: KGAnnotator, dev: dict[str, list[dict[str, Any]]]) -> tuple[AnnotatorSettings, list[dict]]:
    """Coordinate search over `SEARCH` from the defaults by dev micro-F1; every setting compared is recorded."""
    best = annotator.settings
    micro = score(annotator, dev)["micro"]
    best_f1, compared = micro["f1"], [{"settings": best.public(), "dev_micro": micro}]
    for name, values in SEARCH.items():
        for value in values:
            candidate = dataclasses.replace(best, **{name: value})
            if candidate == best:
                continue
            micro = score(annotator.with_settings(candidate), dev)["micro"]
            compared.append({"settings": candidate.public(), "dev_micro": micro})
            print(f"  {name}={value!r}: dev micro P {micro['precision']} R {micro['recall']} F1 {micro['f1']}",
                  flush=True)
            if micro["f1"] >= best_f1 + MIN_GAIN - 1e-9:
                best, best_f1 = candidate, micro["f1"]
    return best, compared


def choose_types(annotator: KGAnnotator, settings: AnnotatorSettings, dev: dict[str, list[dict[str, Any]]],
                 compared: list[dict]) -> tuple[AnnotatorSettings, list[dict]]:
    """Which types: each type with dev precision under `MIN_TYPE_PRECISION` (lowest first) is dropped when that
    raises dev micro-F1 by `MIN_GAIN`. Types without gold are kept: nothing measures them."""
    report = score(annotator.with_settings(settings), dev)
    best_f1 = report["micro"]["f1"]
    low = sorted((rates["precision"], key.split(":", 1)[1]) for key, rates in report.items()
                 if key.startswith("type:") and rates["precision"] < 100 * MIN_TYPE_PRECISION)
    for _, entity_type in low:
        every = settings.types if settings.types is not None else ENTITY_TYPES
        candidate = dataclasses.replace(settings, types=tuple(t for t in every if t != entity_type))
        micro = score(annotator.with_settings(candidate), dev)["micro"]
        compared = compared + [{"settings": candidate.public(), "dev_micro": micro}]
        print(f"  without {entity_type}: dev micro P {micro['precision']} R {micro['recall']} F1 {micro['f1']}",
              flush=True)
        if micro["f1"] >= best_f1 + MIN_GAIN - 1e-9:
            settings, best_f1 = candidate, micro["f1"]
    return settings, compared


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: $KOGNER_DATA_DIR or ../shared)")
    parser.add_argument("--output", default=str(RESULTS_DIR / "kg_annotator.json"), help="results JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    record = provenance(command_line("kg_annotator", argv))
    started = time.monotonic()
    lexicon_cached = lexicon_cache_path().exists()
    table = name_table()
    annotator = KGAnnotator(table, AnnotatorSettings(), progress=True)
    index_seconds = time.monotonic() - started
    dev, train = gold_sets("validation", args.data_dir), gold_sets("train", args.data_dir)
    print(f"gold: dev {', '.join(f'{c} {len(r)}' for c, r in dev.items())} sentences; "
          f"train {', '.join(f'{c} {len(r)}' for c, r in train.items())}", flush=True)
    chosen, compared = search(annotator, dev)
    every_type = score(annotator.with_settings(chosen), dev)
    low = sorted(key.split(":", 1)[1] for key, rates in every_type.items()
                 if key.startswith("type:") and rates["precision"] < 100 * MIN_TYPE_PRECISION)
    chosen, compared = choose_types(annotator, chosen, dev, compared)
    final = annotator.with_settings(chosen)
    wrong: dict[str, Counter] = {}
    dev_report, train_report = score(final, dev, wrong), score(final, train)
    sentences = [record_["tokens"] for record_ in train["craft"]]
    sentences = (sentences * (SPEED_SENTENCES // max(len(sentences), 1) + 1))[:SPEED_SENTENCES]
    fresh = KGAnnotator(table, chosen)
    word_keys.cache_clear(), english_zipf.cache_clear()  # a cold run
    tic = time.process_time()
    fresh.annotate_all(sentences)
    speed = {"sentences": len(sentences), "cpu_seconds": round(time.process_time() - tic, 1),
             "names_and_index_seconds_wall": round(index_seconds, 1),
             "lexicon_was_cached": lexicon_cached, "names_indexed": len(table)}
    print(f"chosen {chosen.public()}; dev micro {dev_report['micro']}; train micro {train_report['micro']}; "
          f"speed {speed}", flush=True)
    write_json(Path(args.output), {
        **record, "seconds": round(time.monotonic() - started, 1),
        "gold": {"dev": {c: len(r) for c, r in dev.items()}, "train": {c: len(r) for c, r in train.items()},
                 "labels": GOLD_LABELS, "biored_filter": "documents sharing a sentence with any split of the "
                                                         "evaluation corpora dropped"},
        "protocol": f"settings chosen on the validation splits (coordinate search by micro-F1, exact spans, a change "
                    f"adopted when it gains >= {MIN_GAIN} F1); "
                    "train splits re-measured with the chosen settings, never used for a choice",
        "compared": compared, "chosen_settings": chosen.public(),
        "types_below_precision": {"threshold": 100 * MIN_TYPE_PRECISION, "types": low,
                                  "dev_with_every_type": every_type},
        "types_without_gold": sorted(set(ENTITY_TYPES) - {t for mapping in GOLD_LABELS.values() for t in mapping}),
        "dev": dev_report, "train": train_report, "speed": speed,
        "dev_top_false_positives": {key: counter.most_common(15) for key, counter in sorted(wrong.items())},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
