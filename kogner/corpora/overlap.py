"""No leakage through shared documents: drop PubTator documents that share a sentence with given corpora.

BioRED re-annotates abstracts of BC5CDR and NCBI-disease. A document *overlaps* a reference corpus when one of its
sentences (`modeling_kogner.text_kogner.sentence_spans`, pysbd), normalised to lower-case letters and digits
(`sentence_key`), is longer than `MIN_KEY_CHARS` characters and equals the key of a sentence of the reference
(tokens joined, normalised the same way). Short sentences ("Results.", "Methods") are too common to tell documents
apart and never count.

Which references, by protocol (`kogner.corpora.mix` applies this before training or tuning on a PubTator source):

* zero-shot: every split of the evaluated corpora (``ncbi_disease``, ``bc5cdr``, ... as plain names);
* supervised protocol and release model: their test splits (``ncbi_disease:test``, ...), the default
  (`DEFAULT_REFERENCES`) when the caller names none;
* evaluating on a PubTator test split: nothing is dropped.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .pubtator import PubTatorDocument, document_sentences
from .registry import (
    CORPUS_TAGS, EVALUATION_CORPORA, PUBTATOR_CORPORA, SPLIT_FILES, canonical_split, load_corpus_split, split_file,
)

logger = logging.getLogger(__name__)

MIN_KEY_CHARS = 60
"""A normalised sentence counts only when it is longer than this many characters."""
DEFAULT_REFERENCES: tuple[str, ...] = tuple(f"{corpus}:test" for corpus in EVALUATION_CORPORA)
"""The test splits of the evaluation corpora: what no training or tuning document may share (supervised/release)."""
_NOT_KEY_CHARACTERS = re.compile(r"[^a-z0-9]+")


def sentence_key(text: str) -> str:
    """``"The HNF-6 gene (n = 54)."`` -> ``"thehnf6genen54"``: lower-case ASCII letters and digits only."""
    return _NOT_KEY_CHARACTERS.sub("", text.lower())


@lru_cache(maxsize=8192)
def document_keys(text: str) -> frozenset[str]:
    """The keys (longer than `MIN_KEY_CHARS`) of the pysbd sentences of ``text``."""
    keys = (sentence_key(text[start:end]) for start, end in document_sentences(text))
    return frozenset(key for key in keys if len(key) > MIN_KEY_CHARS)


def token_keys(sentences: Iterable[Sequence[str]]) -> set[str]:
    """The keys (longer than `MIN_KEY_CHARS`) of tokenised sentences (a schema dataset's ``tokens`` column)."""
    keys = (sentence_key("".join(tokens)) for tokens in sentences)
    return {key for key in keys if len(key) > MIN_KEY_CHARS}


def check_references(references: Sequence[str], where: str = "overlap references") -> None:
    """Refuse a reference that is not ``NAME`` or ``NAME:SPLIT`` of a registered IOB corpus (`CORPUS_TAGS` less
    `PUBTATOR_CORPORA`), ``SPLIT`` one of train, validation (dev, devel) or test: a misspelt one filters nothing."""
    for reference in references:
        name, separator, split = reference.rpartition(":")
        name = name if separator else reference
        if name not in CORPUS_TAGS or name in PUBTATOR_CORPORA:
            corpora = sorted(set(CORPUS_TAGS) - set(PUBTATOR_CORPORA))
            raise ValueError(f"{where}: {reference!r} is not a registered IOB corpus (expected NAME or NAME:SPLIT, "
                             f"NAME one of {', '.join(corpora)})")
        if separator:
            try:
                canonical_split(split)
            except ValueError as error:
                raise ValueError(f"{where}: {reference!r}: {error}") from None


def reference_keys(references: Sequence[str], data_dir: str | os.PathLike[str] | None = None) -> frozenset[str]:
    """The sentence keys of the reference corpora: ``NAME`` (every split present) or ``NAME:SPLIT``.

    A reference with no split file present is skipped with one log line (a corpus that is not here is not
    evaluated either). Cached per (references, data_dir) within a process.
    """
    return _reference_keys(tuple(references), None if data_dir is None else str(data_dir))


@lru_cache(maxsize=16)
def _reference_keys(references: tuple[str, ...], data_dir: str | None) -> frozenset[str]:
    keys: set[str] = set()
    for reference in references:
        name, separator, split = reference.rpartition(":")
        name, splits = (name, [canonical_split(split)]) if separator else (reference, list(SPLIT_FILES))
        present = [split for split in splits if split_file(name, split, data_dir).is_file()]
        if not present:
            logger.info("overlap filter: reference %s has no split file here (%s), skipped", reference,
                           split_file(name, splits[0], data_dir).parent)
        for split in present:
            keys |= token_keys(load_corpus_split(name, split, data_dir=data_dir)["tokens"])
    return frozenset(keys)


@dataclass(frozen=True)
class OverlapReport:
    """What `drop_overlapping` did: documents seen, PMIDs dropped, the references compared with."""

    documents: int
    dropped: tuple[str, ...]
    references: tuple[str, ...]

    def __str__(self) -> str:
        return (f"dropped {len(self.dropped)} of {self.documents} documents sharing a sentence with "
                f"{', '.join(self.references) or 'nothing'}")


def overlapping(document: PubTatorDocument, keys: set[str] | frozenset[str]) -> bool:
    """True when a sentence of ``document`` (by key) is among ``keys``."""
    return not keys.isdisjoint(document_keys(document.text))


def drop_overlapping(
    documents: Iterable[PubTatorDocument],
    references: Sequence[str],
    data_dir: str | os.PathLike[str] | None = None,
    where: str = "PubTator documents",
    keys: set[str] | frozenset[str] | None = None,
) -> tuple[list[PubTatorDocument], OverlapReport]:
    """The documents that share no sentence with ``references`` (see `reference_keys`), and a report.

    ``keys``: the references' keys when already computed (`reference_keys`). The count of dropped documents is
    logged (one line naming ``where``).
    """
    documents = list(documents)
    if keys is None:
        keys = reference_keys(references, data_dir) if references else frozenset()
    shared = [overlapping(document, keys) for document in documents]
    kept = [document for document, drop in zip(documents, shared) if not drop]
    dropped = tuple(document.pmid for document, drop in zip(documents, shared) if drop)
    report = OverlapReport(len(documents), dropped, tuple(references))
    logger.warning("%s: %s", where, report)
    return kept, report
