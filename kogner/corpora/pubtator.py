"""PubTator files (BioRED, PubTator Central exports) read into documents and into the KoGNER schema.

Format: one document per block, blocks separated by a blank line::

    PMID|t|title
    PMID|a|abstract
    PMID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>identifier(s)
    PMID<TAB>relation type<TAB>id1<TAB>id2[<TAB>novelty]        (relation lines: ignored)

Offsets are character offsets into ``title + " " + abstract`` (`PubTatorDocument.text`), end exclusive.
Identifiers: several ids joined by ``,`` or ``;``; ``-`` (or an empty column) means none.

Lines are parsed with the ``bioc`` package (``bioc.pubtator``: its title/abstract patterns and its annotation-line
parser). Bad input: a document whose lines cannot be parsed, whose mention offsets fall outside its text, or whose
mention text differs from the text at its offsets is skipped and counted; one warning names the file and the first
few skipped documents (PMID, offsets, reason). A missing file raises `FileNotFoundError`, a file without any
document `PubTatorFormatError`, both naming the file.

Conversion to the schema (`pubtator_records`): each document's text is split into sentences by ``pysbd`` (the
model's own `modeling_kogner.text_kogner.sentence_spans`; sentences that a mention would straddle are joined) and
into words by `kogner.words.split_words`, the model's splitter. A mention covers the words it overlaps (a mention
boundary inside a word widens it to the whole word; counted in `ConversionStats`). Each identifier of a mention
becomes one ``kge`` link of its span, written ``NAMESPACE:ID`` where the type has a namespace
(``NCBIGene:3175``, ``MESH:D003924``; see `kogner.corpora.registry.PUBTATOR_CORPORA`), so ids that the knowledge
graph uses (NCBIGene, NCBITaxon, CVCL) become distillation links and the others are counted as unknown to the
teacher by the training pipeline.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bioc.pubtator import loads_ann
from bioc.pubtator.decoder import ABSTRACT_PATTERN, TITLE_PATTERN
from datasets import Dataset

from kogner.schema import NER_FEATURES
from kogner.words import split_words
from kogner.corpora.lines import blank_line_blocks
from modeling_kogner.text_kogner import sentence_spans

logger = logging.getLogger(__name__)

PUBTATOR_SUFFIXES = (".pubtator", ".pubtator.txt")
NAMED_SKIPS = 5
"""How many skipped documents the warning names (the count covers all)."""


class PubTatorFormatError(ValueError):
    """A PubTator file that holds no document; the message names the file."""


@dataclass(frozen=True)
class PubTatorMention:
    """One entity line: character offsets ``[start, end)`` into the document text, its text, type and ids."""

    start: int
    end: int
    text: str
    type: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class PubTatorDocument:
    """One PubTator block (relations are not kept).

    Attributes:
        pmid: the PubMed id that heads the block's ``|t|`` and ``|a|`` lines.
        title, abstract: the two texts, without their line prefixes.
        mentions: the entity lines, in file order; their offsets point into `text`.
    """

    pmid: str
    title: str
    abstract: str
    mentions: tuple[PubTatorMention, ...]

    @property
    def text(self) -> str:
        """``title + " " + abstract``: the text the mention offsets point into."""
        return f"{self.title} {self.abstract}"


@dataclass(frozen=True)
class SkippedDocument:
    """A document left out by `read_pubtator`: where and why."""

    path: str
    pmid: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} PMID {self.pmid or '?'}: {self.reason}"


def is_pubtator_file(path: str | os.PathLike[str]) -> bool:
    """True for an existing file named ``*.pubtator`` or ``*.pubtator.txt``."""
    path = Path(path)
    return path.is_file() and path.name.lower().endswith(PUBTATOR_SUFFIXES)


def split_ids(column: str) -> tuple[str, ...]:
    """``"3172,3651;6927"`` -> ``("3172", "3651", "6927")``; ``"-"`` or an empty column -> ``()``."""
    parts = (part.strip() for part in column.replace(";", ",").split(","))
    return tuple(part for part in parts if part and part != "-")


def _parse_block(lines: list[str]) -> tuple[str, str, str, list[tuple[int, Any]]]:
    """PMID, title, abstract and ``(line offset, bioc annotation)`` pairs; `ValueError` on a line it cannot read."""
    pmid, title, abstract = "", None, None
    annotations: list[tuple[int, Any]] = []
    for offset, line in enumerate(lines):
        for pattern, part in ((TITLE_PATTERN, "title"), (ABSTRACT_PATTERN, "abstract")):
            matched = pattern.match(line) if "\t" not in line.split("|", 1)[0] else None
            if matched:
                if pmid and matched.group(1) != pmid:
                    raise ValueError(f"line +{offset}: PMID {matched.group(1)} inside the block of PMID {pmid}")
                pmid = matched.group(1)
                title, abstract = (matched.group(2), abstract) if part == "title" else (title, matched.group(2))
                break
        else:
            columns = line.split("\t")
            if len(columns) in (4, 5):  # a relation line
                continue
            if len(columns) < 6:
                raise ValueError(f"line +{offset}: {len(columns)} tab-separated columns, expected 6 "
                                 f"(PMID, start, end, mention, type, ids) or 4-5 (a relation): {line!r:.120}")
            try:
                annotation = loads_ann(columns[:6])
            except ValueError as error:
                raise ValueError(f"line +{offset}: offsets must be integers ({error}): {line!r:.120}") from None
            annotations.append((offset, annotation))
    if title is None:
        raise ValueError("no 'PMID|t|title' line")
    return pmid, title, abstract or "", annotations


def _document(pmid: str, title: str, abstract: str, annotations: list[tuple[int, Any]]) -> PubTatorDocument:
    """The document; `ValueError` naming the offsets of a mention outside the text or not matching it."""
    text = f"{title} {abstract}"
    mentions = []
    for offset, annotation in annotations:
        start, end = annotation.start, annotation.end
        if annotation.pmid != pmid:
            raise ValueError(f"line +{offset}: mention of PMID {annotation.pmid} inside the block of PMID {pmid}")
        if not 0 <= start < end <= len(text):
            raise ValueError(f"offsets {start}-{end} outside the text (0-{len(text)}) for {annotation.text!r}")
        if text[start:end] != annotation.text:
            raise ValueError(f"offsets {start}-{end} hold {text[start:end]!r}, the line says {annotation.text!r}")
        mentions.append(PubTatorMention(start, end, annotation.text, annotation.type, split_ids(annotation.id)))
    return PubTatorDocument(pmid, title, abstract, tuple(mentions))


def read_pubtator(
    path: str | os.PathLike[str], skipped: list[SkippedDocument] | None = None
) -> Iterator[PubTatorDocument]:
    """The documents of a PubTator file, in file order.

    Bad documents are skipped (appended to ``skipped`` when given) and one warning names the first few.

    Raises:
        FileNotFoundError: ``path`` is not a file (raised at the call).
        PubTatorFormatError: the file holds no document block (raised once iterated).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PubTator file {path} not found (expected PMID|t|title, PMID|a|abstract and "
                                "PMID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>ids lines)")
    return _iterate(path, skipped if skipped is not None else [])


def _iterate(path: Path, skipped: list[SkippedDocument]) -> Iterator[PubTatorDocument]:
    here: list[SkippedDocument] = []
    blocks = 0
    for first_line, lines in blank_line_blocks(path):
        blocks += 1
        pmid = lines[0].split("|", 1)[0].split("\t", 1)[0]
        try:
            document = _document(*_parse_block(lines))
        except ValueError as error:
            here.append(SkippedDocument(str(path), pmid, first_line, str(error)))
            continue
        yield document
    if not blocks:
        raise PubTatorFormatError(f"PubTator file {path} holds no document (it is empty or blank)")
    if here:
        named = "; ".join(str(item) for item in here[:NAMED_SKIPS])
        more = f" (and {len(here) - NAMED_SKIPS} more)" if len(here) > NAMED_SKIPS else ""
        logger.warning("%s: skipped %d of %d documents: %s%s", path, len(here), blocks, named, more)
    skipped.extend(here)


# ----------------------------------------------------------------------------------------------- to the schema
@dataclass
class ConversionStats:
    """Counts of a conversion: documents, sentences, mentions, and mentions widened to whole words."""

    documents: int = 0
    sentences: int = 0
    mentions: int = 0
    widened: int = 0
    joined_sentences: int = 0
    per_type: dict[str, int] = field(default_factory=dict)


@lru_cache(maxsize=4096)
def document_sentences(text: str) -> tuple[tuple[int, int], ...]:
    """`sentence_spans` (pysbd) of a document text, cached: the overlap filter and the conversion share them."""
    return tuple(sentence_spans(text))


def _sentence_bounds(text: str, mentions: Iterable[PubTatorMention]) -> tuple[list[tuple[int, int]], int]:
    """pysbd's sentence spans of ``text``, with sentences that a mention straddles joined, and how many joins."""
    bounds: list[tuple[int, int]] = []
    spans = document_sentences(text)
    for start, end in spans:
        straddled = bounds and any(m.start < bounds[-1][1] < m.end or m.start < start < m.end for m in mentions)
        if straddled:
            bounds[-1] = (bounds[-1][0], end)
        else:
            bounds.append((start, end))
    return bounds, len(spans) - len(bounds)


def namespaced(identifier: str, namespace: str | None) -> str:
    """``("3175", "NCBIGene")`` -> ``"NCBIGene:3175"``; an id that already has a prefix, or no namespace, as is."""
    return identifier if not namespace or ":" in identifier else f"{namespace}:{identifier}"


def document_records(
    document: PubTatorDocument,
    label_of: Callable[[str], str],
    namespaces: Mapping[str, str] | None = None,
    stats: ConversionStats | None = None,
) -> list[dict[str, Any]]:
    """The schema records (one per sentence with words) of one document.

    ``label_of`` maps a PubTator type to its label prompt (it may raise for an unknown type); ``namespaces`` maps a
    type to the prefix of its ids in ``kge``.
    """
    stats = stats if stats is not None else ConversionStats()
    text = document.text
    bounds, joined = _sentence_bounds(text, document.mentions)
    stats.documents += 1
    stats.joined_sentences += joined
    records = []
    for sentence_start, sentence_end in bounds:
        words = [(word, sentence_start + start, sentence_start + end)
                 for word, start, end in split_words(text[sentence_start:sentence_end])]
        if not words:
            continue
        ner, kge = [], []
        for mention in document.mentions:
            if not sentence_start <= mention.start < sentence_end:
                continue
            covered = [index for index, (_, start, end) in enumerate(words) if start < mention.end and end > mention.start]
            if not covered:
                continue
            first, last = covered[0], covered[-1]
            stats.widened += words[first][1] < mention.start or words[last][2] > mention.end
            label = label_of(mention.type)
            stats.mentions += 1
            stats.per_type[mention.type] = stats.per_type.get(mention.type, 0) + 1
            span = {"start": first, "end": last, "label": label}
            if span not in ner:
                ner.append(span)
            for identifier in mention.ids:
                link = {"start": first, "end": last,
                        "kg_id": namespaced(identifier, (namespaces or {}).get(mention.type))}
                if link not in kge:
                    kge.append(link)
        records.append({"tokens": [word for word, _, _ in words], "ner": ner, "kge": kge})
        stats.sentences += 1
    return records


def pubtator_records(
    documents: Iterable[PubTatorDocument],
    label_of: Callable[[str], str],
    namespaces: Mapping[str, str] | None = None,
    stats: ConversionStats | None = None,
) -> list[dict[str, Any]]:
    """The schema records of several documents (see `document_records`), in order."""
    stats = stats if stats is not None else ConversionStats()
    return [record for document in documents for record in document_records(document, label_of, namespaces, stats)]


def pubtator_dataset(
    documents: Iterable[PubTatorDocument],
    label_of: Callable[[str], str],
    namespaces: Mapping[str, str] | None = None,
    where: str = "PubTator documents",
) -> Dataset:
    """Documents as a schema `Dataset` (`NER_FEATURES`); `PubTatorFormatError` naming ``where`` if none is left."""
    stats = ConversionStats()
    records = pubtator_records(documents, label_of, namespaces, stats)
    if not records:
        raise PubTatorFormatError(f"{where}: no sentence left to convert")
    logger.info("%s: %d documents -> %d sentences, %d mentions (%d widened to whole words)",
                where, stats.documents, stats.sentences, stats.mentions, stats.widened)
    return Dataset.from_list(records, features=NER_FEATURES)
