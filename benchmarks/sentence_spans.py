"""Per-sentence gold and predicted spans of an evaluation, saved beside its record, for paired tests between arms.

``write_sentence_spans(record_file, {set_name: (gold, predicted)})`` writes ``<record stem>.sentences.json`` next to
``record_file`` (atomically) and returns its path, for the record's ``sentences_file``. The file holds, per test set,
``{"gold": [[[start, end, label], ...], ...], "predicted": [...]}``: one list of spans per sentence, in the test
split's order. ``read_sentence_spans`` gives back ``{set_name: (gold, predicted)}`` with spans as tuples, as the span
scorer (`kogner.evaluation.metrics`) and the paired bootstrap (`kogner.evaluation.bootstrap`) take them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from benchmarks.common import write_json
from kogner.evaluation.metrics import Span

SentenceSpans = list[list[Span]]


def sentence_spans_path(record_file: str | os.PathLike[str]) -> Path:
    """Where the sentences of ``record_file`` go: ``eval-<key>.json`` -> ``eval-<key>.sentences.json``."""
    record_file = Path(record_file)
    return record_file.with_name(f"{record_file.stem}.sentences.json")


def write_sentence_spans(record_file: str | os.PathLike[str],
                         sets: dict[str, tuple[Sequence[Sequence[Span]], Sequence[Sequence[Span]]]]) -> str:
    """Write each set's per-sentence gold and predicted spans beside ``record_file``; returns the file's path.

    Raises:
        ValueError: a set whose gold and predicted sentence counts differ.
    """
    payload = {}
    for name, (gold, predicted) in sets.items():
        if len(gold) != len(predicted):
            raise ValueError(f"{name}: {len(gold)} gold sentences but {len(predicted)} predicted")
        payload[name] = {"gold": [[list(span) for span in spans] for spans in gold],
                         "predicted": [[list(span) for span in spans] for spans in predicted]}
    path = sentence_spans_path(record_file)
    write_json(path, payload, announce=False)
    return str(path)


def read_sentence_spans(path: str | os.PathLike[str]) -> dict[str, tuple[SentenceSpans, SentenceSpans]]:
    """``{set_name: (gold, predicted)}`` from a file written by :func:`write_sentence_spans`."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: tuple([[tuple(span) for span in spans] for spans in part[key]] for key in ("gold", "predicted"))
            for name, part in payload.items()}
