"""Entity linking on curated identifiers: BioRED mentions whose gold id maps to a KG node through its xrefs.

BioRED (``../shared/data/biored``) gives every mention curated ids: NCBI Gene, MeSH or OMIM, NCBI Taxonomy,
Cellosaurus. A gold id maps to the KG nodes that carry it as their own id or as a cross-reference
(`kogner.kg.xrefs.identifier_lookup` over the full lexicon, `kogner.kg.lexicon`); several ids on one mention count
a hit on any. Per type: ``coverage`` (share of gold mentions with a KG node) and, among covered ``mentions``,
``acc_at_1`` / ``acc_at_5`` of four linkers, each restricted to the KG types the mention's label allows:

* ``exact_name``: entities whose name equals the mention text, case-folded (no synonyms);
* ``dictionary``: names and synonyms after `names_kogner.normalize_name` (the standard dictionary baseline);
* ``vectors``: the model's vectors alone (``link_mentions(use_names=False)``);
* ``model``: ``link=True`` as shipped (names and synonyms, ranked by vectors, vectors for the rest, NIL threshold).

``end_to_end``: the same on the model's predicted spans (``predict_entities``): a hit needs the gold span's
offsets, its label and a gold id. ``lexicon_xrefs_per_source``: how many lexicon nodes of each source carry which
kind of identifier (`kogner.kg.xrefs.xref_report`). ``nil``: among mentions whose gold id is in no KG node, the
share each linker answers with no link. The NIL threshold is chosen on BioRED's devel split (accuracy over all its mentions, a
correct NIL counting for uncovered ones); test is scored once with it. Without ``--model`` only the name linkers
and the coverage are reported. Results: ``benchmarks/results/linking_curated.json``.

    python -m benchmarks.linking_curated --model runs/demo/model
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json
from kogner.corpora.pubtator import namespaced, read_pubtator
from kogner.corpora.registry import CORPUS_TAGS, PUBTATOR_CORPORA
from kogner.kg.biokg_lite import ENTITY_TYPES
from kogner.kg.lexicon import load_lexicon_table
from kogner.kg.xrefs import canonical_xref, identifier_lookup, xref_report
from kogner.words import split_words
from modeling_kogner.index_kogner import EntityIndex, JoinedRows
from modeling_kogner.linking_kogner import label_kg_types, link_mentions

BIORED_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "biored"
TYPE_LABELS = {kind: label for kind, label in CORPUS_TAGS["biored"].items() if kind != "SequenceVariant"}
METHODS = ("exact_name", "dictionary", "vectors", "model")
TOP_K = 5
THRESHOLDS = [None] + [round(0.05 * step, 2) for step in range(21)]


@dataclass
class Mention:
    """One gold BioRED mention: document, label, char and word offsets, its gold KG ids (empty: uncovered)."""

    document: int
    label: str
    text: str
    start: int
    end: int
    word_start: int
    word_end: int
    gold: frozenset[str]


def read_split(path: Path, lookup: dict[str, list[str]]) -> tuple[list[str], list[list[str]], list[Mention]]:
    """Texts, words and gold mentions (variants left out) of a PubTator file."""
    texts, words, mentions = [], [], []
    namespaces = PUBTATOR_CORPORA["biored"]
    for number, document in enumerate(read_pubtator(path)):
        text = document.text
        tokens = split_words(text)
        texts.append(text)
        words.append([word for word, _, _ in tokens])
        for mention in document.mentions:
            if mention.type not in TYPE_LABELS:
                continue
            covered = [i for i, (_, start, end) in enumerate(tokens) if start < mention.end and end > mention.start]
            if not covered:
                continue
            gold = {kg_id for identifier in mention.ids
                    for kg_id in lookup.get(canonical_xref(namespaced(identifier, namespaces.get(mention.type))), [])}
            mentions.append(Mention(number, TYPE_LABELS[mention.type], mention.text, mention.start, mention.end,
                                    covered[0], covered[-1], frozenset(gold)))
    return texts, words, mentions


def lexicon_index(cache_dir: str | None) -> EntityIndex:
    """Every lexicon entity as a name-only `EntityIndex` (the dictionary the name linkers look up)."""
    table = load_lexicon_table(cache_dir=cache_dir)
    keys = table["name_keys"].tolist() if "name_keys" in table else None
    return EntityIndex(table["kg_id"].tolist(), table["name"].tolist(), torch.zeros((0, 1)), table["type"].tolist(),
                       JoinedRows(table["synonyms"].tolist()), JoinedRows(table["xrefs"].tolist()), keys)


class NameLinkers:
    """The two name baselines over one lexicon: exact case-folded name, and the normalised name + synonym dictionary."""

    def __init__(self, index: EntityIndex) -> None:
        self.index = index
        self.exact: dict[str, list[int]] = defaultdict(list)
        for row, name in enumerate(index.names):
            self.exact[name.casefold()].append(row)

    def rank(self, method: str, text: str, label: str) -> list[str]:
        types = label_kg_types(label, ENTITY_TYPES)
        if method == "exact_name":
            rows = self.exact.get(text.casefold(), [])
        else:
            rows = [row for row, _ in sorted(self.index.matches(text), key=lambda pair: (pair[1], pair[0]))]
        return [self.index.kg_ids[row] for row in rows if types is None or self.index.types[row] in types][:TOP_K]


def raw_links(model: Any, words: list[list[str]], mentions: Sequence[Mention], top_k: int, use_names: bool,
              threshold: float | None) -> list[list[tuple[int, float, str]]]:
    """`link_mentions` candidates ``(row, score, match)`` per mention (empty: no link), one document at a time."""
    by_document: dict[int, list[int]] = defaultdict(list)
    for number, mention in enumerate(mentions):
        by_document[mention.document].append(number)
    found: list[list[tuple[int, float, str]]] = [[] for _ in mentions]
    width = model.config.max_width
    for document, numbers in tqdm(sorted(by_document.items()), desc="linking", unit="doc", leave=False):
        spans = [(0, mentions[n].word_start, min(mentions[n].word_end, mentions[n].word_start + width - 1))
                 for n in numbers]
        links = link_mentions(model, [words[document]], spans, [mentions[n].label for n in numbers], top_k=top_k,
                              use_names=use_names, nil_threshold=threshold)
        for number, link in zip(numbers, links):
            found[number] = link["candidates"]
    return found


def model_rankings(model: Any, words: list[list[str]], mentions: Sequence[Mention], use_names: bool,
                   threshold: float | None) -> list[list[str]]:
    """Top-``TOP_K`` KG ids per mention from the model (empty: no link)."""
    ids = model.entity_index.kg_ids
    return [[ids[row] for row, _, _ in candidates]
            for candidates in raw_links(model, words, mentions, TOP_K, use_names, threshold)]


def score(mentions: Sequence[Mention], rankings: dict[str, list[list[str]]]) -> dict[str, Any]:
    """``overall`` and ``per_type``: coverage, covered mentions, acc@1/@5 per method; ``nil``: correct NIL shares."""
    groups: dict[str, list[int]] = defaultdict(list)
    for number, mention in enumerate(mentions):
        groups[mention.label].append(number)
        groups["overall"].append(number)

    def block(numbers: list[int]) -> dict[str, Any]:
        covered = [n for n in numbers if mentions[n].gold]
        uncovered = [n for n in numbers if not mentions[n].gold]
        result: dict[str, Any] = {"gold_mentions": len(numbers), "mentions": len(covered),
                                  "coverage": round(len(covered) / len(numbers), 4) if numbers else None}
        for k in (1, TOP_K):
            result[f"acc_at_{k}"] = {method: round(sum(bool(set(found[n][:k]) & mentions[n].gold) for n in covered)
                                                   / len(covered), 4) if covered else None
                                     for method, found in rankings.items()}
        result["nil"] = {"uncovered_mentions": len(uncovered), **{
            method: round(sum(not found[n] for n in uncovered) / len(uncovered), 4) if uncovered else None
            for method, found in rankings.items()}}
        return result

    overall = block(groups.pop("overall"))
    return {"overall": overall, "per_type": {label: block(numbers) for label, numbers in sorted(groups.items())}}


def nil_accuracy(mentions: Sequence[Mention], tops: list[tuple[str, float, str] | None],
                 threshold: float | None) -> float:
    """Accuracy over all mentions of the top links ``(kg_id, score, match)`` when vector-only links below
    ``threshold`` become NIL (a NIL is right for a mention whose gold id is in no KG node)."""
    right = 0
    for mention, top in zip(mentions, tops):
        if top is not None and threshold is not None and top[2] == "vector" and top[1] < threshold:
            top = None
        right += (top is None) if not mention.gold else (top is not None and top[0] in mention.gold)
    return right / len(mentions) if mentions else 0.0


def choose_threshold(model: Any, words: list[list[str]], mentions: Sequence[Mention]) -> dict[str, Any]:
    """The NIL threshold (of `THRESHOLDS`; ties: the lowest) with the best `nil_accuracy` on these (devel) mentions."""
    ids = model.entity_index.kg_ids
    tops = [(ids[c[0][0]], c[0][1], c[0][2]) if c else None for c in raw_links(model, words, mentions, 1, True, None)]
    table = {str(t): round(nil_accuracy(mentions, tops, t), 4) for t in THRESHOLDS}
    best = max(THRESHOLDS, key=lambda t: (table[str(t)], -(t if t is not None else -1.0)))
    return {"chosen_on": "BioRED devel", "value": best, "accuracy_by_threshold": table}


def evaluate_split(mentions: list[Mention], words: list[list[str]], names: NameLinkers, model: Any | None,
                   threshold: float | None) -> dict[str, Any]:
    """Every linker on gold spans of one split."""
    rankings = {method: [names.rank(method, m.text, m.label) for m in mentions] for method in METHODS[:2]}
    if model is not None:
        for method, use_names in (("vectors", False), ("model", True)):
            rankings[method] = model_rankings(model, words, mentions, use_names, threshold if use_names else None)
    return score(mentions, rankings)


def end_to_end(texts: list[str], words: list[list[str]], mentions: list[Mention], names: NameLinkers, model: Any,
               threshold: float | None) -> dict[str, Any]:
    """Linkers on the model's predicted spans: a gold mention is hit when a prediction has its offsets, its label
    and a gold id; scored like `score` over all gold mentions (a missed span is a miss for every linker)."""
    labels = sorted(set(TYPE_LABELS.values()))
    saved, model.config.linking_nil_threshold = model.config.linking_nil_threshold, threshold
    try:
        predictions = [model.predict_entities(text, labels, link=True) for text in tqdm(texts, desc="predicting")]
    finally:
        model.config.linking_nil_threshold = saved
    matched = [next((p for p in predictions[m.document] if (p["start"], p["end"], p["label"]) == (m.start, m.end,
                                                                                                   m.label)), None)
               for m in mentions]
    found = [n for n, prediction in enumerate(matched) if prediction is not None]
    rankings: dict[str, list[list[str]]] = {method: [[] for _ in mentions] for method in METHODS}
    for n in found:
        for method in METHODS[:2]:
            rankings[method][n] = names.rank(method, matched[n]["text"], matched[n]["label"])
        rankings["model"][n] = [matched[n]["kg_id"]] if matched[n].get("kg_id") else []
    for n, ranked in zip(found, model_rankings(model, words, [mentions[n] for n in found], False, None)):
        rankings["vectors"][n] = ranked
    result = score(mentions, rankings)
    result["spans_found"] = round(len(found) / len(mentions), 4) if mentions else None
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Example: python -m "
                                     "benchmarks.linking_curated --model runs/demo/model")
    parser.add_argument("--model", default=None, help="a KoGNER model saved with its entity index (none: name "
                        "linkers and coverage only)")
    parser.add_argument("--biored", default=str(BIORED_DIR), help="folder with devel.pubtator and test.pubtator")
    parser.add_argument("--lexicon-cache", default=None, help="lexicon cache folder (default ~/.cache/kogner)")
    parser.add_argument("--extend-index", action="store_true",
                        help="add the biokg-lite lexicon to the model's index first, as train.py saves it now (for "
                             "models saved with the teacher's entities only)")
    parser.add_argument("--max-documents", type=int, default=None, help="first N documents per split (smoke runs)")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the predicted-span evaluation")
    parser.add_argument("--output", default=str(RESULTS_DIR / "linking_curated.json"), help="results JSON")
    args = parser.parse_args(argv)
    record = provenance(command_line("linking_curated", argv))
    index = lexicon_index(args.lexicon_cache)
    lookup = identifier_lookup(index.kg_ids, index.xrefs)
    names = NameLinkers(index)
    splits = {}
    for split in ("devel", "test"):
        path = Path(args.biored) / f"{split}.pubtator"
        if not path.is_file():
            raise SystemExit(f"--biored {args.biored}: {path.name} not found (BioRED PubTator files expected)")
        texts, words, mentions = read_split(path, lookup)
        if args.max_documents is not None:
            texts, words = texts[: args.max_documents], words[: args.max_documents]
            mentions = [m for m in mentions if m.document < args.max_documents]
        splits[split] = (texts, words, mentions)
    model = None
    if args.model:
        from modeling_kogner import KoGNERModel

        model = KoGNERModel.from_pretrained(args.model).eval()
        if model.entity_index is None:
            raise SystemExit(f"--model {args.model}: no entity index (entity_index.json); train it with a teacher")
        if args.extend_index:
            from kogner.training.linking_heads import full_entity_index

            model.entity_index = full_entity_index(model.entity_index, "biokg-lite", args.lexicon_cache)
    threshold = choose_threshold(model, splits["devel"][1], splits["devel"][2]) if model is not None else None
    value = threshold["value"] if threshold else None
    results: dict[str, Any] = {**record, "model": args.model, "index_extended_with_lexicon": args.extend_index,
                               "index_entities": len(model.entity_index) if model is not None else None,
                               "lexicon_entities": len(index), "nil_threshold": threshold,
                               "lexicon_xrefs_per_source": xref_report(index.kg_ids, index.xrefs)}
    results["devel"] = evaluate_split(splits["devel"][2], splits["devel"][1], names, model, value)
    test = evaluate_split(splits["test"][2], splits["test"][1], names, model, value)
    results.update(overall=test["overall"], per_type=test["per_type"])
    if model is not None and not args.no_end_to_end:
        results["end_to_end"] = end_to_end(*splits["test"], names, model, value)
    write_json(args.output, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
