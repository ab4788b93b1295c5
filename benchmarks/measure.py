"""Timing and memory of a block for the speed benchmarks: GPU synchronisation, peak memory and the interleaved
timing of several predictors on the same texts.

Only the standard library, torch and (optionally) psutil.
"""

from __future__ import annotations

import threading
import time
from typing import Any


def _rss_bytes() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss


class PeakMemory:
    """Peak resident memory above the start (sampled every 2 ms) and, on CUDA, peak allocated GPU memory.

    ``rss_delta_mib`` is the growth of the process' RSS during the block: memory the work needed beyond what was
    already resident (model weights loaded before the block are not counted). ``None`` without psutil.
    """

    def __init__(self, device: str, interval_s: float = 0.002) -> None:
        self.device = device
        self.interval_s = interval_s
        self.rss_delta_mib: float | None = None
        self.cuda_peak_mib: float | None = None
        self._stop = threading.Event()
        self._peak = 0
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_bytes() or 0)
            time.sleep(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        import torch

        self._start = _rss_bytes()
        if self._start is not None:
            self._peak = self._start
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._cuda_start = torch.cuda.memory_allocated()
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.cuda_peak_mib = (torch.cuda.max_memory_allocated() - self._cuda_start) / 2**20
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes() or 0)
            self.rss_delta_mib = (self._peak - self._start) / 2**20


def synchronize(device: str) -> None:
    """Wait for queued GPU work so that wall-clock timings are honest."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def interleaved(
    models: dict[str, Any], texts: list[str], labels: list[str], threshold: float | None, batch_size: int, repeats: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Each arm's time over ``texts`` and its entity count: ``(seconds, entities)`` keyed like ``models``.

    ``models``: arm name -> an object with ``batch_predict_entities(texts, labels, threshold, batch_size=...)``
    returning one list of entities per text. For each batch of ``batch_size`` texts every arm runs once, in
    rotating order, and each arm's time is summed over the batches, so load from other processes on a shared
    machine falls on all arms alike and the ratios stay meaningful where absolute rates do not. With ``repeats``
    > 1 the whole pass is repeated and each arm's median sum is returned (entities: per pass). The caller warms up.
    """
    keys = list(models)
    totals: dict[str, list[float]] = {key: [] for key in keys}
    entities = {key: 0 for key in keys}
    for _ in range(repeats):
        spent = {key: 0.0 for key in keys}
        for index, first in enumerate(range(0, len(texts), batch_size)):
            chunk = texts[first : first + batch_size]
            for key in keys[index % len(keys):] + keys[: index % len(keys)]:
                started = time.perf_counter()
                found = models[key].batch_predict_entities(chunk, labels, threshold, batch_size=batch_size)
                spent[key] += time.perf_counter() - started
                entities[key] += sum(map(len, found))
        for key in keys:
            totals[key].append(spent[key])
    medians = {key: sorted(values)[len(values) // 2] for key, values in totals.items()}
    return medians, {key: count // repeats for key, count in entities.items()}
