"""The paper's sanity check (appendix B.2): a generator answer becomes a schema record or a counted drop."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kogner.words import word_list

from .rows import GeneratorAnswer, find_first_occurrence

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


@dataclass
class CheckResult:
    record: dict[str, Any] | None
    reason: str | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _normalize_type(label: str) -> str:
    return " ".join(label.replace("_", " ").replace("-", " ").casefold().split())


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
