"""The output folder of an annotation run: its record of inputs, its shards, and the checks that make resume safe.

Layout of ``OUT``::

    run.json                      what the run annotates with: model (path + content hash), backend, labels,
                                  threshold, options, shard size (written before any shard)
    shards/shard-000012.jsonl     the records of the 13th block of ``shard_size`` input documents, in input order
    shards/shard-000012.json      its manifest, written last: run id, input hash, output hash, skipped documents,
                                  entities per label, the rank and world size of the process that wrote it
    annotations.<format>          the merged output, written when every shard is done
    skipped.jsonl, summary.json   the documents that were skipped (id, source, kind, reason) and the run summary

A shard counts as done only when its manifest parses, names this run, and the hash of its records file matches; a
killed run therefore leaves at worst a shard that is redone. A folder written by another run (another model,
label set, threshold or options) is refused, as is a done shard whose input documents have changed since.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from kogner.atomic import atomic_write_json, atomic_write_text

from .inputs import Document

RUN_FILE = "run.json"
SHARDS_DIR = "shards"
SKIPPED_FILE = "skipped.jsonl"
SUMMARY_FILE = "summary.json"
RUN_KEYS = ("model", "backend", "labels", "threshold", "options", "shard_size")
"""The parts of ``run.json`` that must match for an output folder to be resumed."""
_MODEL_FILE_SUFFIXES = (".json", ".safetensors", ".bin", ".onnx", ".data")


class OutputFolderError(ValueError):
    """An output folder that this run must not write to (another run's output, or changed input)."""


def file_sha256(path: Path, hasher: Any = None) -> str:
    hasher = hasher or hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def model_fingerprint(model: str) -> str:
    """sha256 over the names and contents of a model folder's config, weight and graph files (a Hub id: the id)."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return f"hub:{model}"
    hasher = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _MODEL_FILE_SUFFIXES):
        hasher.update(path.name.encode() + b"\0")
        file_sha256(path, hasher)
    return hasher.hexdigest()


def run_id(record: dict[str, Any]) -> str:
    """A short hash of the resumable part of a run record (the keys in `RUN_KEYS`)."""
    key = json.dumps({name: record[name] for name in RUN_KEYS}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def check_output_folder(output: Path, record: dict[str, Any]) -> bool:
    """Whether ``output`` holds an earlier run of this very ``record`` (to resume); False when absent or empty.

    Raises:
        OutputFolderError: ``output`` is a file, holds another run (naming what differs), or holds other files.
    """
    if output.exists() and not output.is_dir():
        raise OutputFolderError(f"--output {output}: is a file; expected a folder (new or from the same run)")
    if not output.exists() or not any(output.iterdir()):
        return False
    run_file = output / RUN_FILE
    if not run_file.is_file():
        raise OutputFolderError(f"--output {output}: holds files but no {RUN_FILE}, so it is not the output of an "
                                "annotation run; choose a new or empty folder")
    try:
        earlier = json.loads(run_file.read_text(encoding="utf-8"))
        differences = [name for name in RUN_KEYS if earlier.get(name) != record[name]]
    except (OSError, ValueError, AttributeError) as error:
        raise OutputFolderError(f"--output {output}: {run_file} cannot be read ({error})") from error
    if differences:
        detail = "; ".join(f"{name}: {earlier.get(name)!r} there, {record[name]!r} now" for name in differences)
        raise OutputFolderError(f"--output {output} holds the shards of another run ({detail}); refusing to mix "
                                "them: choose a new --output, or delete that folder to start over")
    return True


def write_run_record(output: Path, record: dict[str, Any]) -> None:
    atomic_write_json(output / RUN_FILE, record)


def shard_paths(output: Path, index: int) -> tuple[Path, Path]:
    """The records file and the manifest of shard ``index``."""
    stem = output / SHARDS_DIR / f"shard-{index:06d}"
    return stem.with_suffix(".jsonl"), stem.with_suffix(".json")


def shards_of(documents: Iterable[Document], shard_size: int) -> Iterator[list[Document]]:
    """Consecutive blocks of ``shard_size`` documents (the last may be shorter): the stable cut of the input."""
    iterator = iter(documents)
    while block := list(islice(iterator, shard_size)):
        yield block


def documents_hash(documents: Iterable[Document]) -> str:
    """sha256 of the ids, texts and skip reasons of a shard's input documents."""
    hasher = hashlib.sha256()
    for document in documents:
        for part in (document.id, document.title or "", document.text, document.skip_reason or ""):
            hasher.update(part.encode("utf-8", "surrogatepass") + b"\0")
        hasher.update(b"\n")
    return hasher.hexdigest()


def done_manifest(output: Path, index: int, this_run: str, input_sha256: str) -> dict[str, Any] | None:
    """The manifest of shard ``index`` if that shard is done by this run, else None.

    Raises:
        OutputFolderError: the shard is done but was made from other documents than ``input_sha256`` says.
    """
    records_file, manifest_file = shard_paths(output, index)
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        complete = manifest["run_id"] == this_run and file_sha256(records_file) == manifest["output_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not complete:
        return None
    if manifest["input_sha256"] != input_sha256:
        raise OutputFolderError(
            f"{manifest_file}: shard {index} was annotated from other documents than the input gives now (the input "
            "changed since that run); annotate it into a new --output"
        )
    return manifest


def write_shard(output: Path, index: int, records: list[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    """Write shard ``index``: its records file, then its manifest (with the records' hash) — each atomically."""
    records_file, manifest_file = shard_paths(output, index)
    atomic_write_text(records_file, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    manifest = {"shard": index, **manifest, "output_sha256": file_sha256(records_file)}
    atomic_write_json(manifest_file, manifest)
    return manifest


def read_manifest(output: Path, index: int) -> dict[str, Any]:
    manifest_file = shard_paths(output, index)[1]
    try:
        return json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise OutputFolderError(f"{manifest_file}: shard {index} is not done ({error}); run again to finish it") \
            from error


def shard_records(output: Path, shard_count: int) -> Iterator[dict[str, Any]]:
    """The records of shards ``0 .. shard_count - 1``, in input order, read one line at a time."""
    for index in range(shard_count):
        with shard_paths(output, index)[0].open(encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
