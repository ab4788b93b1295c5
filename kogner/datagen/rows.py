"""BMG-style NER data generation (paper, appendix B): sample KG relation rows, have a generator write
a sentence with both entities, and keep only answers that pass the sanity check.

* `sample_relation_rows` - per relation type, a seeded subsample of edges (a rate or a count).
* generators - ``template`` (offline, deterministic; `kogner.datagen.templates`) and ``llm`` (any
  OpenAI-compatible chat-completions endpoint; `kogner.datagen.llm`), built by `make_generator`.
  Both answer in the paper's JSON: ``{"tokenized_text": "...", "ner": [[start, end, "type"], ...]}``.
* `sanity_check` - re-tokenizes the sentence with the project's word splitter, finds the FIRST
  occurrence of each entity's words (the row's two, plus any extra entities a generator added) and
  emits ``ner`` + ``kge`` spans; failures are dropped with a
  reason from `DROP_REASONS`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from kogner.kg.graph import KnowledgeGraph
from kogner.words import word_list

@dataclass(frozen=True)
class RelationRow:
    """One sampled KG edge: both entities with name, type, KG id and synonyms, and the relation."""

    row_id: str
    relation: str
    head_id: str
    head_name: str
    head_type: str
    tail_id: str
    tail_name: str
    tail_type: str
    head_synonyms: tuple[str, ...] = ()
    tail_synonyms: tuple[str, ...] = ()

    def entities(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        """[(kg_id, name, type, synonyms)] for head then tail."""
        return [
            (self.head_id, self.head_name, self.head_type, self.head_synonyms),
            (self.tail_id, self.tail_name, self.tail_type, self.tail_synonyms),
        ]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "head_synonyms": list(self.head_synonyms), "tail_synonyms": list(self.tail_synonyms)}


@dataclass
class GeneratorAnswer:
    """What a generator returned for a row: raw text (JSON expected) or the error that stopped it.

    ``extras`` are entities the generator wrote besides the row's two (the template generator's
    composite sentences), as ``(kg_id, name, type, synonyms)``. ``surfaces`` are the exact strings used
    for head, tail, then each extra, when the generator knows them (the template generator, which may
    write a synonym or a lowercased name); they are searched first.
    """

    row: RelationRow
    content: str | None
    error: str | None = None
    surfaces: tuple[str | None, ...] = (None, None)
    extras: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()

    def entities(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        """[(kg_id, name, type, synonyms)]: the row's head and tail, then the extras."""
        return [*self.row.entities(), *self.extras]


class Generator(Protocol):
    """A sentence generator; ``settings()`` goes into the dataset card and the resume check."""

    name: str

    def settings(self) -> dict[str, Any]: ...

    def generate(self, rows: Sequence[RelationRow]) -> Iterator[GeneratorAnswer]: ...


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def clean_entity_name(name: str) -> str:
    """Whitespace collapsed, surrounding quotes/brackets and separators removed."""
    return re.sub(r"\s+", " ", name).strip().strip("\"'`;,|").strip()


def sample_relation_rows(
    kg: KnowledgeGraph,
    rate: float | None = None,
    per_relation: int | None = None,
    seed: int = 0,
) -> list[RelationRow]:
    """Per relation type, a seeded random subsample of its edges as `RelationRow`s.

    A relation type is the relation name together with the head and tail entity types (``is a``
    between chemicals and ``is a`` between cell types are sampled separately, as BioMedGraphica's
    typed relations such as ``Drug-Protein`` are). Give ``rate`` (fraction of each relation's edges, at least one row per relation; the paper
    keeps about 1e-4) or ``per_relation`` (at most this many rows per relation). Edges whose two
    entities have an empty or identical name (after normalization) are skipped and replaced by
    other edges. Each relation has its own random stream, so adding a relation leaves the others'
    samples unchanged. Rows come ordered by relation type, then edge index.
    """
    if (rate is None) == (per_relation is None):
        raise ValueError("give exactly one of rate (0 < rate <= 1) or per_relation (>= 1)")
    if rate is not None and not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    if per_relation is not None and per_relation < 1:
        raise ValueError(f"per_relation must be >= 1, got {per_relation}")
    head_types = np.asarray(kg.types, dtype=object)[kg.edge_heads]
    tail_types = np.asarray(kg.types, dtype=object)[kg.edge_tails]
    strata = pd.Series(kg.edge_relations, dtype=object) + "\x1f" + head_types + "\x1f" + tail_types
    codes, relation_types = pd.factorize(strata, sort=True)
    rows: list[RelationRow] = []
    for code, relation_type in enumerate(relation_types):
        relation = relation_type.split("\x1f")[0]
        edge_indices = np.flatnonzero(codes == code)
        wanted = per_relation if per_relation is not None else max(1, round(len(edge_indices) * rate))
        rng = np.random.default_rng([seed, _stable_int(relation_type)])
        chosen: list[int] = []
        for edge in rng.permutation(edge_indices):
            head, tail = int(kg.edge_heads[edge]), int(kg.edge_tails[edge])
            head_name, tail_name = clean_entity_name(kg.names[head]), clean_entity_name(kg.names[tail])
            if not word_list(head_name) or not word_list(tail_name) or head_name.casefold() == tail_name.casefold():
                continue
            chosen.append(int(edge))
            if len(chosen) == wanted:
                break
        for edge in sorted(chosen):
            head, tail = int(kg.edge_heads[edge]), int(kg.edge_tails[edge])
            rows.append(
                RelationRow(
                    row_id=f"{relation}#{edge}",
                    relation=str(relation),
                    head_id=kg.node_ids[head],
                    head_name=clean_entity_name(kg.names[head]),
                    head_type=kg.types[head],
                    tail_id=kg.node_ids[tail],
                    tail_name=clean_entity_name(kg.names[tail]),
                    tail_type=kg.types[tail],
                    head_synonyms=tuple(clean_entity_name(s) for s in kg.synonyms[head] if clean_entity_name(s)),
                    tail_synonyms=tuple(clean_entity_name(s) for s in kg.synonyms[tail] if clean_entity_name(s)),
                )
            )
    return rows


def user_prompt(row: RelationRow) -> str:
    """The paper's user prompt: ``{Entity1 (Type1)}-----{Entity2 (Type2)}``."""
    return f"{row.head_name} ({row.head_type})-----{row.tail_name} ({row.tail_type})"


def find_first_occurrence(tokens: Sequence[str], entity_tokens: Sequence[str]) -> int | None:
    """Index of the first position where ``entity_tokens`` occur in ``tokens`` (case-insensitive)."""
    if not entity_tokens:
        return None
    folded = [token.casefold() for token in tokens]
    target = [token.casefold() for token in entity_tokens]
    width = len(target)
    for start in range(len(folded) - width + 1):
        if folded[start : start + width] == target:
            return start
    return None
