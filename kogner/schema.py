"""The one NER schema shared by every dataset in the project (generated BMG data and benchmarks).

A record::

    {"tokens": ["Mutations", "in", "BRCA1", "cause", "breast", "cancer", "."],
     "ner": [{"start": 2, "end": 2, "label": "gene"}, {"start": 4, "end": 5, "label": "disease"}],
     "kge": [{"start": 2, "end": 2, "kg_id": "HGNC:1100"}, {"start": 4, "end": 5, "kg_id": "MONDO:0007254"}]}

``start``/``end`` are word indices into ``tokens`` and ``end`` is INCLUSIVE (as in the paper's JSON).
``kge`` links spans to knowledge-graph node ids and may be empty (benchmarks without linking).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datasets import Dataset, DatasetDict, Features, List, Value

NER_FEATURES = Features(
    {
        "tokens": List(Value("string")),
        "ner": List({"start": Value("int32"), "end": Value("int32"), "label": Value("string")}),
        "kge": List({"start": Value("int32"), "end": Value("int32"), "kg_id": Value("string")}),
    }
)
"""`datasets.Features` of the schema; pass it to ``Dataset.from_list(..., features=NER_FEATURES)``."""

SCHEMA_DESCRIPTION = (
    "expected a record {'tokens': list[str] (non-empty), "
    "'ner': list[{'start': int, 'end': int, 'label': str}], "
    "'kge': list[{'start': int, 'end': int, 'kg_id': str}]} "
    "with word indices 0 <= start <= end < len(tokens) (end inclusive)"
)


class SchemaError(ValueError):
    """A record or dataset that does not follow the KoGNER NER schema."""


def _check_spans(spans: Any, field: str, value_key: str, num_tokens: int, where: str) -> None:
    if not isinstance(spans, list):
        raise SchemaError(f"{where}: '{field}' is {type(spans).__name__}, {SCHEMA_DESCRIPTION}")
    for position, span in enumerate(spans):
        here = f"{where}: {field}[{position}]"
        if not isinstance(span, Mapping) or set(span) != {"start", "end", value_key}:
            keys = sorted(span) if isinstance(span, Mapping) else type(span).__name__
            raise SchemaError(f"{here} is {keys!r}, expected keys ['end', '{value_key}', 'start']")
        start, end, value = span["start"], span["end"], span[value_key]
        if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
            raise SchemaError(f"{here}: start/end must be int, got {start!r}/{end!r}")
        if not 0 <= start <= end < num_tokens:
            raise SchemaError(
                f"{here}: span [{start}, {end}] out of range, expected 0 <= start <= end < {num_tokens} (end inclusive)"
            )
        if not isinstance(value, str) or not value.strip():
            raise SchemaError(f"{here}: '{value_key}' must be a non-empty string, got {value!r}")


def validate_example(example: Mapping[str, Any], index: int | None = None) -> None:
    """Raise `SchemaError` naming the record and the problem if ``example`` breaks the schema."""
    where = "record" if index is None else f"record {index}"
    if not isinstance(example, Mapping):
        raise SchemaError(f"{where} is {type(example).__name__}, {SCHEMA_DESCRIPTION}")
    missing = [key for key in ("tokens", "ner", "kge") if key not in example]
    if missing:
        raise SchemaError(f"{where} lacks {missing}, {SCHEMA_DESCRIPTION}")
    tokens = example["tokens"]
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t for t in tokens):
        raise SchemaError(f"{where}: 'tokens' must be a non-empty list of non-empty strings, got {tokens!r:.200}")
    _check_spans(example["ner"], "ner", "label", len(tokens), where)
    _check_spans(example["kge"], "kge", "kg_id", len(tokens), where)


def validate_dataset(dataset: Dataset | DatasetDict) -> None:
    """Check the columns' features and every record; raise `SchemaError` with split, record and reason."""
    if isinstance(dataset, DatasetDict):
        for split, part in dataset.items():
            try:
                validate_dataset(part)
            except SchemaError as error:
                raise SchemaError(f"split '{split}': {error}") from error
        return
    missing = [name for name in NER_FEATURES if name not in dataset.column_names]
    if missing:
        raise SchemaError(f"dataset lacks columns {missing} (has {dataset.column_names}), {SCHEMA_DESCRIPTION}")
    for name, feature in NER_FEATURES.items():
        if dataset.features[name] != feature:
            raise SchemaError(f"column '{name}' has feature {dataset.features[name]}, expected {feature}")
    for index, example in enumerate(dataset.select_columns(list(NER_FEATURES)).to_list()):
        validate_example(example, index)


def dataset_labels(dataset: Any) -> list[str]:
    """The entity types annotated in a schema dataset, sorted."""
    return sorted({entity["label"] for entities in dataset["ner"] for entity in entities})
