"""Accuracy of KoGNER: zero-shot from KG data, the distillation ablation, and supervised training, over seeds.

Arms (same encoder, steps, batch and seed list; everything else from ``configs/cpu-demo.yaml``):
  kg          (a) generated KG data only (``runs/data``) with distillation -> zero-shot on every corpus;
  kg_nodist   (b) the same with ``dist_weight=0``: a GLiNER-style model without the teacher (the ablation);
  sup         (c) the benchmark train splits present (+ the KG data) with distillation -> each corpus' test split;
  sup_nodist  (c) the same without distillation.
Every run is ``train.main(argv)`` writing to ``runs/bench/<arm>/steps<N>/seed<seed>``; a run whose ``bench_run.json``
exists with the same arguments is not trained again (the script resumes where it stopped). Scores: strict span+type micro F1 from the
project's scorer on each corpus' test split (first ``--max-eval`` sentences), mean ± sample std over seeds.

    python benchmarks/accuracy.py --quick     # 1 seed, 300 steps, 100 sentences per corpus: about 10 minutes
    python benchmarks/accuracy.py             # 3 seeds x 4 arms x 600 steps, 500 sentences/corpus: 74 min on 2 cores
    python benchmarks/accuracy.py --steps 900 --seeds 1 2 3 4 5 --max-eval 0   # GPU: full test sets
    python benchmarks/accuracy.py --runs-dir runs/bench-x -- --lr 5e-5           # anything after -- goes to train.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from common import REPO_ROOT, RESULTS_DIR, heavy_processes, machine_info, mean_std, write_json  # noqa: E402

ARMS: dict[str, dict[str, Any]] = {
    "kg": {"title": "(a) KG data, distillation", "supervised": False, "dist_weight": 0.2},
    "kg_nodist": {"title": "(b) KG data, no distillation", "supervised": False, "dist_weight": 0.0},
    "sup": {"title": "(c) benchmarks + KG data, distillation", "supervised": True, "dist_weight": 0.2},
    "sup_nodist": {"title": "(c) benchmarks + KG data, no distillation", "supervised": True, "dist_weight": 0.0},
}


def benchmark_sources(data_dir: str | None, split: str) -> list[str]:
    """Benchmark corpora that have ``split`` here (JNLPBA's train split is missing in the shared data)."""
    from kogner.corpora.registry import available_benchmarks

    return [name for name, splits in available_benchmarks(data_dir).items() if split in splits]


def run_argv(
    args: argparse.Namespace, arm: str, seed: int, output_dir: Path, supervised_sources: list[str], test_sources: list[str]
) -> list[str]:
    """train.py arguments of one run: cpu-demo.yaml with this arm's data, weight, steps, seed and output."""
    settings = ARMS[arm]
    train_data = (supervised_sources if settings["supervised"] else []) + [args.kg_data]
    argv = [
        "--config", args.config,
        "--output_dir", str(output_dir),
        "--seed", str(seed),
        "--max_steps", str(args.steps),
        "--per_device_train_batch_size", str(args.batch_size),
        "--dist_weight", str(settings["dist_weight"]),
        "--teacher", args.teacher,
        "--train_data", *train_data,
        "--eval_data", f"{args.kg_data}:validation",
        "--test_data", *test_sources, f"{args.kg_data}:test",
        "--eval_strategy", "no",
        "--save_strategy", "no",
        "--logging_steps", str(max(1, args.steps // 10)),
        "--report_to", "none",
        "--disable_tqdm", "true",
    ]
    if args.max_eval:
        argv += ["--max_eval_samples", str(args.max_eval)]
    if args.data_dir:
        argv += ["--data_dir", args.data_dir]
    if args.encoder:
        argv += ["--encoder", args.encoder]
    return argv + args.train_args  # last, so they override everything above


def summarize(runs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, float]]]:
    """arm -> corpus -> {mean, std, n, values} of F1 (percent) over seeds."""
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for arm, seeds in runs.items():
        corpora: dict[str, list[float]] = {}
        for results in seeds.values():
            for corpus, scores in results["results"].items():
                corpora.setdefault(corpus, []).append(100 * scores["f1"])
        summary[arm] = {}
        for corpus, values in corpora.items():
            mean, std = mean_std(values)
            summary[arm][corpus] = {"mean": round(mean, 2), "std": round(std, 2), "n": len(values),
                                    "values": [round(value, 2) for value in values]}
    return summary


def markdown(summary: dict[str, dict[str, dict[str, float]]], supervised_sources: list[str]) -> str:
    corpora = sorted({corpus for per_corpus in summary.values() for corpus in per_corpus})
    header = " | ".join("KG test (runs/data)" if corpus == "data:test" else corpus.replace(":test", "")
                        for corpus in corpora)
    lines = [f"| arm | {header} |", "|---|" + "---|" * len(corpora)]
    for arm, per_corpus in summary.items():
        cells = []
        for corpus in corpora:
            value = per_corpus.get(corpus)
            if value is None:
                cells.append("–")
                continue
            seen = ARMS[arm]["supervised"] and corpus.split(":")[0] in supervised_sources
            cells.append(f"{value['mean']:.1f} ± {value['std']:.1f}" + (" (sup)" if seen else ""))
        lines.append(f"| {ARMS[arm]['title']} (n={max(v['n'] for v in per_corpus.values())}) | {' | '.join(cells)} |")
    lines.append("")
    lines.append("F1 (%) strict span+type, mean ± sample std over seeds; (sup) = the corpus' train split was in the "
                 "training data, otherwise zero-shot. KG test = held-out generated KG sentences (in-domain).")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS), help="which arms to run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds (>= 3 for mean ± std)")
    parser.add_argument("--steps", type=int, default=600,
                        help="optimizer steps per run (600 x batch 8 at ~1.6 steps/s on 2 cores: ~7 min incl. evaluation)")
    parser.add_argument("--batch-size", type=int, default=8, help="training batch size")
    parser.add_argument("--max-eval", type=int, default=500,
                        help="first N test sentences per corpus (0 = the whole test split)")
    parser.add_argument("--encoder", default=None, help="encoder for every run (default: the config's, minilm)")
    parser.add_argument("--config", default="configs/cpu-demo.yaml", help="train.py YAML config the runs start from")
    parser.add_argument("--kg-data", default="runs/data", help="generated KG dataset (make_bmg_dataset.py output)")
    parser.add_argument("--teacher", default="runs/teacher", help="teacher directory (build_teacher.py output)")
    parser.add_argument("--data-dir", default=None, help="benchmark folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--runs-dir", default="runs/bench", help="one sub-folder per arm and seed")
    parser.add_argument("--fresh", action="store_true", help="retrain runs that already have results")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 300 steps, 100 sentences per corpus (about 10 minutes on 2 CPU cores)")
    parser.add_argument("--output", default=None,
                        help="JSON results file (default: benchmarks/results/accuracy.json, accuracy_quick.json "
                             "with --quick)")
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.train_args = argv[split + 1 :]  # passed to every train.py run, after (so overriding) the arm's settings
    if args.quick:
        args.seeds, args.steps = args.seeds[:1], min(args.steps, 300)  # at 120 steps no score crosses 0.3 yet
        args.max_eval = min(args.max_eval or 100, 100)
        args.runs_dir = str(Path(args.runs_dir) / "quick")
    if args.output is None:
        args.output = str(RESULTS_DIR / ("accuracy_quick.json" if args.quick else "accuracy.json"))
    return args


def check_inputs(args: argparse.Namespace) -> None:
    """Stop early, naming what is missing, instead of failing after an hour."""
    if not Path(args.kg_data, "dataset_dict.json").is_file():
        raise SystemExit(f"{args.kg_data}: no generated KG dataset; run data_scripts/make_bmg_dataset.py first")
    needs_teacher = any(ARMS[arm]["dist_weight"] > 0 for arm in args.arms)
    if needs_teacher and not Path(args.teacher).is_dir():
        raise SystemExit(f"{args.teacher}: no teacher; run data_scripts/build_teacher.py first (or --arms without "
                         "distillation: kg_nodist sup_nodist)")
    if needs_teacher:
        from kogner.teacher.artifact import Teacher

        try:
            Teacher.load(args.teacher)
        except (FileNotFoundError, ValueError, OSError) as error:
            raise SystemExit(f"{args.teacher}: teacher not loadable ({error}); is build_teacher.py finished?")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import os

    os.chdir(REPO_ROOT)  # cpu-demo.yaml's relative paths (runs/data, runs/teacher) are repository-relative
    check_inputs(args)
    from kogner.training import cli as train

    supervised_sources = benchmark_sources(args.data_dir, "train")
    test_sources = benchmark_sources(args.data_dir, "test")
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the HF Trainer runs
    machine, busy = machine_info(device), heavy_processes()  # taken before the runs: the load they found
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    config_text = Path(args.config).read_text()  # the YAML is part of a run's settings: edited -> retrain
    started = time.time()
    total = len(args.arms) * len(args.seeds)
    done = 0
    for arm in args.arms:
        runs[arm] = {}
        for seed in args.seeds:
            output_dir = Path(args.runs_dir, arm, f"steps{args.steps}", f"seed{seed}")
            record_file = output_dir / "bench_run.json"  # written last: its presence means the run finished
            done += 1
            argv_run = run_argv(args, arm, seed, output_dir, supervised_sources, test_sources)
            if record_file.is_file() and not args.fresh:
                record = json.loads(record_file.read_text())
                if record["argv"] == argv_run and record.get("config") == config_text:  # same settings: resume
                    print(f"[{done}/{total}] {arm} seed {seed}: reusing {record_file}", flush=True)
                    runs[arm][str(seed)] = record
                    continue
            print(f"[{done}/{total}] {arm} seed {seed}: python train.py {' '.join(argv_run)}", flush=True)
            run_start = time.time()
            results = train.main(argv_run)
            record = {"argv": argv_run, "config": config_text, "seconds": round(time.time() - run_start, 1),
                      "results": results}
            record_file.write_text(json.dumps(record, indent=2))
            runs[arm][str(seed)] = record
    summary = summarize(runs)
    table = markdown(summary, supervised_sources)
    print("\n" + table)
    write_json(Path(args.output), {
        "command": "python benchmarks/accuracy.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine,
        "busy_with_at_start": busy,
        "busy_with_at_end": heavy_processes(),
        "settings": {key: value for key, value in vars(args).items() if key != "output"},
        "supervised_sources": supervised_sources,
        "wall_seconds": round(time.time() - started, 1),
        "summary": summary,
        "runs": runs,
        "markdown": table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
