"""IOB files (one ``token<TAB>tag`` per line) read into `datasets.Dataset` in the KoGNER schema.

File layout: ``<data_dir>/<corpus>/{train,devel,test}.tsv``, one ``token<TAB>tag`` per line (IOB2),
a blank line between sentences, ``-DOCSTART-`` lines dropped. ``data_dir`` defaults to
``$KOGNER_DATA_DIR``, else ``../shared/data/benchmarks`` next to the repository.

IOB repair rule (as conlleval): an ``I-X`` tag after ``O``, at a sentence start, or after a tag of
another type starts a new entity of type ``X``. Anything else malformed (wrong column count,
unknown tag) stops with ``file:line`` and the reason. CRLF line ends and a last sentence without a
closing blank line are accepted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from kogner.schema import NER_FEATURES

from .lines import blank_line_blocks

DOCSTART = "-DOCSTART-"


class IOBFormatError(ValueError):
    """An IOB file line that cannot be read; the message names file:line and the reason."""


class EmptySplitError(ValueError):
    """An IOB file (a corpus split) that holds no sentence."""


@dataclass
class IOBSentence:
    tokens: list[str]
    tags: list[str]
    first_line: int


def read_iob_sentences(path: str | os.PathLike[str]) -> Iterator[IOBSentence]:
    """Sentences of an IOB file; raises `IOBFormatError` with file:line on malformed lines."""
    path = Path(path)
    for first, lines in blank_line_blocks(path):
        tokens: list[str] = []
        tags: list[str] = []
        first_line = first
        for line_number, line in enumerate(lines, start=first):
            columns = line.split("\t")
            if len(columns) != 2:
                raise IOBFormatError(
                    f"{path}:{line_number}: expected 2 tab-separated columns (token<TAB>tag), "
                    f"found {len(columns)}: {line!r:.120}"
                )
            token, tag = columns[0].strip(), columns[1].strip()
            if token == DOCSTART:
                if tokens:  # a document start also ends the sentence before it
                    yield IOBSentence(tokens, tags, first_line)
                    tokens, tags = [], []
                continue
            if not token:
                raise IOBFormatError(f"{path}:{line_number}: empty token before the tab")
            if tag != "O" and not (len(tag) > 2 and tag[:2] in ("B-", "I-")):
                raise IOBFormatError(f"{path}:{line_number}: tag {tag!r} is not O, B-<type> or I-<type>")
            if not tokens:
                first_line = line_number
            tokens.append(token)
            tags.append(tag)
        if tokens:
            yield IOBSentence(tokens, tags, first_line)


def iob_to_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end inclusive, type) spans; ``I-X`` after ``O`` or another type starts an entity (conlleval)."""
    spans: list[tuple[int, int, str]] = []
    current: list[Any] | None = None  # [start, end, type]
    for position, tag in enumerate(tags):
        if tag == "O":
            current = None
            continue
        prefix, tag_type = tag[:2], tag[2:]
        if prefix == "I-" and current is not None and current[2] == tag_type:
            current[1] = position
            continue
        current = [position, position, tag_type]
        spans.append(current)  # type: ignore[arg-type]
    return [(start, end, tag_type) for start, end, tag_type in spans]


def read_iob_file(path: str | os.PathLike[str], label_of: Callable[[str], str] = lambda tag: tag) -> Dataset:
    """An IOB file as a `Dataset` in the KoGNER schema (``kge`` empty); ``label_of`` maps a tag type to its label.

    Raises `EmptySplitError` for a file without any sentence.
    """
    records = []
    for sentence in read_iob_sentences(path):
        ner = [
            {"start": start, "end": end, "label": label_of(tag_type)}
            for start, end, tag_type in iob_to_spans(sentence.tags)
        ]
        records.append({"tokens": sentence.tokens, "ner": ner, "kge": []})
    if not records:
        raise EmptySplitError(f"{path} holds no sentence (expected token<TAB>tag lines)")
    return Dataset.from_list(records, features=NER_FEATURES)


