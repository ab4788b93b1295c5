"""The README's multi-process command starts ONE training job of world size 2 on a CPU-only machine.

The command is read from README.md (its ``accelerate launch --multi_gpu ...`` line for CPUs) and run with a tiny
model for 2 steps; every process writes what it saw (its rank, ``torch.distributed`` world size, the Trainer's
world size). Two separate world-size-1 runs — what ``--multi_gpu`` without ``--use_cpu true`` gives on a CPU —
would fail this test; the guard in ``run_training`` refuses them with a message naming the fix.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset, DatasetDict

from kogner.training.pipeline import check_world_size
from toy_data import toy_examples

REPO_ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    # train.py, plus a report of what this process saw (one file per rank).
    import json, os, sys
    from pathlib import Path
    import torch.distributed as dist
    from accelerate import PartialState
    from kogner.training import cli

    cli.main(sys.argv[1:])
    state = PartialState()  # the state the Trainer ran with
    report = {"rank_env": os.environ.get("RANK"), "trainer_world_size": state.num_processes,
              "trainer_rank": state.process_index,
              "dist_world_size": dist.get_world_size() if dist.is_initialized() else 1}
    output_dir = Path(sys.argv[sys.argv.index("--output_dir") + 1])
    output_dir.parent.joinpath(f"rank{report['rank_env']}.json").write_text(json.dumps(report))
    """
)


def readme_cpu_command() -> tuple[list[str], list[str]]:
    """The launcher flags and the extra train.py flags of the README's multi-process CPU command."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^accelerate launch (--multi_gpu[^\n]*?) train\.py --config \S+ ([^#\n]*?)\s*#[^\n]*CPU",
                      readme, re.M)
    assert match, "README.md must show the multi-process CPU command (accelerate launch --multi_gpu ... train.py ...)"
    return shlex.split(match.group(1)), shlex.split(match.group(2))


@pytest.mark.slow
def test_readme_command_starts_one_job_of_world_size_two(tiny_encoder_dir, tmp_path):
    launch_flags, train_flags = readme_cpu_command()
    assert "--num_processes" in launch_flags and launch_flags[launch_flags.index("--num_processes") + 1] == "2"
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples()]
    DatasetDict(train=Dataset.from_list(rows)).save_to_disk(str(tmp_path / "data"))
    (tmp_path / "probe.py").write_text(PROBE)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", *launch_flags,
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
        str(tmp_path / "probe.py"),
        "--encoder", str(tiny_encoder_dir), "--train_data", str(tmp_path / "data"), "--output_dir",
        str(tmp_path / "run" / "model"), "--hidden_size", "32", "--max_steps", "2", "--per_device_train_batch_size", "4",
        "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--dist_weight", "0",
        *train_flags,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    reports = {path.name: json.loads(path.read_text()) for path in (tmp_path / "run").glob("rank*.json")}
    assert sorted(reports) == ["rank0.json", "rank1.json"], result.stderr[-2000:]
    for report in reports.values():
        assert report["trainer_world_size"] == 2
        assert report["dist_world_size"] == 2
        assert str(report["trainer_rank"]) == report["rank_env"]  # ranks 0 and 1 of one job, not two rank-0 runs
    assert json.loads((tmp_path / "run" / "model" / "training_log.json").read_text())["world_size"] == 2


def test_a_process_training_alone_under_a_multiprocess_launcher_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="--use_cpu true"):
        check_world_size(SimpleNamespace(world_size=1))
    check_world_size(SimpleNamespace(world_size=2))
    monkeypatch.delenv("WORLD_SIZE")
    check_world_size(SimpleNamespace(world_size=1))
    assert torch.distributed.is_available()
