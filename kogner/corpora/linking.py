"""Link corpus mentions to knowledge-graph entities by normalised exact name or synonym, type-compatible only.

A mention links to an entity when the mention's words, case-folded and joined by single spaces
(`kogner.words.normalize_mention`), equal the entity's name or one of its synonyms normalised the same way, and
the entity's KG type is one the mention's label may denote (`LABEL_KG_TYPES`: a "disease" mention may be a KG
disease or phenotype, a "protein" a gene, ...). Among several matches the label's first KG type wins, then a name
match beats a synonym match, then the lower entity row. Linked spans get ``kge`` entries, so the training
collator gives them the distillation term as it does for generated sentences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from datasets import Dataset

from kogner.kg.graph import KnowledgeGraph
from kogner.schema import NER_FEATURES
from kogner.words import normalize_mention

LABEL_KG_TYPES: dict[str, tuple[str, ...]] = {
    # KG types name themselves (generated sentences use them as labels)
    "anatomy": ("anatomy",), "cell line": ("cell line",), "cell type": ("cell type",), "chemical": ("chemical",),
    "disease": ("disease", "phenotype"), "gene": ("gene",), "organism": ("organism",),
    "phenotype": ("phenotype", "disease"),
    # corpus prompts (kogner.corpora.registry.CORPUS_TAGS) -> the KG types their mentions can be
    "protein": ("gene",), "gene or gene product": ("gene",), "DNA": ("gene",), "RNA": ("gene",),
}
"""Entity label -> KG entity types it may link to, best first. Labels not listed (e.g. "cellular component",
"protein complex", "sequence feature": no such KG type) are never linked."""


def entity_table(source: Any) -> tuple[list[str], list[str], list[str], list[list[str]]]:
    """``(kg_ids, names, types, synonyms)`` of a `KnowledgeGraph` or a `kogner.teacher.Teacher` (no synonyms)."""
    if isinstance(source, KnowledgeGraph):
        return source.node_ids, source.names, source.types, source.synonyms
    for attribute in ("kg_ids", "names", "types"):
        if not hasattr(source, attribute):
            raise TypeError(f"link_corpus needs a KnowledgeGraph or a Teacher, got {type(source).__name__}")
    return source.kg_ids, source.names, source.types, getattr(source, "synonyms", None) or [[] for _ in source.kg_ids]


def name_lookup(names: Sequence[str], synonyms: Sequence[Sequence[str]]) -> dict[str, list[tuple[int, int]]]:
    """Normalised text -> ``[(is_synonym, row)]`` of every entity name and synonym."""
    lookup: dict[str, list[tuple[int, int]]] = {}
    for row, name in enumerate(names):
        for is_synonym, text in [(0, name)] + [(1, synonym) for synonym in synonyms[row]]:
            key = normalize_mention(text)
            if key and (is_synonym, row) not in lookup.get(key, ()):
                lookup.setdefault(key, []).append((is_synonym, row))
    return lookup


def link_corpus(
    dataset: Dataset, source: Any, label_types: Mapping[str, Sequence[str]] | None = None
) -> tuple[Dataset, dict[str, Any]]:
    """Add ``kge`` links to the ``ner`` spans of ``dataset`` that name an entity of ``source`` of a compatible type.

    Args:
        dataset: schema dataset (``tokens``, ``ner``, ``kge``; other columns such as ``corpus`` are kept).
        source: a `KnowledgeGraph` (names and synonyms) or a built `Teacher` (names only).
        label_types: label -> KG types it may link to (default `LABEL_KG_TYPES`).

    Returns:
        The dataset with ``kge`` = the existing links plus the new ones (a span already linked keeps its link), and
        a report: mentions, linked, share, ambiguous (several entities matched) and the same per label.
    """
    label_types = LABEL_KG_TYPES if label_types is None else label_types
    kg_ids, names, types, synonyms = entity_table(source)
    lookup = name_lookup(names, synonyms)
    totals: Counter[str] = Counter()
    linked: Counter[str] = Counter()
    ambiguous: Counter[str] = Counter()
    links_column = []
    for tokens, spans, existing in zip(dataset["tokens"], dataset["ner"], dataset["kge"]):
        links = list(existing or [])
        taken = {(link["start"], link["end"]) for link in links}
        for span in spans:
            label = span["label"]
            totals[label] += 1
            allowed = list(label_types.get(label, ()))
            if (span["start"], span["end"]) in taken:
                linked[label] += 1
                continue
            candidates = [(allowed.index(types[row]), is_synonym, row)
                          for is_synonym, row in lookup.get(normalize_mention(" ".join(
                              tokens[span["start"] : span["end"] + 1])), ())
                          if types[row] in allowed]
            if not candidates:
                continue
            ambiguous[label] += len({row for _, _, row in candidates}) > 1
            links.append({"start": span["start"], "end": span["end"], "kg_id": kg_ids[min(candidates)[2]]})
            taken.add((span["start"], span["end"]))
            linked[label] += 1
        links_column.append(sorted(links, key=lambda link: (link["start"], link["end"])))
    columns = dataset.column_names
    dataset = dataset.remove_columns("kge").add_column("kge", links_column, feature=NER_FEATURES["kge"])
    dataset = dataset.select_columns(columns)  # the original column order
    return dataset, coverage_report(totals, linked, ambiguous)


def coverage_report(totals: Counter, linked: Counter, ambiguous: Counter) -> dict[str, Any]:
    """Mentions, linked mentions and their share, overall and per label."""
    mentions, done = sum(totals.values()), sum(linked.values())
    return {
        "mentions": mentions,
        "linked": done,
        "share_linked": round(done / mentions, 4) if mentions else 0.0,
        "ambiguous": sum(ambiguous.values()),
        "per_label": {
            label: {"mentions": total, "linked": linked[label],
                    "share_linked": round(linked[label] / total, 4), "ambiguous": ambiguous[label]}
            for label, total in sorted(totals.items())
        },
    }


def link_mentions(
    dataset: Dataset, kg: KnowledgeGraph, require_type_match: bool = False
) -> tuple[Dataset, dict[str, Any]]:
    """Replace ``kge`` with links of mentions whose normalised text equals a KG name or synonym, of any type.

    When several nodes match, a node whose type equals the mention's label wins, then a name match beats a
    synonym match, then the lower node row; with ``require_type_match`` only same-type nodes link. Prefer
    `link_corpus`, which links only to the KG types a label may denote.
    """
    kinds = sorted(set(kg.types))
    label_types = {label: ([label] if require_type_match else [label, *[t for t in kinds if t != label]])
                   for spans in dataset["ner"] for label in {span["label"] for span in spans}}
    emptied = dataset.select_columns(list(NER_FEATURES)).map(lambda _: {"kge": []})
    linked, report = link_corpus(emptied, kg, label_types)
    for per_label in report["per_label"].values():
        del per_label["ambiguous"]
    return linked, report
