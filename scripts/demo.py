"""`make demo`: knowledge graph -> teacher -> generated data -> KoGNER training -> evaluation, offline defaults.

Each stage runs as its own command with its output shown and saved to runs/demo/logs/<stage>.log. A stage that
finished is recorded in runs/demo/stages/<stage>.json with a key of its command and of the stages before it; a
second `make demo` skips it while that key is unchanged. A failure (or Ctrl-C) stops the run, names the stage and
its log, and leaves finished stages intact: run `make demo` again to resume.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "runs" / "demo"
MODEL_DIR = DEMO_DIR / "model"
CONFIG = REPO_ROOT / "configs" / "cpu-demo.yaml"
EXAMPLE = "Cisplatin-induced nephrotoxicity was observed in BRCA1 carriers."


@dataclass
class Stage:
    name: str
    description: str
    command: list[str]
    inputs: list[Path]  # files whose content is part of the stage's key
    restart_flag: str | None = None  # passed when the stage's inputs changed since it last finished

    def key(self, previous_key: str) -> str:
        digest = hashlib.sha256(previous_key.encode())
        digest.update(shlex.join(self.command).encode())
        for path in self.inputs:
            digest.update(path.read_bytes() if path.is_file() else b"<absent>")
        return digest.hexdigest()[:16]


def benchmarks_present() -> bool:
    from kogner.corpora.registry import available_benchmarks, resolve_data_dir

    present = available_benchmarks()
    if not any("test" in splits for splits in present.values()):
        print(
            f"[demo] no benchmark corpora found in {resolve_data_dir()}: the benchmark evaluation is skipped.\n"
            "       Put the IOB corpora there (ncbi_disease/, bc5cdr/, bc2gm/, jnlpba/, bc4chemd/ with "
            "train.tsv, devel.tsv, test.tsv) or set KOGNER_DATA_DIR.",
            flush=True,
        )
        return False
    return True


def stages(python: str, with_benchmarks: bool) -> list[Stage]:
    train = [python, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
             "--mixed_precision", "no", "--dynamo_backend", "no", "train.py", "--config", str(CONFIG.relative_to(REPO_ROOT))]
    if not with_benchmarks:
        train += ["--test_data", "runs/data:test"]
    return [
        Stage("teacher", "knowledge graph biokg-lite -> teacher vectors H = [Z, Z', Z'']",
              [python, "data_scripts/build_teacher.py", "--kg", "biokg-lite", "--out", "runs/teacher"],
              [REPO_ROOT / "data_scripts" / "teacher.py"]),
        Stage("data", "template-generated BMG-style sentences linked to the KG",
              [python, "data_scripts/make_bmg_dataset.py", "--kg", "biokg-lite", "--generator", "template",
               "--out", "runs/data"],
              [REPO_ROOT / "data_scripts" / "bmg_templates.py"], restart_flag="--restart"),
        Stage("train", "KoGNER training with distillation, then evaluation", train, [CONFIG]),
    ]


def run_stage(stage: Stage, number: int, total: int) -> None:
    log_path = DEMO_DIR / "logs" / f"{stage.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"\n[demo] stage {number}/{total} '{stage.name}': {stage.description}\n"
          f"[demo] $ {shlex.join(stage.command)}\n[demo] log: {log_path}", flush=True)
    started = time.time()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(stage.command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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


def summary() -> None:
    results_path = MODEL_DIR / "eval_results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if results:
        from kogner.evaluation.evaluate import markdown_table

        print("\n[demo] evaluation (strict span + type match):\n" + markdown_table(results))
    print(f"""
[demo] model saved to {MODEL_DIR.relative_to(REPO_ROOT)} (with its model card README.md)

Try it:
  .venv/bin/python app.py --model {MODEL_DIR.relative_to(REPO_ROOT)}      # Gradio demo on http://127.0.0.1:7860

  from transformers import AutoModel
  model = AutoModel.from_pretrained("{MODEL_DIR.relative_to(REPO_ROOT)}", trust_remote_code=True)
  print(model.predict_entities("{EXAMPLE}", ["chemical", "disease", "gene"]))
""", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", nargs="*", default=[], metavar="STAGE",
                        help="rerun these stages (teacher, data, train) even if they finished")
    args = parser.parse_args()
    python = sys.executable
    all_stages = stages(python, benchmarks_present())
    previous_key = "kogner-demo-v1"
    started = time.time()
    for number, stage in enumerate(all_stages, 1):
        key = stage.key(previous_key)
        record = DEMO_DIR / "stages" / f"{stage.name}.json"
        recorded_key = json.loads(record.read_text()).get("key") if record.exists() else None
        done = recorded_key == key
        if recorded_key is not None and not done and stage.restart_flag:
            # Finished before with other inputs: start over. (No record = first run or interrupted: resume.)
            stage.command = [*stage.command, stage.restart_flag]
        if done and stage.name not in args.force:
            print(f"[demo] stage {number}/{len(all_stages)} '{stage.name}': finished earlier, reused "
                  f"(rerun with: make demo DEMO_ARGS='--force {stage.name}')", flush=True)
        else:
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
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"key": key, "finished": time.strftime("%Y-%m-%d %H:%M:%S")}))
        previous_key = key
    summary()
    print(f"[demo] total {time.time() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
