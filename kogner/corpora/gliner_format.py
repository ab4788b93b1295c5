"""GLiNER's training-data format, in and out.

GLiNER (Zaratiana et al., 2024) trains on a JSON list of records::

    {"tokenized_text": ["Mutations", "in", "BRCA1", "cause", "breast", "cancer", "."],
     "ner": [[2, 2, "gene"], [4, 5, "disease"]]}

with word indices and an INCLUSIVE end, like this project's schema (``tokens``/``ner``/``kge``). A ``.json``
(list) or ``.jsonl`` (one record per line) file in that format is accepted wherever a training or evaluation
source is (``--train_data my_gliner_train.json``); ``data_scripts/export_gliner.py`` writes our datasets in it.
Records may carry an optional ``kge`` list of ``[start, end, kg_id]`` (written by ``--keep-kg-links``; GLiNER
ignores keys it does not use), so the round trip keeps knowledge-graph links too. Other keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset

from kogner.schema import NER_FEATURES, SchemaError, validate_dataset

GLINER_SUFFIXES = (".json", ".jsonl")
GLINER_DESCRIPTION = (
    "GLiNER records {'tokenized_text': list[str], 'ner': [[start, end, label], ...]} with word indices, end "
    "inclusive (a JSON list in a .json file, or one record per line in a .jsonl file)"
)


def is_gliner_file(path: str | Path) -> bool:
    """True for an existing ``.json``/``.jsonl`` file (a saved ``DatasetDict`` is a folder)."""
    path = Path(path)
    return path.suffix.lower() in GLINER_SUFFIXES and path.is_file()


def read_gliner_json(path: str | Path) -> list[dict[str, Any]]:
    """The raw records of a GLiNER ``.json``/``.jsonl`` file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); expected {GLINER_DESCRIPTION}") from error
    if not isinstance(records, list):
        raise ValueError(f"{path}: the file holds a {type(records).__name__}, expected {GLINER_DESCRIPTION}")
    return records


def _spans(items: Any, value_key: str, where: str) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise SchemaError(f"{where} is {type(items).__name__}, expected a list of [start, end, {value_key}]")
    spans = []
    for position, item in enumerate(items):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise SchemaError(f"{where}[{position}] is {item!r:.100}, expected [start, end, {value_key}]")
        start, end, value = item
        spans.append({"start": start, "end": end, value_key: value})
    return spans


def from_gliner_record(record: Any, where: str = "record") -> dict[str, Any]:
    """One GLiNER record -> one schema record (``tokens``, ``ner``, ``kge``)."""
    if not isinstance(record, Mapping) or "tokenized_text" not in record or "ner" not in record:
        keys = sorted(record) if isinstance(record, Mapping) else type(record).__name__
        raise SchemaError(f"{where} is {keys!r:.200}, expected {GLINER_DESCRIPTION}")
    return {
        "tokens": record["tokenized_text"],
        "ner": _spans(record["ner"], "label", f"{where}: ner"),
        "kge": _spans(record.get("kge") or [], "kg_id", f"{where}: kge"),
    }


def load_gliner(path: str | Path) -> Dataset:
    """A GLiNER ``.json``/``.jsonl`` file as a schema `Dataset`; a bad record raises naming the file and record."""
    records = []
    for index, record in enumerate(read_gliner_json(path)):
        records.append(from_gliner_record(record, f"{path}: record {index}"))
    if not records:
        raise ValueError(f"{path}: no records; expected {GLINER_DESCRIPTION}")
    try:
        dataset = Dataset.from_list(records, features=NER_FEATURES)
    except (TypeError, ValueError) as error:  # e.g. a start index given as a string
        raise SchemaError(f"{path}: the records do not fit {GLINER_DESCRIPTION} ({error})") from error
    try:
        validate_dataset(dataset)
    except SchemaError as error:
        raise SchemaError(f"{path}: {error}") from error
    return dataset


def to_gliner_record(example: Mapping[str, Any], keep_kg_links: bool = False) -> dict[str, Any]:
    """One schema record -> one GLiNER record (``kge`` kept as ``[start, end, kg_id]`` when asked)."""
    record: dict[str, Any] = {
        "tokenized_text": list(example["tokens"]),
        "ner": [[span["start"], span["end"], span["label"]] for span in example["ner"]],
    }
    if keep_kg_links:
        record["kge"] = [[link["start"], link["end"], link["kg_id"]] for link in example.get("kge") or []]
    return record


def write_gliner(examples: Iterable[Mapping[str, Any]], path: str | Path, keep_kg_links: bool = False) -> int:
    """Write schema records to ``path`` in GLiNER's format (``.jsonl``: one per line, else a JSON list).

    Returns the number of records written.
    """
    path = Path(path)
    if path.suffix.lower() not in GLINER_SUFFIXES:
        raise ValueError(f"{path}: the output file must end in .json or .jsonl")
    records = [to_gliner_record(example, keep_kg_links) for example in examples]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    else:
        text = json.dumps(records, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return len(records)
