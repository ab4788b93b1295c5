"""Annotated documents as records, and the output formats: JSONL, PubTator and BioC XML.

A record is ``{"id", "text", "entities": [{"start", "end", "text", "label", "score"[, "kg_id", "kg_name",
"link_score"]}]}`` (plus ``"title"`` for a document read from PubTator): character offsets into ``text``, scores
rounded to 6 decimals. Every writer streams records, so the output never has to fit in memory.

* JSONL: one record per line.
* PubTator: ``id|t|title``, ``id|a|abstract``, then ``id<TAB>start<TAB>end<TAB>mention<TAB>label<TAB>kg_id``
  per entity (``-`` when not linked) and a blank line. Offsets are into ``title + " " + abstract``; a document without a title is written
  whole as its title line (abstract empty) so that offsets are unchanged. Line breaks and tabs inside the text
  become spaces (same length, offsets kept); ``|`` and whitespace in ids become ``_``.
* BioC XML (the ``bioc`` package): one document per record, one passage per title / abstract (or one ``text``
  passage), each entity an annotation with infons ``type`` (label), ``score`` and, when linked, ``identifier``
  (KG id), ``kg_name`` and ``link_score``; locations are document offsets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from kogner.atomic import atomic_path

OUTPUT_FILES = {"jsonl": "annotations.jsonl", "pubtator": "annotations.pubtator", "bioc": "annotations.bioc.xml"}
"""Output format -> the file name it is written to inside the output folder."""

ENTITY_KEYS = ("start", "end", "text", "label", "score", "kg_id", "kg_name", "link_score")
_LINE_BREAKS = str.maketrans({character: " " for character in "\r\n\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def document_record(doc_id: str, text: str, entities: Iterable[dict[str, Any]], title: str | None = None
                    ) -> dict[str, Any]:
    """The output record of one annotated document (keys in a fixed order, scores rounded)."""
    record: dict[str, Any] = {"id": doc_id}
    if title is not None:
        record["title"] = title
    record["text"] = text
    record["entities"] = [
        {key: round(float(entity[key]), 6) if key.endswith("score") else entity[key]
         for key in ENTITY_KEYS if key in entity}
        for entity in entities
    ]
    return record


def write_jsonl(records: Iterable[dict[str, Any]], handle: IO[str]) -> None:
    for record in records:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _one_line(text: str) -> str:
    return text.translate(_LINE_BREAKS)


def pubtator_id(doc_id: str) -> str:
    """``doc_id`` as a PubTator id: no ``|`` and no whitespace."""
    return re.sub(r"[|\s]", "_", doc_id) or "_"


def title_and_abstract(record: dict[str, Any]) -> tuple[str, str]:
    """The PubTator title and abstract of a record (the whole text as title when it has none)."""
    title = record.get("title")
    if title is None:
        return record["text"], ""
    return title, record["text"][len(title) + 1 :]


def write_pubtator(records: Iterable[dict[str, Any]], handle: IO[str]) -> None:
    for record in records:
        pmid = pubtator_id(record["id"])
        title, abstract = title_and_abstract(record)
        handle.write(f"{pmid}|t|{_one_line(title)}\n{pmid}|a|{_one_line(abstract)}\n")
        for entity in record["entities"]:
            columns = [pmid, str(entity["start"]), str(entity["end"]), _one_line(entity["text"]),
                       _one_line(entity["label"]), entity.get("kg_id") or "-"]
            handle.write("\t".join(columns) + "\n")
        handle.write("\n")


def bioc_document(record: dict[str, Any]) -> Any:
    """A `bioc.BioCDocument` of one record."""
    import bioc

    document = bioc.BioCDocument()
    document.id = record["id"]
    title = record.get("title")
    if title is None:
        parts = [("text", 0, record["text"])]
    else:
        parts = [("title", 0, title), ("abstract", len(title) + 1, record["text"][len(title) + 1 :])]
    passages = []
    for kind, offset, text in parts:
        passage = bioc.BioCPassage()
        passage.offset, passage.text = offset, text
        passage.infons["type"] = kind
        document.add_passage(passage)
        passages.append(passage)
    for number, entity in enumerate(record["entities"], start=1):
        annotation = bioc.BioCAnnotation()
        annotation.id = str(number)
        annotation.text = entity["text"]
        annotation.infons["type"] = entity["label"]
        annotation.infons["score"] = str(entity["score"])
        if entity.get("kg_id"):
            annotation.infons["identifier"] = entity["kg_id"]
            annotation.infons["kg_name"] = entity.get("kg_name", "")
            annotation.infons["link_score"] = str(entity.get("link_score", ""))
        annotation.add_location(bioc.BioCLocation(entity["start"], entity["end"] - entity["start"]))
        passage = passages[-1] if len(passages) > 1 and entity["start"] >= passages[-1].offset else passages[0]
        passage.add_annotation(annotation)
    return document


def write_bioc(records: Iterable[dict[str, Any]], path: Path) -> None:
    from bioc import biocxml

    writer = biocxml.BioCXMLDocumentWriter(str(path))
    try:
        import bioc

        collection = bioc.BioCCollection()
        collection.source = "KoGNER (kogner-annotate)"
        writer.write_collection_info(collection)
        for record in records:
            writer.write_document(bioc_document(record))
    finally:
        writer.close()


def write_output(records: Iterable[dict[str, Any]], path: Path, output_format: str) -> None:
    """Write ``records`` to ``path`` in ``output_format`` (``jsonl``, ``pubtator`` or ``bioc``), atomically."""
    if output_format not in OUTPUT_FILES:
        raise ValueError(f"--format {output_format!r}: expected one of {', '.join(OUTPUT_FILES)}")
    with atomic_path(path) as temporary:
        if output_format == "bioc":
            write_bioc(records, temporary)
            return
        with temporary.open("w", encoding="utf-8", newline="\n") as handle:
            if output_format == "jsonl":
                write_jsonl(records, handle)
            else:
                write_pubtator(records, handle)
