"""Link corpus mentions to knowledge-graph nodes by normalised name or synonym."""

from __future__ import annotations

from collections import Counter
from typing import Any

from datasets import Dataset

from kogner.kg.graph import KnowledgeGraph
from kogner.schema import NER_FEATURES
from kogner.words import normalize_mention


def link_mentions(
    dataset: Dataset, kg: KnowledgeGraph, require_type_match: bool = False
) -> tuple[Dataset, dict[str, Any]]:
    """Attach ``kge`` links to ``ner`` mentions whose normalized text equals a KG name or synonym.

    Normalization: the project's word splitting, case-folded, words joined by spaces. When several
    nodes match, a node whose type equals the mention's label wins, then a name match beats a
    synonym match, then the lower node row. With ``require_type_match`` only same-type nodes link.
    Existing ``kge`` entries are replaced. Returns the new dataset and a report with the share linked.
    """
    lookup: dict[str, list[tuple[int, int]]] = {}  # normalized text -> [(is_synonym, row)]
    for row in range(kg.num_nodes):
        for is_synonym, text in [(0, kg.names[row])] + [(1, synonym) for synonym in kg.synonyms[row]]:
            key = normalize_mention(text)
            if key:
                lookup.setdefault(key, []).append((is_synonym, row))

    mentions = linked = ambiguous = 0
    per_label_total: Counter[str] = Counter()
    per_label_linked: Counter[str] = Counter()
    records = []
    for example in dataset.select_columns(list(NER_FEATURES)).to_list():
        links = []
        for span in example["ner"]:
            mentions += 1
            per_label_total[span["label"]] += 1
            candidates = lookup.get(normalize_mention(" ".join(example["tokens"][span["start"] : span["end"] + 1])), [])
            if require_type_match:
                candidates = [c for c in candidates if kg.types[c[1]] == span["label"]]
            if not candidates:
                continue
            if len({row for _, row in candidates}) > 1:
                ambiguous += 1
            _, _, best_row = min((kg.types[row] != span["label"], is_synonym, row) for is_synonym, row in candidates)
            links.append({"start": span["start"], "end": span["end"], "kg_id": kg.node_ids[best_row]})
            linked += 1
            per_label_linked[span["label"]] += 1
        records.append({**example, "kge": links})
    report = {
        "mentions": mentions,
        "linked": linked,
        "share_linked": linked / mentions if mentions else 0.0,
        "ambiguous": ambiguous,
        "per_label": {
            label: {"mentions": total, "linked": per_label_linked[label], "share_linked": per_label_linked[label] / total}
            for label, total in sorted(per_label_total.items())
        },
    }
    return Dataset.from_list(records, features=NER_FEATURES), report
