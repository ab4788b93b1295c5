"""Measuring a stage (wall time, peak memory) and caching its vectors by a hash of its inputs."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from kogner.atomic import atomic_path, atomic_write_json, safetensors_is_complete

logger = logging.getLogger(__name__)

class PeakMemory:
    """Samples this process's resident memory in a thread; ``peak_mb`` after the ``with`` block."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self.peak_mb = 0.0

    def _sample(self) -> None:
        self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Yields a dict filled with ``wall_time_s`` and ``peak_rss_mb`` when the block ends."""
    stats: dict[str, float] = {}
    start = time.perf_counter()
    with PeakMemory() as memory:
        yield stats
    stats["wall_time_s"] = round(time.perf_counter() - start, 3)
    stats["peak_rss_mb"] = round(memory.peak_mb, 1)


def stable_hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encoder_identity(encoder: str) -> dict[str, object]:
    """What identifies an encoder for caching: a Hub id as it is; a local folder by its contents (file names and
    sizes, config), not by where it lies, so a new clone or virtual environment with the same encoder package reuses
    the cached stages."""
    path = Path(encoder)
    if not path.is_dir():
        return {"encoder": encoder}
    files = {p.name: p.stat().st_size for p in sorted(path.iterdir()) if p.is_file()}
    config = (path / "config.json").read_text() if (path / "config.json").exists() else ""
    return {"encoder": "local folder", "files": files, "config": hashlib.sha256(config.encode()).hexdigest()}


class StageCache:
    """``<root>/<stage>/vectors.safetensors`` + ``record.json``; the record is written last (completion mark)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def record_path(self, stage: str) -> Path:
        return self.root / stage / "record.json"

    def load(self, stage: str, key: str) -> tuple[dict[str, torch.Tensor], dict] | None:
        from safetensors.torch import load_file

        record_path = self.record_path(stage)
        if not record_path.exists():
            return None
        try:
            record = json.loads(record_path.read_text())
        except ValueError:
            logger.warning("%s is not valid JSON: recomputing stage %s", record_path, stage)
            return None
        if record.get("key") != key:
            return None
        vectors_path = self.root / stage / "vectors.safetensors"
        if not safetensors_is_complete(vectors_path):
            logger.warning("%s is missing or truncated: recomputing stage %s", vectors_path, stage)
            return None
        tensors = load_file(vectors_path)
        if "shape" in record and list(tensors["vectors"].shape) != record["shape"]:
            logger.warning("%s holds shape %s, its record %s: recomputing stage %s", vectors_path,
                           list(tensors["vectors"].shape), record["shape"], stage)
            return None
        return tensors, record

    def save(self, stage: str, key: str, tensors: dict[str, torch.Tensor], record: dict) -> dict:
        from safetensors.torch import save_file

        folder = self.root / stage
        folder.mkdir(parents=True, exist_ok=True)
        self.record_path(stage).unlink(missing_ok=True)  # invalid until both files are complete
        with atomic_path(folder / "vectors.safetensors") as temporary:
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(temporary))
        record = {"stage": stage, "key": key, **record}
        atomic_write_json(self.record_path(stage), record)  # written last: the completion mark
        return record
