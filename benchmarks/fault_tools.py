"""Helpers of ``benchmarks/faults.py``: kill a command at a trigger, judge a partial output, print the table."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT

Row = dict[str, Any]


def load_by_path(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def row(fault: str, injected: str, recovered: bool, lost: str, identical: bool | None, detail: str = "") -> Row:
    return {"fault": fault, "injected": injected, "recovered": recovered, "data_lost": lost, "identical": identical,
            "detail": detail}


def kill_at(command: list[str], log: Path, trigger: Callable[[float], bool], timeout_s: float = 600) -> float | None:
    """Start ``command`` in its own process group; SIGKILL the group when ``trigger(seconds)`` is true.

    Returns the second it was killed at, or None when it finished first."""
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started = time.monotonic()
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if trigger(elapsed) or elapsed > timeout_s:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return elapsed
            time.sleep(0.005)
    return None


class StartedAfter:
    """A trigger: true ``delay`` seconds after ``path`` first exists (the work proper has begun)."""

    def __init__(self, path: Path, delay: float) -> None:
        self.path, self.delay, self.seen = path, delay, None

    def __call__(self, elapsed: float) -> bool:
        if self.seen is None and self.path.exists():
            self.seen = elapsed
        return self.seen is not None and elapsed >= self.seen + self.delay


class RowsDone:
    """A trigger: true once ``path`` (a progress log) holds at least ``rows`` lines."""

    def __init__(self, path: Path, rows: int) -> None:
        self.path, self.rows = path, rows

    def __call__(self, elapsed: float) -> bool:
        try:
            return self.path.read_bytes().count(b"\n") >= self.rows
        except OSError:
            return False


def inject(name: str, command: list[str], out: Path, marker: Path, window_s: float, rng: random.Random) -> str:
    """Kill ``command`` (which writes ``out``) at a random point of its working window, which starts when ``marker``
    appears; up to two tries. Describes where it was killed."""
    for attempt in range(2):
        delay = rng.uniform(0, window_s * (0.9 if attempt == 0 else 0.4))
        shutil.rmtree(out, ignore_errors=True)
        killed = kill_at(command, out.parent / f"{name}-killed-{attempt}.log", StartedAfter(marker, delay))
        if killed is not None:
            return f"SIGKILL {delay:.2f}s into the work (of ~{window_s:.1f}s)"
    return "not injected: the run finished before the kill point"


def partial_state(load: Callable[[], Any], same_as_reference: Callable[[], bool]) -> str:
    """What a reader makes of an output after a kill: ``refused``, ``complete`` (equal to the reference), or
    ``ACCEPTED PARTIAL`` (it loads but differs: the failure this script looks for)."""
    try:
        load()
    except Exception:  # any refusal counts: the check is only that a partial output is not loaded silently
        return "refused"
    return "complete" if same_as_reference() else "ACCEPTED PARTIAL"


def refused(load: Callable[[], Any]) -> bool:
    return partial_state(load, lambda: True) == "refused"


def quietly(function: Callable[..., Any], *arguments: Any) -> Any:
    """Run an in-process pipeline step with its progress bars (stderr) and prints (stdout) discarded."""
    logging.disable(logging.WARNING)  # the pipelines' logs; errors still show
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            return function(*arguments)
    finally:
        logging.disable(logging.NOTSET)


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def table(rows: list[Row]) -> str:
    lines = ["| fault | injected | recovered | data lost | identical to uninterrupted |", "|---|---|---|---|---|"]
    for item in rows:
        identical = {True: "yes", False: "NO", None: "n/a"}[item["identical"]]
        lines.append(f"| {item['fault']} | {item['injected']} | {'yes' if item['recovered'] else 'NO'} | "
                     f"{item['data_lost']} | {identical} |")
    return "\n".join(lines)


