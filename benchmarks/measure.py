"""Timing and memory of a block for the speed benchmarks: GPU synchronisation and peak memory.

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
