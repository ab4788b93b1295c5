"""The offline ``template`` generator: abstract-like sentences about a KG relation row, deterministic by seed.

Variety is the point (a student must learn entities, not templates): many patterns per entity-type
pair, generic patterns for any pair, optional opening and closing clauses, random statistics, and
entity surfaces that are sometimes a synonym or lowercased. Each row gets its own random stream
seeded by ``(seed, row_id)``, so output does not depend on order, batching or resumption.

About a quarter of the rows (``COMPOSITE_SHARE``, chosen by seed and row id) get a *composite*
sentence instead: a pattern with typed slots (`COMPOSITE_PATTERNS`) that holds the row's two entities
and one or two *partner* entities drawn (seeded) from the other sampled rows, each annotated with its
own type and KG id. These put entities into the contexts real abstracts use and relation rows alone
never produce, above all a chemical glued to a disease or phenotype by a hyphenated modifier
("cisplatin-induced nephrotoxicity", "X-resistant Y cells", "BRCA1 carriers", "anti-X"). The partner
pool is fixed when the generator is built (``partners``), so a row's sentence does not depend on
which rows a call to ``generate`` receives.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any

from kogner.words import split_words, word_list

from .patterns import (
    _COMMON_NOUN_FAMILIES, _FAMILY_OF_TYPE, CLOSERS, COMPOSITE_PATTERNS, GENERIC_PATTERNS, HIERARCHY_PATTERNS,
    OPENERS, PAIR_PATTERNS, PART_OF_PATTERNS, SLOT_FAMILY,
)
from .rows import GeneratorAnswer, RelationRow, find_first_occurrence

Entity = tuple[str, str, str, tuple[str, ...]]
"""(kg_id, name, type, synonyms), as `RelationRow.entities` gives them."""

COMPOSITE_SHARE = 0.25
"""Fraction of rows (chosen by seed and row id) written as composite sentences when a pattern fits."""
TEMPLATE_VERSION = 3
"""Bump whenever patterns or rendering change: resumed runs compare it and refuse to mix outputs."""
_PLACEHOLDER = re.compile(r"\{([A-Z]+)\}")
_MAX_ATTEMPTS = 8


def _family(entity_type: str) -> str:
    return _FAMILY_OF_TYPE.get(entity_type.casefold(), "entity")


def _statistic(name: str, rng: random.Random) -> str:
    if name == "N":
        return str(rng.choice([rng.randint(5, 60), rng.randint(60, 900), rng.randint(900, 12000)]))
    if name == "P":
        return rng.choice([f"0.0{rng.randint(1, 4)}", f"{rng.randint(1, 9)}e-{rng.randint(3, 9)}", "0.001", "0.003"])
    if name == "FOLD":
        return f"{rng.uniform(1.5, 12):.1f}"
    if name == "PCT":
        return str(rng.randint(8, 92))
    if name == "OR":
        return f"{rng.uniform(1.1, 4.8):.2f}"
    if name == "CI":
        low = rng.uniform(1.01, 1.6)
        return f"{low:.2f}-{low + rng.uniform(0.4, 3):.2f}"
    if name == "YEAR":
        return str(rng.randint(1965, 2023))
    if name == "FIG":
        return str(rng.randint(1, 6)) + rng.choice(["", "A", "B", "C"])
    raise KeyError(f"unknown template placeholder {{{name}}}")


def _lower_first_word(text: str) -> str:
    """'Mutations in' -> 'mutations in' after an opener; acronyms ('DNA', 'mRNA') stay."""
    match = re.match(r"([A-Z])([a-z][\w-]*)", text)
    return text[0].lower() + text[1:] if match else text


def _choose_surface(name: str, synonyms: Sequence[str], family: str, rng: random.Random) -> str:
    draw = rng.random()
    usable = [s for s in synonyms if word_list(s) and len(s) <= 80]
    if draw < 0.18 and usable:
        return rng.choice(usable)
    if draw < 0.33:
        return name.lower()
    return name


def _slot_families(pattern: str) -> list[str]:
    return [SLOT_FAMILY[key] for key in _PLACEHOLDER.findall(pattern) if key in SLOT_FAMILY]


def _fill(text: str, rng: random.Random) -> str:
    return _PLACEHOLDER.sub(lambda m: _statistic(m.group(1), rng), text)


class TemplateGenerator:
    """Offline generator: biomedical-abstract-like sentences from many patterns, deterministic by seed.

    ``partners`` are the rows whose entities composite sentences may add (normally every sampled row);
    without them, each call to `generate` draws partners from the rows it receives.
    """

    name = "template"

    def __init__(self, seed: int = 0, partners: Sequence[RelationRow] | None = None) -> None:
        self.seed = seed
        self._partners_by_family = self._index_partners(partners) if partners is not None else None

    @staticmethod
    def _index_partners(rows: Sequence[RelationRow]) -> dict[str, list[Entity]]:
        """Distinct entities of ``rows`` by pattern family, in first-seen order (deterministic)."""
        by_family: dict[str, list[Entity]] = {}
        seen: set[str] = set()
        for row in rows:
            for entity in row.entities():
                if entity[0] not in seen:
                    seen.add(entity[0])
                    by_family.setdefault(_family(entity[2]), []).append(entity)
        return by_family

    def settings(self) -> dict[str, Any]:
        total = sum(len(p) for p in PAIR_PATTERNS.values()) + len(HIERARCHY_PATTERNS) + len(PART_OF_PATTERNS)
        return {
            "generator": self.name,
            "version": TEMPLATE_VERSION,
            "seed": self.seed,
            "patterns": total + len(GENERIC_PATTERNS),
            "composite_patterns": len(COMPOSITE_PATTERNS),
            "composite_share": COMPOSITE_SHARE,
            "openers": len(OPENERS),
            "closers": len(CLOSERS),
        }

    def _patterns_for(self, row: RelationRow) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
        """(specific, generic) patterns as (pattern, swapped): swapped means {A} is the tail."""
        head_family, tail_family = _family(row.head_type), _family(row.tail_type)
        relation = row.relation.casefold()
        specific: list[tuple[str, bool]] = []
        if re.search(r"is_a|is a|subclass|subtype|parent|child", relation):
            specific = [(p, False) for p in HIERARCHY_PATTERNS]
        elif "part_of" in relation or "part of" in relation:
            specific = [(p, False) for p in PART_OF_PATTERNS]
        specific += [(p, False) for p in PAIR_PATTERNS.get((head_family, tail_family), [])]
        if head_family != tail_family:
            specific += [(p, True) for p in PAIR_PATTERNS.get((tail_family, head_family), [])]
        generic = [(p, False) for p in GENERIC_PATTERNS] + [(p, True) for p in GENERIC_PATTERNS]
        return specific, generic

    def _composite_patterns_for(self, row: RelationRow, partners: dict[str, list[Entity]]) -> list[str]:
        """Composite patterns with a slot for head and tail and enough partners for every other slot."""
        own = [_family(row.head_type), _family(row.tail_type)]
        fitting = []
        for pattern in COMPOSITE_PATTERNS:
            rest = _slot_families(pattern)
            if not all(family in rest for family in own) or (own[0] == own[1] and rest.count(own[0]) < 2):
                continue
            for family in own:
                rest.remove(family)
            # the row's own entities (normally in the pool) are never their own partners
            if all(len(partners.get(f, [])) - own.count(f) >= rest.count(f) for f in set(rest)):
                fitting.append(pattern)
        return fitting

    def _assign_slots(
        self, row: RelationRow, pattern: str, partners: dict[str, list[Entity]], rng: random.Random
    ) -> tuple[dict[str, str], list[Entity]]:
        """Slot -> role ('head', 'tail', 'extra0', ...) and the partner entities drawn for the extra roles."""
        slots = [key for key in _PLACEHOLDER.findall(pattern) if key in SLOT_FAMILY]
        free = list(slots)
        rng.shuffle(free)  # which of two same-family slots the row's entities take
        roles: dict[str, str] = {}
        for role, entity_type in (("head", row.head_type), ("tail", row.tail_type)):
            slot = next(s for s in free if SLOT_FAMILY[s] == _family(entity_type))
            free.remove(slot)
            roles[slot] = role
        taken_ids, taken_names = {row.head_id, row.tail_id}, {row.head_name.casefold(), row.tail_name.casefold()}
        extras: list[Entity] = []
        for slot in sorted(free, key=slots.index):
            candidates = [
                e for e in partners[SLOT_FAMILY[slot]] if e[0] not in taken_ids and e[1].casefold() not in taken_names
            ]
            entity = rng.choice(candidates)
            taken_ids.add(entity[0])
            taken_names.add(entity[1].casefold())
            roles[slot] = f"extra{len(extras)}"
            extras.append(entity)
        return roles, extras

    def render(
        self, row: RelationRow, rng: random.Random, partners: dict[str, list[Entity]] | None = None
    ) -> tuple[str, dict[str, tuple[int, str]], list[Entity]]:
        """One sentence, per entity role ('head', 'tail', 'extra0', ...) the (char start, surface) where it
        was written, and the partner entities of the extra roles (empty unless ``partners`` is given and a
        composite pattern fits the row)."""
        composite = self._composite_patterns_for(row, partners) if partners else []
        extras: list[Entity] = []
        if composite:
            pattern = rng.choice(composite)
            roles, extras = self._assign_slots(row, pattern, partners or {}, rng)
        else:
            specific, generic = self._patterns_for(row)
            pool = specific if specific and rng.random() < 0.8 else generic
            pattern, swapped = rng.choice(pool)
            roles = {"A": "tail" if swapped else "head", "B": "head" if swapped else "tail"}
        entity: dict[str, Entity] = {"head": row.entities()[0], "tail": row.entities()[1]}
        entity.update({f"extra{index}": extra for index, extra in enumerate(extras)})
        surfaces = {
            role: _choose_surface(name, synonyms, _family(entity_type), rng)
            for role, (_, name, entity_type, synonyms) in entity.items()
        }
        opener = _fill(rng.choice(OPENERS), rng) if rng.random() < 0.4 else ""
        if rng.random() < 0.35:
            closer = _fill(rng.choice(CLOSERS), rng)
            pattern = pattern[:-1] + closer if pattern.endswith(".") else pattern + closer
        if opener:
            pattern = _lower_first_word(pattern)

        text = opener + " " if opener else ""
        placed: dict[str, tuple[int, str]] = {}
        cursor = 0
        for match in _PLACEHOLDER.finditer(pattern):
            text += pattern[cursor : match.start()]
            key = match.group(1)
            if key in roles:
                role = roles[key]
                surface = surfaces[role]
                _, name, entity_type, _ = entity[role]
                family = _family(entity_type)
                if not text and surface != name and surface == name.lower() and family not in _COMMON_NOUN_FAMILIES:
                    surface = name  # a lowercased symbol ("per.c6", "ryr1") must not start a sentence
                if not text and family in _COMMON_NOUN_FAMILIES:
                    surface = surface[:1].upper() + surface[1:] if surface[:1].islower() else surface
                elif text and family == "phenotype" and re.match(r"[A-Z][a-z]", surface):
                    surface = surface[0].lower() + surface[1:]  # HPO names are sentence case: "Seizure"
                placed[role] = (len(text), surface)
                text += surface
            else:
                text += _statistic(key, rng)
            cursor = match.end()
        text += pattern[cursor:]
        return text, placed, extras

    def answer(self, row: RelationRow, partners: dict[str, list[Entity]] | None = None) -> GeneratorAnswer:
        """The paper's JSON answer for ``row``; retries patterns until first occurrences are the written ones.

        ``partners`` (entities by family) default to the pool given at construction. Whether the row
        gets a composite sentence is drawn from its own stream, so it does not depend on the pool.
        """
        if partners is None:
            partners = self._partners_by_family or {}
        rng = random.Random(f"{self.seed}:{row.row_id}")
        composite = random.Random(f"{self.seed}:{row.row_id}:composite").random() < COMPOSITE_SHARE
        for attempt in range(_MAX_ATTEMPTS):
            # a composite that keeps colliding (a partner inside a row entity) falls back to a plain sentence
            use_partners = partners if composite and attempt < _MAX_ATTEMPTS // 2 else None
            text, placed, extras = self.render(row, rng, use_partners)
            roles = ["head", "tail", *(f"extra{index}" for index in range(len(extras)))]
            types = [row.head_type, row.tail_type, *(extra[2] for extra in extras)]
            words = split_words(text)
            starts = {start: index for index, (_, start, _) in enumerate(words)}
            ner = []
            for role, entity_type in zip(roles, types):
                char_start, surface = placed[role]
                width = len(word_list(surface))
                ner.append([starts[char_start], starts[char_start] + width - 1, entity_type])
            tokens = [word for word, _, _ in words]
            found = [find_first_occurrence(tokens, word_list(placed[role][1])) for role in roles]
            spans = sorted((start, end) for start, end, _ in ner)
            disjoint = all(later[0] > earlier[1] for earlier, later in zip(spans, spans[1:]))
            if found == [span[0] for span in ner] and disjoint:
                break
        content = json.dumps({"tokenized_text": text, "ner": ner}, ensure_ascii=False)
        return GeneratorAnswer(row, content, surfaces=tuple(placed[role][1] for role in roles), extras=tuple(extras))

    def generate(self, rows: Sequence[RelationRow]) -> Iterator[GeneratorAnswer]:
        partners = self._partners_by_family if self._partners_by_family is not None else self._index_partners(rows)
        for row in rows:
            yield self.answer(row, partners)
