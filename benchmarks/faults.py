"""Fault injection: kill -9 the teacher build, data generation and training at random points, truncate their files,
load the demo app with concurrent requests at its input cap — then re-run and check what came out.

Everything runs on tiny inputs (the KG fixture ``tests/fixtures/kg/tiny_*.tsv``, a tiny random encoder from
``tests/conftest.py``, a few training steps). Each pipeline first runs uninterrupted in this process (the reference);
then a subprocess of the same command is killed with SIGKILL at a random point (seeded by ``--seed``), the partial
output is checked to be refused (never loaded as complete), the command is re-run (resuming: stage cache, progress
log, last complete checkpoint) and the result is compared with the reference, bit for bit.

    python -m benchmarks.faults                       # every fault (a few minutes on 2 CPU cores)
    python -m benchmarks.faults --only teacher data   # some groups: teacher, data, training, app
    python -m benchmarks.faults --seed 3 --workdir /tmp/faults --keep

Prints a table (fault / injected / recovered / data lost / identical) and writes benchmarks/results/faults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO_ROOT, RESULTS_DIR, command_line, provenance, write_json
from benchmarks.fault_tools import (
    Row, RowsDone, StartedAfter, inject, kill_at, load_by_path, partial_state, quietly, refused, row, table,
    truncate,
)

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "kg"
GROUPS = ("teacher", "data", "training", "app")


# ------------------------------------------------------------------------------------------------------ teacher


def teacher_command(encoder: Path, out: Path) -> list[str]:
    return [sys.executable, "data_scripts/build_teacher.py", "--kg", "table", "--nodes", str(FIXTURES / "tiny_nodes.tsv"),
            "--edges", str(FIXTURES / "tiny_edges.tsv"), "--encoder", str(encoder), "--gnn-epochs", "20",
            "--gnn-hidden", "16", "--transr-epochs", "3", "--transr-dim", "16", "--transr-relation-dim", "8",
            "--device", "cpu", "--no-progress", "--out", str(out)]


def same_teacher(a: Path, b: Path) -> bool:
    import torch

    from kogner.teacher import Teacher

    first, second = Teacher.load(a), Teacher.load(b)
    return (torch.equal(first.vectors, second.vectors) and first.kg_ids == second.kg_ids
            and first.metadata["artifact"]["fingerprint"] == second.metadata["artifact"]["fingerprint"])


def teacher_faults(work: Path, encoder: Path, rng: random.Random) -> tuple[list[Row], Path]:
    from data_scripts import build_teacher
    from kogner.teacher import Teacher

    reference = work / "teacher-reference"
    started = time.monotonic()
    quietly(build_teacher.main, teacher_command(encoder, reference)[2:])
    window = time.monotonic() - started
    rows: list[Row] = []

    out = work / "teacher-killed"
    injected = inject("teacher", teacher_command(encoder, out), out, out, window, rng)
    finished = sorted(p.parent.name for p in (out / "stages").glob("*/record.json"))
    state = partial_state(lambda: Teacher.load(out), lambda: same_teacher(out, reference))
    quietly(build_teacher.main, teacher_command(encoder, out)[2:])
    summary = json.loads((out / "teacher.json").read_text())
    reused = [stage for stage, info in summary["stage_timings"].items() if info.get("status") == "cached"]
    lost = "none" if set(finished) <= set(reused) else f"finished stages {sorted(set(finished) - set(reused))} redone"
    rows.append(row("kill -9 during teacher build", f"{injected}; finished stages: {', '.join(finished) or 'none'}",
                    state != "ACCEPTED PARTIAL", lost, same_teacher(out, reference),
                    f"after the kill the output was {state}; the rerun reused {', '.join(reused) or 'no stage'}"))

    for fault, target, cut in (("truncated teacher.safetensors", "teacher.safetensors", 0.6),
                               ("truncated entities.tsv", "entities.tsv", 0.7),
                               ("truncated stage cache (logical)", "stages/logical/vectors.safetensors", 0.5)):
        copy = work / f"teacher-{target.replace('/', '-')}"
        shutil.copytree(reference, copy)
        truncate(copy / target, cut)
        detected = refused(lambda: Teacher.load(copy)) or target.startswith("stages")
        quietly(build_teacher.main, teacher_command(encoder, copy)[2:])
        rows.append(row(fault, f"{target} cut to {cut:.0%}", detected, "none", same_teacher(copy, reference),
                        "refused on load, rebuilt from the stage cache" if not target.startswith("stages")
                        else "stage recomputed on rerun"))
    return rows, reference


# --------------------------------------------------------------------------------------------------------- data


def data_command(out: Path) -> list[str]:
    return [sys.executable, "data_scripts/make_bmg_dataset.py", "--kg", "table",
            "--kg-option", f"nodes={FIXTURES / 'tiny_nodes.tsv'}", "--kg-option", f"edges={FIXTURES / 'tiny_edges.tsv'}",
            "--per-relation", "100", "--seed", "1", "--out", str(out)]


def dataset_rows(path: Path) -> dict[str, list]:
    from datasets import load_from_disk

    return {split: part.to_list() for split, part in load_from_disk(str(path)).items()}


def data_faults(work: Path, rng: random.Random) -> tuple[list[Row], Path]:
    from data_scripts import make_bmg_dataset

    reference = work / "data-reference"
    started = time.monotonic()
    quietly(make_bmg_dataset.main, data_command(reference)[2:])
    window = time.monotonic() - started
    expected = dataset_rows(reference)
    total = len((reference / "progress.jsonl").read_text().splitlines())
    rows: list[Row] = []

    out = work / "data-killed"
    injected = inject("data", data_command(out), out, out / "progress_meta.json", window, rng)
    progress = out / "progress.jsonl"
    done = len(progress.read_text().splitlines()) if progress.exists() else 0
    state = partial_state(lambda: dataset_rows(out), lambda: dataset_rows(out) == expected)
    quietly(make_bmg_dataset.main, data_command(out)[2:])
    rows.append(row("kill -9 during data generation (random time)", f"{injected}; {done}/{total} rows done",
                    state != "ACCEPTED PARTIAL", "none", dataset_rows(out) == expected,
                    f"after the kill the dataset was {state}; the rerun resumed from progress.jsonl"))

    out = work / "data-killed-rows"
    wanted = rng.randint(1, total - 1)
    killed = kill_at(data_command(out), work / "data-killed-rows.log", RowsDone(out / "progress.jsonl", wanted))
    done = len((out / "progress.jsonl").read_text().splitlines()) if (out / "progress.jsonl").exists() else 0
    state = partial_state(lambda: dataset_rows(out), lambda: dataset_rows(out) == expected)
    quietly(make_bmg_dataset.main, data_command(out)[2:])
    rows.append(row("kill -9 during data generation (random row)",
                    f"SIGKILL at {done}/{total} rows done" if killed is not None else "not injected: finished first",
                    state != "ACCEPTED PARTIAL", "none", dataset_rows(out) == expected,
                    f"after the kill the dataset was {state}; the rerun generated the other {total - done} rows"))

    copy = work / "data-torn-progress"
    shutil.copytree(reference, copy)
    lines = (copy / "progress.jsonl").read_text().splitlines()
    (copy / "progress.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n" + lines[len(lines) // 2][:30])
    (copy / "dataset_dict.json").unlink()
    quietly(make_bmg_dataset.main, data_command(copy)[2:])
    rows.append(row("torn progress.jsonl", f"cut after {len(lines) // 2} rows, mid-line", True, "none",
                    dataset_rows(copy) == expected, "torn line dropped, missing rows regenerated"))

    copy = work / "data-truncated-arrow"
    shutil.copytree(reference, copy)
    arrow = next((copy / "train").glob("*.arrow"))
    truncate(arrow, 0.5)
    detected = refused(lambda: dataset_rows(copy))
    quietly(make_bmg_dataset.main, data_command(copy)[2:])
    rows.append(row("truncated dataset file (train .arrow)", "cut to 50%", detected, "none",
                    dataset_rows(copy) == expected, "refused on load; rerun rewrote it from progress.jsonl"))
    return rows, reference


# ----------------------------------------------------------------------------------------------------- training


def training_command(encoder: Path, data: Path, teacher: Path, out: Path) -> list[str]:
    return [sys.executable, "train.py", "--encoder", str(encoder), "--train_data", str(data),
            "--test_data", f"{data}:test", "--teacher", str(teacher), "--output_dir", str(out), "--hidden_size", "32",
            "--distillation_dim", "16", "--max_width", "4", "--max_steps", "24", "--save_strategy", "steps",
            "--save_steps", "6", "--per_device_train_batch_size", "4", "--learning_rate", "0.005",
            "--logging_steps", "6", "--seed", "7", "--report_to", "none", "--disable_tqdm", "true", "--use_cpu", "true",
            "--dataloader_num_workers", "0"]


def same_weights(a: Path, b: Path) -> bool:
    import torch
    from safetensors.torch import load_file

    first, second = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def train_in_process(arguments: list[str]) -> None:
    from kogner.training import cli

    quietly(cli.main, arguments[2:])


def training_faults(work: Path, encoder: Path, data: Path, teacher: Path, rng: random.Random) -> tuple[list[Row], Path]:
    from kogner.atomic import last_complete_checkpoint

    reference = work / "train-reference"
    started = time.monotonic()
    train_in_process(training_command(encoder, data, teacher, reference))
    window = time.monotonic() - started
    rows: list[Row] = []

    out = work / "train-killed"
    step = rng.choice([6, 12, 18])
    trigger = StartedAfter(out / f"checkpoint-{step}" / "trainer_state.json", rng.uniform(0, window / 4))
    killed = kill_at(training_command(encoder, data, teacher, out), work / "train-killed.log", trigger)
    injected = (f"SIGKILL {trigger.delay:.2f}s after checkpoint-{step}" if killed is not None
                else "not injected: the run finished first")
    last = last_complete_checkpoint(out)
    from transformers import AutoModel

    state = partial_state(lambda: AutoModel.from_pretrained(out, trust_remote_code=True),
                          lambda: same_weights(out, reference))
    resume = ["--resume_from_checkpoint", str(last)] if last else []
    train_in_process([*training_command(encoder, data, teacher, out), *resume])
    rows.append(row("kill -9 during training", injected, state != "ACCEPTED PARTIAL" and (out / "config.json").exists(),
                    f"none (steps after {last.name} redone)" if last else "every step (no complete checkpoint)",
                    same_weights(out, reference),
                    f"after the kill the model folder was {state}; resumed from {last.name if last else 'scratch'}; "
                    "final weights compared bitwise"))

    copy = work / "train-truncated-checkpoint"
    copy.mkdir()
    for checkpoint in ("checkpoint-12", "checkpoint-18"):
        shutil.copytree(reference / checkpoint, copy / checkpoint)
    truncate(copy / "checkpoint-18" / "model.safetensors", 0.5)
    last = last_complete_checkpoint(copy)
    train_in_process([*training_command(encoder, data, teacher, copy), "--resume_from_checkpoint", str(last)])
    rows.append(row("truncated checkpoint (last model.safetensors)", "checkpoint-18 weights cut to 50%",
                    last is not None and last.name == "checkpoint-12", "none (steps 13-18 redone)",
                    same_weights(copy, reference), f"last complete checkpoint: {last.name if last else None}"))
    return rows, reference


# ---------------------------------------------------------------------------------------------------------- app


def app_faults(model_dir: Path, clients: int) -> list[Row]:
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    from benchmarks import load_test_app as load_test
    from modeling_kogner import KoGNERModel

    app = load_by_path("kogner_app", REPO_ROOT / "app.py")
    model = KoGNERModel.from_pretrained(model_dir).eval()
    cap = app.MAX_TEXT_CHARS
    sentence = "Cisplatin-induced nephrotoxicity was observed in BRCA1 carriers with breast cancer. "
    at_cap = (sentence * (cap // len(sentence) + 1))[:cap]
    labels = ["chemical", "disease", "gene"]
    threshold = float(model.config.threshold)
    split = app.split_option(model)  # the app's default (sentence splitting on), so that answers compare equal
    expected = {text: model.predict_entities(text, labels, threshold=threshold, **split) for text in (at_cap, sentence)}
    demo = app.build_demo(model, analytics_enabled=False)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=load_test.free_port(), prevent_thread_lock=True,
                            quiet=True)
    results: list[tuple[str, bool, float]] = []
    try:
        connections = [Client(url, verbose=False, download_files=False) for _ in range(clients)]

        def send(index: int) -> list[tuple[str, bool, float]]:
            answers = []
            for text in (at_cap, sentence):
                started = time.perf_counter()
                try:
                    entities = connections[index].predict(text, ", ".join(labels), threshold, False, False, True,
                                                          api_name="/predict")[2]
                    answers.append(("ok", load_test.same_entities(entities, expected[text]), time.perf_counter() - started))
                except Exception as error:  # an unanswered request is the result being measured
                    answers.append((f"{type(error).__name__}: {error}", False, time.perf_counter() - started))
            return answers

        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = [answer for answers in pool.map(send, range(clients)) for answer in answers]
        over = connections[0].predict(at_cap + "x", ", ".join(labels), threshold, False, False, True,
                                      api_name="/predict")
        for connection in connections:
            connection.close()
    finally:
        demo.close()
    errors = [status for status, _, _ in results if status != "ok"]
    correct = sum(ok for _, ok, _ in results)
    slowest = max(seconds for _, _, seconds in results)
    rejected = "accepts at most" in over[3]
    return [row(f"{clients} concurrent clients at the input cap", f"{clients} x ({cap:,}-char text + a short one), "
                "then one text over the cap", not errors and rejected, "none" if not errors else f"{len(errors)} lost",
                correct == len(results), f"{correct}/{len(results)} answers equal predict_entities, slowest "
                f"{slowest:.1f}s; over-cap text {'rejected with a message' if rejected else 'NOT rejected'}"
                + (f"; errors: {errors[:2]}" if errors else ""))]


# ---------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="fault groups to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points (default %(default)s)")
    parser.add_argument("--clients", type=int, default=3, help="concurrent app clients at the cap (default %(default)s)")
    parser.add_argument("--workdir", default=None, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--output", default=str(RESULTS_DIR / "faults.json"), help="results JSON (default %(default)s)")
    args = parser.parse_args(argv)
    if args.clients < 1:
        parser.error(f"--clients must be a positive integer, got {args.clients}")
    rng = random.Random(args.seed)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kogner-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO_ROOT)
    started = time.monotonic()
    run_info = provenance(command_line("faults", argv), seeds=[args.seed])
    conftest = load_by_path("kogner_tests_conftest", REPO_ROOT / "tests" / "conftest.py")
    encoder = quietly(conftest.save_tiny_encoder, work / "encoder")
    rows: list[Row] = []
    teacher = data = model = None
    groups = [g for g in GROUPS if g in args.only or (g in ("teacher", "data") and "training" in args.only)]
    try:
        for group in groups:  # training needs the teacher and data groups' outputs
            print(f"[faults] {group} ({time.monotonic() - started:.0f} s so far) ...", flush=True)
            if group == "teacher":
                found, teacher = teacher_faults(work, encoder, rng)
            elif group == "data":
                found, data = data_faults(work, rng)
            elif group == "training":
                found, model = training_faults(work, encoder, data, teacher, rng)
            else:
                if model is None:  # without the training group: an untrained tiny model
                    from modeling_kogner import KoGNERModel

                    model = work / "app-model"
                    KoGNERModel.from_encoder(str(encoder), hidden_size=32).save_pretrained(model)
                found = app_faults(model, args.clients)
            rows.extend(found)
            print(table(found), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + table(rows), flush=True)
    print("\n".join(f"- {r['fault']}: {r['detail']}" for r in rows))
    print(f"[faults] {time.monotonic() - started:.0f} s", flush=True)
    write_json(args.output, {
        **run_info, "seconds": round(time.monotonic() - started, 1), "seed": args.seed,
        "faults": rows, "all_recovered": all(r["recovered"] for r in rows),
        "nothing_lost": all(r["data_lost"].startswith("none") for r in rows),
        "all_identical": all(r["identical"] is not False for r in rows),
    })
    return 0 if all(r["recovered"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
