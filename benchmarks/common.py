"""The one helper every benchmark uses: provenance, atomic result writing, run keys, mean ± std.

* :func:`provenance` is what a results JSON records about its run: ``command`` (as typed, see
  :func:`command_line`), ``commit``, ``machine``, ``date``, ``busy_with`` (other heavy jobs at the start) and, when
  given, ``seeds``. Take it when the run starts: the machine's load is the one the run found.
* :func:`write_json` writes a result or a run record atomically (:func:`kogner.atomic.atomic_write_json`): a reader
  or a resumed run sees the previous complete file or the new one, never a torn one. :func:`read_json` reads one
  back for resuming (``{}`` when absent or when ``fresh``); :func:`resumable_report` resumes a report written part
  by part.
* :func:`run_key` names a run folder or record after the settings it depends on: same settings, same key.

Only the standard library, torch (imported where needed), ``kogner.atomic`` and, optionally, psutil: ``speed`` must
run on a GPU box that has nothing but torch + transformers + accelerate.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from kogner.atomic import atomic_write_json

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
HEAVY_SCRIPTS = ("train.py", "kogner-train", "build_teacher.py", "make_bmg_dataset.py")


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """``python -m benchmarks.<script> ARGS``: the command that reruns this run (``argv`` None: this process')."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", "-m", f"benchmarks.{script}", *arguments])


def split_at_double_dash(argv: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """``argv`` (None: this process' arguments) as (the script's own arguments, those after ``--``, passed on)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    split = arguments.index("--") if "--" in arguments else len(arguments)
    return arguments[:split], arguments[split + 1 :]


def machine_info(device: str) -> dict[str, Any]:
    """What the numbers were measured on: versions, CPUs, threads, load average, GPU name, RAM."""
    import torch

    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "env": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")},
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover - transformers is required by every script
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        import psutil

        info["ram_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        info["ram_gib"] = None
    return info


def heavy_processes(names: Sequence[str] = HEAVY_SCRIPTS) -> list[str]:
    """Command lines of other running heavy Python jobs (to record that the machine was busy)."""
    try:
        import psutil
    except ImportError:
        return []
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if process.info["pid"] != os.getpid() and "python" in cmdline and any(name in cmdline for name in names):
            found.append(cmdline[:160])
    return found


def git_commit() -> str:
    """``git rev-parse --short HEAD``, plus "plus uncommitted changes" when the tree is dirty."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} plus uncommitted changes" if dirty else commit


def provenance(command: str, device: str = "cpu", seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """``{command, commit, machine, date, busy_with[, seeds]}`` of a run (take it at the start of the run)."""
    record: dict[str, Any] = {"command": command, "commit": git_commit(), "machine": machine_info(device),
                              "date": time.strftime("%Y-%m-%d %H:%M"), "busy_with": heavy_processes()}
    if seeds is not None:
        record["seeds"] = list(seeds)
    return record


def write_json(path: str | os.PathLike[str], payload: dict[str, Any], announce: bool = True) -> None:
    """Write ``payload`` as indented JSON atomically (values JSON cannot hold are written as ``str``)."""
    atomic_write_json(path, payload, default=str)
    if announce:
        print(f"results written to {path}", flush=True)


def read_json(path: str | os.PathLike[str], fresh: bool = False) -> dict[str, Any]:
    """What an earlier (possibly interrupted) run wrote to ``path``; ``{}`` when there is none or when ``fresh``."""
    path = Path(path)
    if fresh or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def resumable_report(path: str | os.PathLike[str], settings: dict[str, Any], command: str, fresh: bool = False,
                     device: str = "cpu") -> dict[str, Any]:
    """The report of a run that writes its results part by part (``report["results"][part]``) into ``path``.

    The parts an earlier, interrupted run with the same ``settings`` wrote are kept (unless ``fresh``); provenance is
    this run's. Raises SystemExit when ``path`` holds results of other settings (nothing is overwritten).
    """
    report = read_json(path, fresh)
    if report.get("settings") not in (None, settings):
        raise SystemExit(f"error: {path} holds results of other settings {report['settings']}; pass --force to "
                         "start over or --output for another file")
    report.update({**provenance(command, device), "settings": settings})
    report.setdefault("results", {})
    return report


def run_key(settings: Any) -> str:
    """12 hex digits naming a run after ``settings`` (JSON-able; keys sorted, so dict order does not matter)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; NaN for none)."""
    values = list(values)
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
