"""The teacher's three files, written atomically and bound together by one fingerprint.

``teacher.safetensors`` (H and its parts), ``entities.tsv`` (row -> KG id, name, type, synonyms, xrefs) and
``teacher.json`` are each written to a temporary sibling and renamed into place; ``teacher.json`` is removed before the others are
replaced and written last, so a build killed half-way leaves no ``teacher.json`` and never passes for a complete
teacher. The fingerprint — sha256 over ``entities.tsv``'s bytes and H's shape, dtype and bytes — is stored in
``teacher.json`` (``artifact``) and in the safetensors metadata (``teacher_fingerprint``); :func:`check_teacher_files`
recomputes it on load and names the file that disagrees.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from kogner.atomic import atomic_path, atomic_write_json, atomic_write_text, safetensors_is_complete
from kogner.kg.graph import KnowledgeGraph

logger = logging.getLogger(__name__)

VECTORS_FILE, ENTITIES_FILE, SUMMARY_FILE = "teacher.safetensors", "entities.tsv", "teacher.json"
ENTITIES_HEADER = ["row", "kg_id", "name", "type", "synonyms", "xrefs"]
LEGACY_ENTITIES_HEADER = ENTITIES_HEADER[:4]  # teachers built before synonyms and xrefs were kept
LIST_SEPARATOR = "|"


class TeacherFilesError(ValueError):
    """The teacher's files are missing, truncated, or do not belong to the same build."""


def _clean(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _joined(values: list[str]) -> str:
    return LIST_SEPARATOR.join(_clean(v).replace(LIST_SEPARATOR, "/") for v in values)


def entities_table(graph: KnowledgeGraph) -> str:
    """The content of ``entities.tsv``: a header, then one line per entity in row order (synonyms and xrefs
    ``|``-separated)."""
    lines = ["\t".join(ENTITIES_HEADER)]
    lines += [f"{row}\t{_clean(node_id)}\t{_clean(name)}\t{_clean(node_type)}\t{_joined(synonyms)}\t{_joined(xrefs)}"
              for row, (node_id, name, node_type, synonyms, xrefs)
              in enumerate(zip(graph.node_ids, graph.names, graph.types, graph.synonyms, graph.xrefs))]
    return "\n".join(lines) + "\n"


def vectors_digest(h: torch.Tensor) -> str:
    """sha256 of H's shape, dtype and bytes."""
    digest = hashlib.sha256(f"{list(h.shape)} {h.dtype}".encode())
    digest.update(h.detach().cpu().contiguous().view(torch.uint8).numpy())
    return digest.hexdigest()


def fingerprint_record(entities_bytes: bytes, h: torch.Tensor) -> dict[str, Any]:
    """The ``artifact`` block of ``teacher.json``: the fingerprint and what it is computed from."""
    entities_sha = hashlib.sha256(entities_bytes).hexdigest()
    vectors_sha = vectors_digest(h)
    return {
        "fingerprint": hashlib.sha256(f"{entities_sha} {vectors_sha}".encode()).hexdigest()[:32],
        "entities": int(h.shape[0]),
        "vectors_shape": list(h.shape),
        "entities_sha256": entities_sha,
        "vectors_sha256": vectors_sha,
        "method": "fingerprint = sha256(sha256(entities.tsv bytes) + sha256(H shape, dtype, bytes))",
    }


def begin_teacher_files(out_dir: Path) -> None:
    """Mark the teacher as incomplete (``teacher.json`` is the completion mark) before any file is replaced."""
    (out_dir / SUMMARY_FILE).unlink(missing_ok=True)


def write_teacher_files(out_dir: Path, tensors: dict[str, torch.Tensor], entities: str, kg_fingerprint: str) -> dict:
    """Write ``teacher.safetensors`` and ``entities.tsv`` atomically; returns the ``artifact`` record for teacher.json."""
    from safetensors.torch import save_file

    begin_teacher_files(out_dir)
    record = fingerprint_record(entities.encode("utf-8"), tensors["H"])
    with atomic_path(out_dir / VECTORS_FILE) as temporary:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(temporary),
                  metadata={"kg_fingerprint": kg_fingerprint, "teacher_fingerprint": record["fingerprint"]})
    atomic_write_text(out_dir / ENTITIES_FILE, entities)
    return record


def write_summary(out_dir: Path, summary: dict) -> None:
    """Write ``teacher.json`` last (atomically): from then on the teacher is complete."""
    atomic_write_json(out_dir / SUMMARY_FILE, summary)


def read_entity_columns(path: Path) -> dict[str, list]:
    """``kg_ids``, ``names``, ``types``, ``synonyms`` and ``xrefs`` (lists per row) of ``entities.tsv``; a table
    without the last two columns (an older teacher) gives empty lists. Errors name the file and line."""
    columns: dict[str, list] = {"kg_ids": [], "names": [], "types": [], "synonyms": [], "xrefs": []}
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header not in (ENTITIES_HEADER, LEGACY_ENTITIES_HEADER):
            raise TeacherFilesError(f"{path}, line 1: expected header {'/'.join(ENTITIES_HEADER)}, got {header}")
        for number, line in enumerate(handle, 2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header) or fields[0] != str(number - 2):
                raise TeacherFilesError(f"{path}, line {number}: expected row {number - 2} with {len(header)} "
                                        "tab-separated fields")
            columns["kg_ids"].append(fields[1])
            columns["names"].append(fields[2])
            columns["types"].append(fields[3])
            for column, value in zip(("synonyms", "xrefs"), fields[4:] if len(fields) > 4 else ("", "")):
                columns[column].append(value.split(LIST_SEPARATOR) if value else [])
    return columns


def read_entities(path: Path) -> tuple[list[str], list[str], list[str]]:
    """KG ids, names and types of ``entities.tsv``; errors name the file and line."""
    columns = read_entity_columns(path)
    return columns["kg_ids"], columns["names"], columns["types"]


def check_teacher_files(directory: Path) -> None:
    """Raise :class:`TeacherFilesError` / ``FileNotFoundError`` unless the three files exist and are whole."""
    rebuild = "rerun data_scripts/build_teacher.py with the same arguments (finished stages are reused)"
    missing = [name for name in (VECTORS_FILE, ENTITIES_FILE, SUMMARY_FILE) if not (directory / name).is_file()]
    if missing == [SUMMARY_FILE]:
        raise FileNotFoundError(f"{directory / SUMMARY_FILE} missing: the teacher build in {directory} did not "
                                f"finish (teacher.json is written last); {rebuild}")
    if missing:
        raise FileNotFoundError(f"{', '.join(str(directory / name) for name in missing)} missing: build the teacher "
                                "with data_scripts/build_teacher.py")
    if not safetensors_is_complete(directory / VECTORS_FILE):
        raise TeacherFilesError(f"{directory / VECTORS_FILE} is truncated or not a safetensors file; {rebuild}")


def verify_fingerprint(directory: Path, metadata: dict, h: torch.Tensor, vectors_metadata: dict[str, str],
                       kg_ids: list[str]) -> None:
    """Check that ``entities.tsv``, ``teacher.safetensors`` and ``teacher.json`` come from the same build."""
    rebuild = "the files come from different builds; rerun data_scripts/build_teacher.py with the same arguments"
    if h.shape[0] != len(kg_ids):
        raise TeacherFilesError(f"{directory / VECTORS_FILE} has {h.shape[0]} vectors but {directory / ENTITIES_FILE} "
                                f"lists {len(kg_ids)} entities; {rebuild}")
    recorded = metadata.get("artifact")
    if not isinstance(recorded, dict) or "fingerprint" not in recorded:
        logger.warning("%s has no fingerprint (an older or hand-made teacher): only the entity count is checked",
                       directory / SUMMARY_FILE)
        return
    if recorded.get("entities") != len(kg_ids):
        raise TeacherFilesError(f"{directory / SUMMARY_FILE} records {recorded.get('entities')} entities but "
                                f"{directory / ENTITIES_FILE} lists {len(kg_ids)}; {rebuild}")
    actual = fingerprint_record((directory / ENTITIES_FILE).read_bytes(), h)
    problems = []
    if actual["entities_sha256"] != recorded.get("entities_sha256"):
        problems.append(f"{ENTITIES_FILE} differs from the one fingerprinted in {SUMMARY_FILE}")
    if actual["vectors_sha256"] != recorded.get("vectors_sha256"):
        problems.append(f"{VECTORS_FILE}'s H differs from the one fingerprinted in {SUMMARY_FILE}")
    if vectors_metadata.get("teacher_fingerprint") != recorded["fingerprint"]:
        problems.append(f"{VECTORS_FILE} carries fingerprint {vectors_metadata.get('teacher_fingerprint')}, "
                        f"{SUMMARY_FILE} {recorded['fingerprint']}")
    if problems:
        raise TeacherFilesError(f"teacher {directory}: fingerprint mismatch: {'; '.join(problems)}; {rebuild}")


def read_summary(directory: Path) -> dict:
    try:
        return json.loads((directory / SUMMARY_FILE).read_text(encoding="utf-8"))
    except ValueError as error:
        raise TeacherFilesError(f"{directory / SUMMARY_FILE} is not valid JSON ({error}); rerun "
                                "data_scripts/build_teacher.py with the same arguments") from error
