"""The teacher build measured: TransR (Z'') link prediction beside a TransE baseline, coverage, build time.

Runs ``data_scripts/build_teacher.py`` (its stage cache makes a rerun with the same settings instant, so pass
``--fresh`` for honest timings), reads the ``teacher.json`` it writes and records, in
``benchmarks/results/teacher.json``: ``transr: {mrr, hits_at_1, hits_at_10}``, ``transe: {mrr, ...}`` (same split,
same held-out triples), ``coverage`` (fraction of entities with a trained Z''), each stage's time, the command,
commit, machine and date. ``--caps`` adds the same build on capped biokg-lite graphs to show how the time grows
with graph size. TransR settings were chosen on the validation split (``--validation`` scores it instead of the
test split; use that, never the test numbers, to tune).

    python -m benchmarks.teacher --fresh                        # the default build (biokg-lite) -> results
    python -m benchmarks.teacher --caps 250 500 1000 --fresh    # + growth with graph size
    python -m benchmarks.teacher --validation --cap 500 -- --transr-epochs 8     # tuning: validation split only
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import REPO_ROOT, RESULTS_DIR, command_line, provenance, split_at_double_dash, write_json


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/teacher", help="teacher folder of the default build")
    parser.add_argument("--cap", type=int, default=None, help="biokg-lite entities per type (default: the script's)")
    parser.add_argument("--caps", type=int, nargs="*", default=[],
                        help="also build capped graphs (into OUT-capN) to measure growth with graph size")
    parser.add_argument("--fresh", action="store_true", help="delete the stage cache first (honest timings)")
    parser.add_argument("--validation", action="store_true",
                        help="only the TransR stage, scored on the validation split (for tuning); no results file")
    parser.add_argument("--kg-cache", default="runs/kg-cache", help="biokg-lite cache for --validation")
    parser.add_argument("--validation-output", default=None,
                        help="with --validation: also write the scores (with command, commit, machine, date) here")
    parser.add_argument("--output", default=str(RESULTS_DIR / "teacher.json"), help="results JSON")
    own, passed_on = split_at_double_dash(argv)
    args = parser.parse_args(own)
    args.build_args = passed_on  # passed to build_teacher.py, last
    args.command = command_line("teacher", argv)
    return args


def build(out: str, cap: int | None, extra: list[str], fresh: bool) -> dict[str, Any]:
    """Run build_teacher.py; returns its teacher.json, the command and the wall time."""
    if fresh:
        shutil.rmtree(Path(out) / "stages", ignore_errors=True)
    command = [sys.executable, "data_scripts/build_teacher.py", "--kg", "biokg-lite", "--out", out, "--no-progress",
               *(["--cap", str(cap)] if cap is not None else []), *extra]
    print("running: " + " ".join(command[1:]), flush=True)
    started = time.time()
    subprocess.run(command, cwd=REPO_ROOT, check=True)
    summary = json.loads((Path(REPO_ROOT, out) / "teacher.json").read_text())
    return {"summary": summary, "command": "python " + " ".join(command[1:]),
            "wall_seconds": round(time.time() - started, 1)}


def row(run: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one build."""
    summary = run["summary"]
    transr = summary["metrics"]["transr"]
    timings = {stage: values.get("wall_time_s") for stage, values in summary["stage_timings"].items()}
    result = {"command": run["command"], "entities": summary["entities"], "edges": summary["edges"],
              "wall_seconds": run["wall_seconds"], "stage_seconds": timings,
              "stage_status": {stage: values.get("status") for stage, values in summary["stage_timings"].items()},
              "coverage": summary.get("coverage", {}).get("fraction"), "gnn_test_accuracy":
                  summary["metrics"]["gnn"].get("test_accuracy")}
    if "skipped" in transr:
        return {**result, "transr": {"skipped": transr["skipped"]}}
    return {**result,
            "transr": {key: transr[key] for key in ("mrr", "hits_at_1", "hits_at_10")},
            "transe": {key: transr["transe"][key] for key in ("mrr", "hits_at_1", "hits_at_10")},
            "mrr_ratio_to_transe": transr.get("mrr_ratio_to_transe"),
            "triples": transr["triples"], "evaluation": transr["evaluation"],
            "train_seconds": {"transe": transr["transe"]["train_seconds"], "transr": transr["train_seconds"]}}


def validation_only(args: argparse.Namespace) -> int:
    """Score the TransR stage on the validation split with the given build options (tuning)."""
    from kogner.kg import load_kg
    from kogner.teacher.arguments import add_teacher_arguments, settings_from_args
    from kogner.teacher.transr import logical_stage

    parser = argparse.ArgumentParser()
    add_teacher_arguments(parser)
    settings = settings_from_args(parser.parse_args(args.build_args))
    graph = load_kg("biokg-lite", caps=args.cap, cache_dir=args.kg_cache)
    started, run_info = time.time(), provenance(args.command, settings.device or "cpu")
    _, metrics = logical_stage(graph, settings, evaluate_on="validation")
    result = {**run_info, "cap": args.cap, "build_args": args.build_args,
              "seconds": round(time.time() - started, 1), "evaluated_on": "validation",
              "transr": {k: metrics[k] for k in ("mrr", "hits_at_1", "hits_at_10")},
              "transe": metrics["transe"], "triples": metrics["triples"]}
    print(json.dumps(result, indent=2))
    if args.validation_output:
        write_json(args.validation_output, result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.validation:
        return validation_only(args)
    import torch

    run_info = provenance(args.command, "cuda" if torch.cuda.is_available() else "cpu")
    default = row(build(args.out, args.cap, args.build_args, args.fresh))
    growth = [row(build(f"{args.out}-cap{cap}", cap, args.build_args, args.fresh)) for cap in args.caps]
    summary = json.loads((Path(REPO_ROOT, args.out) / "teacher.json").read_text())
    results = {
        **run_info,
        **{key: default[key] for key in ("transr", "transe", "coverage") if key in default},
        "build_seconds": default["wall_seconds"],
        "default_build": default,
        "settings": summary["settings"],
        "growth_with_graph_size": growth,
        "tuning": "TransR/TransE settings chosen on the validation split (python -m benchmarks.teacher --validation), "
                  "never on the test triples reported here",
    }
    write_json(args.output, results)
    print(json.dumps({key: results[key] for key in ("transr", "transe", "coverage", "build_seconds")
                      if key in results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
