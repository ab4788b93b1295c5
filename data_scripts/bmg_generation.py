"""BMG-style NER data generation (paper, appendix B): sample KG relation rows, have a generator write
a sentence with both entities, and keep only answers that pass the sanity check.

* `sample_relation_rows` - per relation type, a seeded subsample of edges (a rate or a count).
* generators - ``template`` (offline, deterministic; `data_scripts.bmg_templates`) and ``llm`` (any
  OpenAI-compatible chat-completions endpoint; `data_scripts.llm_backend`), built by `make_generator`.
  Both answer in the paper's JSON: ``{"tokenized_text": "...", "ner": [[start, end, "type"], ...]}``.
* `sanity_check` - re-tokenizes the sentence with the project's word splitter, finds the FIRST
  occurrence of each entity's words (the row's two, plus any extra entities a generator added) and
  emits ``ner`` + ``kge`` spans; failures are dropped with a
  reason from `DROP_REASONS`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from data_scripts.kg_types import KnowledgeGraph
from data_scripts.words import word_list

DROP_REASONS: dict[str, str] = {
    "generator_error": "the generator failed for this row (e.g. HTTP errors after all retries)",
    "empty": "the answer or its sentence is empty",
    "bad_json": "the answer is not valid JSON",
    "bad_structure": "JSON without a string 'tokenized_text' or a list 'ner' of [start, end, type]",
    "wrong_type": "the answer's 'ner' types do not include an entity's KG type",
    "entity_not_found": "an entity's words (name or synonym) do not occur in the sentence",
    "overlapping_entities": "the first occurrences of two of the sentence's entities overlap",
}
"""Why a generated record is dropped -> explanation (keys are the counted reasons)."""


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


@dataclass
class CheckResult:
    record: dict[str, Any] | None
    reason: str | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


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


def _normalize_type(label: str) -> str:
    return " ".join(label.replace("_", " ").replace("-", " ").casefold().split())


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


def _parse_answer(content: str) -> Any:
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    return json.loads(fenced.group(1) if fenced else text)


def sanity_check(answer: GeneratorAnswer) -> CheckResult:
    """Turn a generator answer into a schema record, or say why it is dropped (paper, appendix B.2).

    The sentence (``tokenized_text``; a list of words is joined by spaces) is re-split with the
    project's word splitter. For each entity the first occurrence of its words is searched
    (case-insensitive): the surface the generator reported, then the KG name, then its synonyms.
    Labels and KG ids come from the KG row and the extras; the answer's ``ner`` must name each entity's type.
    """
    if answer.error is not None:
        return CheckResult(None, "generator_error", answer.error)
    if answer.content is None or not answer.content.strip():
        return CheckResult(None, "empty", "no content")
    try:
        parsed = _parse_answer(answer.content)
    except json.JSONDecodeError as error:
        return CheckResult(None, "bad_json", f"{error}: {answer.content[:200]!r}")
    if not isinstance(parsed, dict):
        return CheckResult(None, "bad_structure", f"expected a JSON object, got {type(parsed).__name__}")
    text = parsed.get("tokenized_text")
    if isinstance(text, list) and all(isinstance(word, str) for word in text):
        text = " ".join(text)
    if not isinstance(text, str):
        return CheckResult(None, "bad_structure", f"'tokenized_text' is {type(text).__name__}, expected a string")
    tokens = word_list(text)
    if not tokens:
        return CheckResult(None, "empty", "the sentence has no words")
    ner = parsed.get("ner")
    if not isinstance(ner, list) or not all(
        isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[2], str) for item in ner
    ):
        return CheckResult(None, "bad_structure", f"'ner' is {ner!r:.200}, expected [[start, end, 'type'], ...]")
    answer_types = {_normalize_type(item[2]) for item in ner}

    spans: list[tuple[int, int, str, str]] = []
    entities = answer.entities()
    surfaces = [*answer.surfaces, *[None] * (len(entities) - len(answer.surfaces))]
    for (kg_id, name, kg_type, synonyms), surface in zip(entities, surfaces):
        if _normalize_type(kg_type) not in answer_types:
            return CheckResult(None, "wrong_type", f"{name!r} is a {kg_type!r}; the answer's types: {sorted(answer_types)}")
        candidates = ([surface] if surface else []) + [name, *synonyms]
        for candidate in candidates:
            entity_tokens = word_list(candidate)
            start = find_first_occurrence(tokens, entity_tokens)
            if start is not None:
                spans.append((start, start + len(entity_tokens) - 1, kg_type, kg_id))
                break
        else:
            return CheckResult(None, "entity_not_found", f"{name!r} not in {text[:200]!r}")
    spans.sort()
    for (start_a, end_a, _, _), (start_b, end_b, _, _) in zip(spans, spans[1:]):
        if start_b <= end_a:  # sorted by start: any overlap shows between neighbours
            return CheckResult(None, "overlapping_entities", f"spans [{start_a}, {end_a}] and [{start_b}, {end_b}]")
    record = {
        "tokens": tokens,
        "ner": [{"start": start, "end": end, "label": label} for start, end, label, _ in spans],
        "kge": [{"start": start, "end": end, "kg_id": kg_id} for start, end, _, kg_id in spans],
    }
    return CheckResult(record)


def make_generator(name: str, seed: int = 0, **options: Any) -> Generator:
    """``template`` (options: ``partners``, the sampled rows composite sentences draw extra entities from;
    see `data_scripts.bmg_templates.TemplateGenerator`) or ``llm`` (options: see
    `data_scripts.llm_backend.LLMGenerator`)."""
    if name == "template":
        from data_scripts.bmg_templates import TemplateGenerator

        return TemplateGenerator(seed=seed, **options)
    if name == "llm":
        from data_scripts.llm_backend import LLMGenerator

        return LLMGenerator(**options)
    raise ValueError(f"unknown generator {name!r}: expected 'template' or 'llm'")
