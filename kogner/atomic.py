"""Atomic, checked outputs: every artifact is written to a temporary sibling and renamed into place.

A reader (or a resumed run) therefore sees either the previous complete file or the new complete file, never a
torn one. Folders that hold several outputs next to files of other kinds (a generated dataset next to its
progress log, a final model next to its checkpoints) are published with :func:`publish_folder`: the folder's
*marker* file (``dataset_dict.json``, ``config.json``) is removed first and put back last, so an interrupted
publication leaves no marker and is never taken for a complete output.

The checks at the end (:func:`safetensors_is_complete`, :func:`checkpoint_is_complete`,
:func:`last_complete_checkpoint`) tell a complete file or Trainer checkpoint from a truncated one without
loading it.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The temporary sibling of ``path`` (hidden, same folder, so that :func:`os.replace` is a rename)."""
    path = Path(path)
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems (and Windows) do not open folders; the rename is still atomic
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; it replaces ``path`` only if the block succeeds.

    On an exception the temporary file is removed and ``path`` keeps its previous content.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(target)
    _remove(temporary)  # left over by a killed run
    try:
        yield temporary
        if not temporary.is_file():
            raise FileNotFoundError(f"{temporary}: nothing was written for {target}")
        _fsync_file(temporary)
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
    _fsync_folder(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike[str], payload: Any, **dumps: Any) -> None:
    """``json.dumps(payload, indent=2)`` written atomically (extra keyword arguments go to ``json.dumps``)."""
    atomic_write_text(path, json.dumps(payload, **({"indent": 2} | dumps)))


def replace_folder(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the complete folder ``source`` to ``target``, replacing what was there.

    POSIX cannot rename onto a non-empty folder, so the old ``target`` is first renamed aside: at every moment
    ``target`` is either the old complete folder, absent, or the new complete folder.
    """
    source, target = Path(source), Path(target)
    for file in (p for p in source.rglob("*") if p.is_file()):
        _fsync_file(file)
    aside = target.with_name(f".{target.name}.old")
    _remove(aside)
    if target.exists():
        os.replace(target, aside)
    os.replace(source, target)
    _fsync_folder(target.parent)
    _remove(aside)


@contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder; when the block succeeds it replaces ``path`` (see :func:`replace_folder`)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(target)
    _remove(temporary)
    temporary.mkdir()
    try:
        yield temporary
        replace_folder(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


def publish_folder(source: str | os.PathLike[str], target: str | os.PathLike[str], marker: str) -> None:
    """Move every entry of the complete folder ``source`` into ``target``, its ``marker`` file last.

    ``target`` may hold other things (progress logs, checkpoints), which are kept. The marker is removed from
    ``target`` before anything moves, so an interrupted publication leaves a folder without its marker, which
    loaders reject, instead of a mix of old and new files taken for a complete output.
    """
    source, target = Path(source), Path(target)
    if not (source / marker).is_file():
        raise FileNotFoundError(f"{source / marker} missing: refusing to publish an incomplete {target}")
    target.mkdir(parents=True, exist_ok=True)
    (target / marker).unlink(missing_ok=True)
    _fsync_folder(target)
    for entry in sorted(source.iterdir()):
        if entry.name == marker:
            continue
        if entry.is_dir():
            replace_folder(entry, target / entry.name)
        else:
            _fsync_file(entry)
            os.replace(entry, target / entry.name)
    _fsync_file(source / marker)
    os.replace(source / marker, target / marker)
    _fsync_folder(target)
    _remove(source)


# ------------------------------------------------------------------------------------------------------ checks


def safetensors_is_complete(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a whole safetensors file: a readable header whose tensors end exactly at the file's end."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size - 8:
                return False
            header = json.loads(handle.read(header_size))
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        return False
    ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    return 8 + header_size + max(ends, default=0) == size


def zip_is_complete(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a whole zip archive (``torch.save``'s format): its central directory is intact."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None if Path(path).stat().st_size < 2**20 else bool(archive.namelist())
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def checkpoint_is_complete(folder: str | os.PathLike[str]) -> bool:
    """Whether a Trainer checkpoint folder was written to the end.

    ``trainer_state.json`` (the Trainer writes it after the weights, optimizer, scheduler and RNG states) must
    parse, every ``*.safetensors`` must be whole and every ``*.pt``/``*.pth``/``*.bin`` a whole zip archive.
    """
    folder = Path(folder)
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = [p for p in folder.iterdir() if p.is_file()]
    if not any(p.suffix == ".safetensors" for p in files):
        return False
    for file in files:
        if file.suffix == ".safetensors" and not safetensors_is_complete(file):
            return False
        if file.suffix in (".pt", ".pth", ".bin") and not zip_is_complete(file):
            return False
    return True


def last_complete_checkpoint(output_dir: str | os.PathLike[str]) -> Path | None:
    """The ``checkpoint-<step>`` folder of ``output_dir`` with the highest step that is complete, or None."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = sorted(
        (int(p.name.split("-", 1)[1]), p)
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-", 1)[1].isdigit()
    )
    for _, checkpoint in reversed(steps):
        if checkpoint_is_complete(checkpoint):
            return checkpoint
    return None
