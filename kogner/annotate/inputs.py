"""Documents to annotate, read lazily and in a stable order from any of the supported sources.

Sources (``input_format="auto"`` tells them apart):

* a folder of ``.txt`` files (searched recursively) or a glob (``corpus/**/*.txt``): one document per file, its id
  the path relative to the folder (or to the glob's fixed prefix) without ``.txt``; files in sorted path order. A
  glob may also match ``.jsonl`` and ``.pubtator`` files, each then read as below;
* a JSONL file: one ``{"id": ..., "text": ...}`` object per line (``id`` optional: ``<file stem>:<line>``);
* a PubTator file (``.pubtator``, or a ``.txt`` whose first line is ``<pmid>|t|<title>``): one document per
  title + abstract, read by `kogner.corpora.pubtator.read_pubtator`; the text is ``title + " " + abstract``;
* a `datasets` source: a folder written by ``save_to_disk`` or a Hub id, with a text column (and an id column if
  present, else the row number).

A document that cannot be annotated (bytes that are not UTF-8, a text over the size cap, a JSONL line that is
not a JSON object with a string ``text``) is yielded with ``skip_reason`` set instead of stopping the run; a
missing input or a file that cannot be opened raises `AnnotateInputError` naming it.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kogner.checks import looks_like_path

INPUT_FORMATS = ("auto", "txt", "jsonl", "pubtator", "datasets")
DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_GLOB_CHARACTERS = "*?["
_FILE_SUFFIXES = (".txt", ".jsonl", ".json", ".pubtator")


class AnnotateInputError(ValueError):
    """An input that cannot be read at all (missing, unreadable, of no known format); the message names it."""


@dataclass(frozen=True)
class Document:
    """One document of the input. ``skip_reason`` (with ``skip_kind``: ``encoding``, ``size`` or ``format``) is
    set when it cannot be annotated; ``title`` is the title of a PubTator document (``text`` starts with it)."""

    id: str
    text: str
    source: str
    title: str | None = None
    skip_reason: str | None = None
    skip_kind: str | None = None


def _skipped(doc_id: str, source: str, kind: str, reason: str) -> Document:
    return Document(id=doc_id, text="", source=source, skip_reason=reason, skip_kind=kind)


def _too_long(document: Document, max_chars: int) -> Document:
    if document.skip_reason is None and len(document.text) > max_chars:
        return _skipped(document.id, document.source, "size",
                        f"{len(document.text)} characters, over the cap of {max_chars} (--max-chars)")
    return document


def _decode(data: bytes) -> tuple[str | None, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        return None, f"not valid UTF-8: byte {data[error.start]:#04x} at offset {error.start}"


def _open_error(path: Path, error: OSError) -> AnnotateInputError:
    return AnnotateInputError(f"input {path}: cannot be read ({error.strerror or error})")


# ---------------------------------------------------------------------------------------------------- files
def read_text_file(path: Path, doc_id: str, max_chars: int) -> Document:
    """One ``.txt`` file as one document (skipped, not read, when its size alone exceeds the cap)."""
    try:
        if path.stat().st_size > 4 * max_chars:  # UTF-8 takes at most 4 bytes per character
            return _skipped(doc_id, str(path), "size",
                            f"{path.stat().st_size} bytes, over the cap of {max_chars} characters (--max-chars)")
        data = path.read_bytes()
    except OSError as error:
        raise _open_error(path, error) from error
    text, problem = _decode(data)
    if problem is not None:
        return _skipped(doc_id, str(path), "encoding", problem)
    return _too_long(Document(id=doc_id, text=text, source=str(path)), max_chars)


def read_jsonl_documents(path: Path) -> Iterator[Document]:
    """Documents of a JSONL file, one object per non-blank line; bad lines are yielded as skipped documents."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise _open_error(path, error) from error
    with handle:
        for line_number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where, fallback_id = f"{path}:{line_number}", f"{path.stem}:{line_number}"
            line, problem = _decode(raw)
            if problem is not None:
                yield _skipped(fallback_id, where, "encoding", problem)
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield _skipped(fallback_id, where, "format", f"not a JSON object ({error.msg})")
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                doc_id = str(row["id"]) if isinstance(row, dict) and row.get("id") is not None else fallback_id
                yield _skipped(doc_id, where, "format", 'expected a JSON object with a string "text" field')
                continue
            doc_id = str(row["id"]) if row.get("id") is not None else fallback_id
            yield Document(id=doc_id, text=row["text"], source=where)


def read_pubtator_documents(path: Path) -> Iterator[Document]:
    """Title + abstract of each document of a PubTator file (its annotations are ignored); the blocks that the
    reader (`kogner.corpora.pubtator.read_pubtator`) cannot parse follow as skipped documents."""
    from kogner.corpora.pubtator import SkippedDocument, read_pubtator

    if not os.access(path, os.R_OK):
        raise AnnotateInputError(f"input {path}: cannot be read (permission denied)")
    unreadable: list[SkippedDocument] = []
    try:
        for document in read_pubtator(path, unreadable):
            yield Document(id=document.pmid, text=document.text, source=str(path), title=document.title)
    except UnicodeDecodeError as error:
        raise AnnotateInputError(f"input {path}: not valid UTF-8 ({error.reason} at byte offset {error.start} of a "
                                 "line); PubTator files are read as UTF-8") from error
    for block in unreadable:
        yield _skipped(block.pmid or f"{path.stem}:{block.line}", f"{path}:{block.line}", "format", block.reason)


def looks_like_pubtator(path: Path) -> bool:
    """A ``.pubtator`` (or ``.pubtator.txt``) name, or a first non-blank line ``<id>|t|...``."""
    if path.name.lower().endswith((".pubtator", ".pubtator.txt")):
        return True
    try:
        with path.open("rb") as handle:
            for raw in handle:
                if raw.strip():
                    head = raw.split(b"|", 2)
                    return len(head) == 3 and head[1] == b"t" and bool(head[0].strip()) and b"\t" not in head[0]
    except OSError as error:
        raise _open_error(path, error) from error
    return False


def _file_kind(path: Path) -> str:
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    return "pubtator" if looks_like_pubtator(path) else "txt"


def _documents_of_files(files: list[Path], base: Path, max_chars: int, kind: str | None) -> Iterator[Document]:
    for path in files:
        file_kind = kind or _file_kind(path)
        if file_kind == "txt":
            doc_id = str(path.relative_to(base).with_suffix("")) if path.is_relative_to(base) else path.stem
            yield read_text_file(path, doc_id, max_chars)
        elif file_kind == "jsonl":
            yield from (_too_long(doc, max_chars) for doc in read_jsonl_documents(path))
        else:
            yield from (_too_long(doc, max_chars) for doc in read_pubtator_documents(path))


# ------------------------------------------------------------------------------------------------- datasets
def load_dataset_source(source: str, split: str | None) -> Any:
    """A `datasets.Dataset` (saved folder) or `IterableDataset` (Hub id, streamed) of one split."""
    import datasets

    if Path(source).is_dir():
        loaded = datasets.load_from_disk(source)
    else:
        try:
            loaded = datasets.load_dataset(source, split=split, streaming=True)
        except Exception as error:  # the Hub library's many error types; the message names the source
            raise AnnotateInputError(f"input {source}: no such file or folder, and not a loadable datasets source "
                                     f"({type(error).__name__}: {error})") from error
    if isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None and len(loaded) == 1:
            split = next(iter(loaded))
        if split not in loaded:
            raise AnnotateInputError(f"input {source}: has splits {sorted(loaded)}; choose one with --split")
        loaded = loaded[split]
    return loaded


def _documents_of_dataset(dataset: Any, source: str, text_column: str, id_column: str,
                          max_chars: int) -> Iterator[Document]:
    for row_number, row in enumerate(dataset):
        doc_id = str(row[id_column]) if row.get(id_column) is not None else str(row_number)
        text = row.get(text_column)
        where = f"{source}[{row_number}]"
        if not isinstance(text, str):
            yield _skipped(doc_id, where, "format", f"column {text_column!r} is {type(text).__name__}, not a string")
        else:
            yield _too_long(Document(id=doc_id, text=text, source=where), max_chars)


# ---------------------------------------------------------------------------------------------------- source
@dataclass
class DocumentSource:
    """An input, resolved: ``kind`` and either ``files`` (file kinds) or ``dataset``. Iterating yields its
    documents in a stable order; ``count()`` is the number of documents when it is cheap to know, else None."""

    spec: str
    kind: str
    files: list[Path]
    base: Path
    max_chars: int
    dataset: Any = None
    text_column: str = "text"
    id_column: str = "id"

    def __iter__(self) -> Iterator[Document]:
        if self.kind == "datasets":
            yield from _documents_of_dataset(self.dataset, self.spec, self.text_column, self.id_column, self.max_chars)
        else:
            yield from _documents_of_files(self.files, self.base, self.max_chars,
                                           None if self.kind == "files" else self.kind)

    def count(self) -> int | None:
        if self.kind == "datasets":
            return len(self.dataset) if hasattr(self.dataset, "__len__") else None
        total = 0
        for path in self.files:
            kind = self.kind if self.kind != "files" else _file_kind(path)
            if kind == "txt":
                total += 1
                continue
            with path.open("rb") as handle:
                total += sum(1 for line in handle if line.strip() and (kind == "jsonl" or b"|t|" in line[:64]))
        return total

    def describe(self) -> dict[str, Any]:
        return {"input": self.spec, "kind": self.kind, "files": len(self.files)}


def open_source(spec: str, input_format: str = "auto", text_column: str = "text", id_column: str = "id",
                split: str | None = None, max_chars: int = 1_000_000) -> DocumentSource:
    """Resolve ``spec`` (file, folder, glob, saved dataset folder or Hub id) into a `DocumentSource`.

    Raises:
        AnnotateInputError: a missing path, a glob that matches nothing, a folder without documents, an unknown
            ``input_format``, a datasets source that cannot be loaded or lacks ``text_column``.
    """
    if input_format not in INPUT_FORMATS:
        raise AnnotateInputError(f"--input-format {input_format!r}: expected one of {', '.join(INPUT_FORMATS)}")
    path = Path(spec).expanduser()
    common = {"spec": spec, "max_chars": max_chars, "text_column": text_column, "id_column": id_column}
    is_dataset_folder = path.is_dir() and any((path / marker).is_file() for marker in DATASET_MARKERS)
    hub_id = (not path.exists() and not any(c in spec for c in _GLOB_CHARACTERS) and not looks_like_path(spec)
              and path.suffix not in _FILE_SUFFIXES)
    if input_format == "datasets" or (input_format == "auto" and (is_dataset_folder or hub_id)):
        dataset = load_dataset_source(spec, split)
        columns = list(dataset.column_names or [])
        if columns and text_column not in columns:
            raise AnnotateInputError(f"input {spec}: no column {text_column!r} (columns: {columns}); name the text "
                                     "column with --text-column")
        return DocumentSource(kind="datasets", files=[], base=path, dataset=dataset, **common)
    kind = "files" if input_format == "auto" else input_format
    if any(c in spec for c in _GLOB_CHARACTERS) and not path.exists():
        files = sorted(Path(name) for name in glob.glob(str(path), recursive=True) if Path(name).is_file())
        if not files:
            raise AnnotateInputError(f"input {spec}: the pattern matches no file")
        fixed = [part for part in path.parts if not any(c in part for c in _GLOB_CHARACTERS)]
        base = Path(*path.parts[: len(fixed)]) if fixed else Path(".")
        return DocumentSource(kind=kind, files=files, base=base, **common)
    if path.is_dir():
        files = sorted(file for file in path.rglob("*.txt") if file.is_file())
        if not files:
            raise AnnotateInputError(f"input {spec}: a folder without .txt files (and not a saved dataset)")
        return DocumentSource(kind="txt" if kind == "files" else kind, files=files, base=path, **common)
    if path.is_file():
        if not os.access(path, os.R_OK):
            raise AnnotateInputError(f"input {spec}: cannot be read (permission denied)")
        return DocumentSource(kind=_file_kind(path) if kind == "files" else kind, files=[path], base=path.parent,
                              **common)
    raise AnnotateInputError(f"input {spec}: no such file or folder")
