"""`make demo` (``python -m scripts.demo``): knowledge graph -> teacher -> generated data -> KoGNER training -> evaluation, offline defaults.

Each stage runs as its own command with its output shown and saved to runs/demo/logs/<stage>.log. A stage that
finished is recorded in runs/demo/stages/<stage>.json with a key of its command, its input files (code and
config) and the stages before it; a second `make demo` skips it while that key is unchanged AND its outputs are
complete (a deleted or truncated output runs the stage again). A failure (or Ctrl-C, or kill -9) stops the run,
names the stage and its log, and leaves finished stages intact: run `make demo` again to resume. An interrupted
training stage resumes from its last complete checkpoint when its key is unchanged (checkpoints of other
settings are removed). The teacher and data stages resume by themselves (stage cache, progress log).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from kogner.atomic import atomic_write_json, last_complete_checkpoint, safetensors_is_complete

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "runs" / "demo"
MODEL_DIR = DEMO_DIR / "model"
TEACHER_DIR = REPO_ROOT / "runs" / "teacher"
DATA_DIR = REPO_ROOT / "runs" / "data"
CONFIG = REPO_ROOT / "configs" / "cpu-demo.yaml"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "demo.json"
EXAMPLE = "Cisplatin-induced nephrotoxicity was observed in BRCA1 carriers."


@dataclass
class Stage:
    name: str
    description: str
    command: list[str]
    inputs: list[Path]  # files whose content is part of the stage's key
    complete: Callable[[], str | None]  # None when the stage's outputs are complete, else what is missing
    restart_flag: str | None = None  # passed when the stage's inputs changed since it last finished

    def key(self, previous_key: str) -> str:
        digest = hashlib.sha256(previous_key.encode())
        digest.update(shlex.join(self.command).encode())
        for path in self.inputs:
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes() if path.is_file() else b"<absent>")
        return digest.hexdigest()[:16]


def sources(*folders: str) -> list[Path]:
    """The Python files of these repository folders (part of a stage's key: changed code reruns the stage)."""
    return sorted(path for folder in folders for path in (REPO_ROOT / folder).glob("*.py"))


def teacher_complete() -> str | None:
    from kogner.teacher.files import check_teacher_files

    try:
        check_teacher_files(TEACHER_DIR)
    except (OSError, ValueError) as error:
        return str(error)
    return None


def data_complete() -> str | None:
    marker = DATA_DIR / "dataset_dict.json"
    return None if marker.is_file() else f"{marker} missing"


def model_complete() -> str | None:
    for name in ("config.json", "model.safetensors", "eval_results.json"):
        if not (MODEL_DIR / name).is_file():
            return f"{MODEL_DIR / name} missing"
    if not safetensors_is_complete(MODEL_DIR / "model.safetensors"):
        return f"{MODEL_DIR / 'model.safetensors'} is truncated"
    return None


def corpora_present() -> bool:
    from kogner.corpora.registry import available_evaluation_corpora, resolve_data_dir

    present = available_evaluation_corpora()
    if not any("test" in splits for splits in present.values()):
        print(
            f"[demo] no annotated corpora found in {resolve_data_dir()}: the evaluation on them is skipped.\n"
            "       Put the IOB corpora there (ncbi_disease/, bc5cdr/, bc2gm/, jnlpba/, bc4chemd/ with "
            "train.tsv, devel.tsv, test.tsv) or set KOGNER_DATA_DIR.",
            flush=True,
        )
        return False
    return True


def stages(python: str, with_corpora: bool) -> list[Stage]:
    train = [python, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
             "--mixed_precision", "no", "--dynamo_backend", "no", "train.py", "--config", str(CONFIG.relative_to(REPO_ROOT))]
    if not with_corpora:
        train += ["--test_data", "runs/data:test"]
    return [
        Stage("teacher", "knowledge graph biokg-lite -> teacher vectors H = [Z, Z', Z'']",
              [python, "data_scripts/build_teacher.py", "--kg", "biokg-lite", "--out", "runs/teacher"],
              sources("kogner/teacher", "kogner/kg"), teacher_complete),
        Stage("data", "template-generated BMG-style sentences linked to the KG",
              [python, "data_scripts/make_bmg_dataset.py", "--kg", "biokg-lite", "--generator", "template",
               "--out", "runs/data"],
              sources("kogner/datagen"), data_complete, restart_flag="--restart"),
        Stage("train", "KoGNER training with distillation, then evaluation", train, [CONFIG], model_complete),
    ]


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (the stages run there), else absolute."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def checkpoint_step(checkpoint: Path) -> int:
    step = checkpoint.name.split("-", 1)[-1]
    return int(step) if step.isdigit() else -1


def prepare_training(stage: Stage, resume: bool) -> None:
    """Resume the interrupted training of the same key from its last complete checkpoint (``resume``), removing
    the incomplete checkpoints after it; otherwise remove every checkpoint in MODEL_DIR (other settings)."""
    last = last_complete_checkpoint(MODEL_DIR) if resume else None
    for checkpoint in sorted(MODEL_DIR.glob("checkpoint-*"), key=checkpoint_step):
        if checkpoint.is_dir() and (last is None or checkpoint_step(checkpoint) > checkpoint_step(last)):
            why = "incomplete" if resume else "from a training with other settings"
            print(f"[demo] removing {shown(checkpoint)} ({why})", flush=True)
            shutil.rmtree(checkpoint)
    if last is not None:
        print(f"[demo] resuming training from {shown(last)}", flush=True)
        stage.command = [*stage.command, "--resume_from_checkpoint", shown(last)]


def run_stage(stage: Stage, number: int, total: int) -> None:
    log_path = DEMO_DIR / "logs" / f"{stage.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"\n[demo] stage {number}/{total} '{stage.name}': {stage.description}\n"
          f"[demo] $ {shlex.join(stage.command)}\n[demo] log: {log_path}", flush=True)
    started = time.time()
    with open(log_path, "wb") as log:
        # The stage inherits the lock: killed, this script cannot let a second `make demo` start while it runs on.
        process = subprocess.Popen(stage.command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   pass_fds=held_locks)
        assert process.stdout is not None
        try:
            # Raw bytes, not lines: progress bars redraw themselves with carriage returns.
            while chunk := process.stdout.read1(65536):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                log.write(chunk)
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
        code = process.wait()
    if code != 0:
        raise StageFailed(stage, log_path, code)
    print(f"[demo] stage '{stage.name}' done in {time.time() - started:.0f} s", flush=True)


class StageFailed(RuntimeError):
    def __init__(self, stage: Stage, log_path: Path, code: int) -> None:
        super().__init__(f"stage '{stage.name}' failed with exit code {code}")
        self.stage, self.log_path = stage, log_path


def read_results(path: Path) -> tuple[dict, str | None]:
    """The per-set scores in ``path`` (training's ``eval_results.json``, or an evaluation file with a ``results``
    key), and why they cannot be shown when they cannot."""
    try:
        results = json.loads(path.read_text())
    except OSError:
        return {}, f"{path} missing"
    except ValueError as error:
        return {}, f"{path} is not valid JSON ({error})"
    if isinstance(results, dict) and isinstance(results.get("results"), dict):
        results = results["results"]
    needed = ("precision", "recall", "f1", "labels", "per_label")
    if not isinstance(results, dict) or not all(isinstance(v, dict) and all(k in v for k in needed)
                                                for v in results.values()):
        return {}, f"{path} does not hold per-set scores ({', '.join(needed)})"
    return results, None


def record_run(results: dict, wall_seconds: float) -> Path:
    """``benchmarks/results/demo.json``: provenance, the recipe, the dev-chosen threshold, the distillation share
    over training and the test scores (percent) of this run; README and BENCHMARKS.md quote it."""
    from benchmarks.common import provenance, write_json

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    log = json.loads((MODEL_DIR / "training_log.json").read_text(encoding="utf-8"))
    shares = [entry["dist_share"] for entry in log["log_history"] if "dist_share" in entry]
    write_json(RESULTS, {
        **provenance("make demo", seeds=[config["seed"]]), "wall_seconds": round(wall_seconds),
        "config": str(CONFIG.relative_to(REPO_ROOT)),
        "training": {key: config.get(key) for key in ("train_data", "drop_documents_shared_with", "max_steps",
                                                      "per_device_train_batch_size", "lang_weight", "dist_weight",
                                                      "loss_balance", "label_implications")},
        "dist_share": {"first": shares[0], "last": shares[-1], "mean": sum(shares) / len(shares)} if shares else None,
        "threshold": log.get("threshold_choice"),
        "corpora": {name: {"f1": round(100 * scores["f1"], 1), "precision": round(100 * scores["precision"], 1),
                           "recall": round(100 * scores["recall"], 1),
                           "per_label_f1": {label: round(100 * value["f1"], 1)
                                            for label, value in scores["per_label"].items()}}
                    for name, scores in results.items()},
    }, announce=False)
    return RESULTS


def summary(wall_seconds: float) -> None:
    results, problem = read_results(MODEL_DIR / "eval_results.json")
    if results:
        from kogner.evaluation.evaluate import markdown_table

        print("\n[demo] evaluation (strict span + type match):\n" + markdown_table(results))
        print(f"[demo] recorded in {shown(record_run(results, wall_seconds))}", flush=True)
    elif problem:
        print(f"\n[demo] no evaluation table: {problem} (rerun with make demo DEMO_ARGS='--force train')",
              flush=True)
    print(f"""
[demo] model saved to {MODEL_DIR.relative_to(REPO_ROOT)} (with its model card README.md)

Try it:
  .venv/bin/python app.py --model {MODEL_DIR.relative_to(REPO_ROOT)}      # Gradio demo on http://127.0.0.1:7860

  from transformers import AutoModel
  model = AutoModel.from_pretrained("{MODEL_DIR.relative_to(REPO_ROOT)}", trust_remote_code=True)
  print(model.predict_entities("{EXAMPLE}", ["chemical", "disease", "gene"]))
""", flush=True)


def read_key(record: Path) -> str | None:
    """The key in a stage record; an unreadable record counts as none (the stage runs again)."""
    try:
        return json.loads(record.read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None


held_locks: tuple[int, ...] = ()


@contextmanager
def demo_lock() -> Iterator[None]:
    """Hold ``runs/demo/.lock`` (flock) while the demo runs; a second `make demo` on the same folder stops at once."""
    global held_locks
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(DEMO_DIR / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise SystemExit(f"[demo] another `make demo` (or a stage it started) is still running on "
                         f"{shown(DEMO_DIR)}: wait for it or stop it, then run `make demo` again") from None
    held_locks = (descriptor,)
    try:
        yield
    finally:
        held_locks = ()
        os.close(descriptor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", nargs="*", default=[], metavar="STAGE",
                        help="rerun these stages (teacher, data, train) even if they finished")
    args = parser.parse_args(argv)
    with demo_lock():
        return run_stages(args)


def run_stages(args: argparse.Namespace) -> int:
    python = sys.executable
    all_stages = stages(python, corpora_present())
    previous_key = "kogner-demo-v1"
    started = time.time()
    for number, stage in enumerate(all_stages, 1):
        key = stage.key(previous_key)
        record = DEMO_DIR / "stages" / f"{stage.name}.json"
        started_record = DEMO_DIR / "stages" / f"{stage.name}.started.json"
        finished_key, started_key = read_key(record), read_key(started_record)
        missing = stage.complete() if finished_key == key else None
        if finished_key == key and missing is None and stage.name not in args.force:
            print(f"[demo] stage {number}/{len(all_stages)} '{stage.name}': finished earlier, reused "
                  f"(rerun with: make demo DEMO_ARGS='--force {stage.name}')", flush=True)
        else:
            if missing:
                print(f"[demo] stage '{stage.name}' finished earlier but its output is incomplete ({missing}): "
                      "running it again", flush=True)
            # Same key started before (interrupted, or outputs lost): resume. Other inputs, or --force: start over.
            fresh = stage.name in args.force or started_key != key
            if fresh and stage.restart_flag and (finished_key or started_key):
                stage.command = [*stage.command, stage.restart_flag]
            if stage.name == "train":
                prepare_training(stage, resume=not fresh)
            record.unlink(missing_ok=True)  # not finished until this run of the stage succeeds
            atomic_write_json(started_record, {"key": key, "started": time.strftime("%Y-%m-%d %H:%M:%S")})
            try:
                run_stage(stage, number, len(all_stages))
            except StageFailed as failure:
                print(f"\n[demo] FAILED: {failure}. Its output is in {failure.log_path}.\n"
                      f"[demo] Finished stages are kept; fix the cause and run `make demo` again to resume.",
                      file=sys.stderr, flush=True)
                return 1
            except KeyboardInterrupt:
                print(f"\n[demo] interrupted during stage '{stage.name}'; finished stages are kept. "
                      "Run `make demo` again to resume.", file=sys.stderr, flush=True)
                return 130
            atomic_write_json(record, {"key": key, "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
        previous_key = key
    summary(time.time() - started)
    print(f"[demo] total {time.time() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
