"""Train/validation/test splits of generated sentences: seeded random, or entity-disjoint.

``random``: a seeded permutation cut by the fractions (the original split; held-out sentences share most of their
KG entities with training sentences, so their score measures memorisation as much as recognition).

``entity-disjoint``: no KG entity (``kge`` id) of a test or validation sentence occurs in a training sentence, nor
in the other held-out split. Entities are *held out* sentence by sentence, in a seeded random order:

* a candidate sentence is taken for a held-out split when none of its entities belongs to another split and
  every entity not yet held out is mentioned in at most ``MAX_HELD_OUT_ENTITY_SENTENCES`` sentences of the whole
  set (hubs such as "Homo sapiens" stay in training: holding them out would drop every sentence that names them);
* taking it holds out all its entities; every sentence whose entities are all held out for that split joins it;
* candidates are stratified by the set of entity types a sentence mentions: each type combination contributes at
  most its share of the split, so the held-out splits keep roughly the type mix of the whole set;
* test is filled first, then validation, each up to its fraction (a target, not a guarantee: with few rare
  entities a split comes out smaller).

A sentence whose entities straddle two splits is dropped (the count is logged); a sentence without any ``kge``
link stays in training. Types that only occur next to a hub (cell lines, always named with their organism) are
rare in the held-out splits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Sequence

import numpy as np

SPLIT_STRATEGIES = ("random", "entity-disjoint")
MAX_HELD_OUT_ENTITY_SENTENCES = 2


def random_assignment(count: int, validation: float, test: float, seed: int) -> list[str]:
    """Split name of each of ``count`` sentences: a seeded permutation cut into test, validation, train."""
    order = np.random.default_rng(seed).permutation(count)
    n_test, n_validation = round(count * test), round(count * validation)
    names = ["train"] * count
    for position, index in enumerate(order):
        if position < n_test:
            names[index] = "test"
        elif position < n_test + n_validation:
            names[index] = "validation"
    return names


def entity_disjoint_assignment(records: Sequence[dict[str, Any]], validation: float, test: float, seed: int,
                               max_entity_sentences: int = MAX_HELD_OUT_ENTITY_SENTENCES) -> list[str]:
    """Split name of each record (``train``, ``validation``, ``test`` or ``dropped``); see the module docstring."""
    entities = [sorted({link["kg_id"] for link in record.get("kge") or []}) for record in records]
    kinds = [tuple(sorted({span["label"] for span in record["ner"]})) for record in records]
    frequency = Counter(entity for ids in entities for entity in ids)
    kind_sizes = Counter(kinds)
    sentences_of: dict[str, list[int]] = defaultdict(list)
    for index, ids in enumerate(entities):
        for entity in ids:
            sentences_of[entity].append(index)
    order = np.random.default_rng(seed).permutation(len(records))
    held: dict[str, str] = {}
    for split, fraction in (("test", test), ("validation", validation)):
        target, taken, taken_per_kind = round(len(records) * fraction), 0, Counter()
        inside: Counter = Counter()
        for index in order:
            if taken >= target:
                break
            ids = entities[index]
            if not ids or taken_per_kind[kinds[index]] >= fraction * kind_sizes[kinds[index]]:
                continue
            if any(held.get(entity, split) != split for entity in ids):
                continue
            new = [entity for entity in ids if entity not in held]
            if not new or any(frequency[entity] > max_entity_sentences for entity in new):
                continue
            for entity in new:
                held[entity] = split
                for other in sentences_of[entity]:
                    inside[other] += 1
                    if inside[other] == len(entities[other]):
                        taken += 1
                        taken_per_kind[kinds[other]] += 1
    names = []
    for ids in entities:
        splits = {held.get(entity, "train") for entity in ids} or {"train"}
        names.append(splits.pop() if len(splits) == 1 else "dropped")
    return names
