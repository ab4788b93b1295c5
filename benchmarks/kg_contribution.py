"""The knowledge graph's whole contribution on the zero-shot protocol: four arms, paired sentence bootstrap.

Arms (each one run of ``benchmarks.protocols``' zero-shot protocol: same config, corpora, steps, batch and seeds):
  no_kg          no generated KG data, no KG-annotated text, no distillation (``--kg-data none --teacher none``);
  kg_data        the generated KG data and the KG-annotated text (``--kg-text``), no distillation;
  full           as kg_data, with distillation from the teacher's full H = [Z, Z', Z''];
  full_z_zprime  as full, with H = [Z, Z'] (a view teacher written once by `kogner.teacher.views`).
Every arm keeps the protocol's annotated corpora and real text (``--real-text``, BioRED by default: curated
annotations, not KG-made). The distillation weight is the config's (or the one given after ``--``). Weights of the
KG sources in the config's or the extra arguments' ``train_weights`` are dropped for ``no_kg`` (its mix has no such
source; the config is rewritten under ``--runs-dir/configs``). Every arm chooses its own threshold on the dev splits
of its own training sources (the protocol's procedure); the dev numbers behind each choice are recorded per seed.

Per arm and corpus: the mean F1 over seeds and ``f1_per_seed``. Per arm against ``no_kg``
(``differences.<arm>_vs_no_kg``), per corpus and on ``mean_over_corpora``: ``mean`` = the mean over seeds of the
same-seed F1 difference (F1 points; equal to the difference of the arms' mean F1), and ``ci95`` = the 95 % percentile
interval of a paired bootstrap over test sentences (`kogner.evaluation.bootstrap`): both arms are scored on the same
resampled sentences, each sentence's tp/fp/fn summed over the seeds; ``pooled_difference`` is the F1 difference of
those pooled counts (the statistic the bootstrap resamples). The mean over corpora resamples each corpus within
itself (`stratified_paired_bootstrap`).

Resumable: the protocol keeps every trained model and evaluation under ``--runs-dir`` and a rerun with the same
arguments reuses them; each arm's protocol results go to ``--runs-dir/<arm>[_quick].json``.
Results: ``benchmarks/results/kg_contribution[_quick].json``.

    python -m benchmarks.kg_contribution --seeds 1 2 3 --kg-text runs/kg-text-craft    # 4 arms x 3 seeds (hours)
    python -m benchmarks.kg_contribution --quick                                       # smoke run: 1 seed, <= 50 steps
    python -m benchmarks.kg_contribution --max-steps 2000 -- --linking_fit_steps 0     # after --: every train.py run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

from benchmarks.ablation import bootstrap, run_protocol_arm, sentence_counts_per_corpus, teacher_for
from benchmarks.common import REPO_ROOT, RESULTS_DIR, command_line, provenance, split_at_double_dash, write_json
from benchmarks.protocols import PROTOCOLS
from kogner.evaluation.bootstrap import stratified_paired_bootstrap

PROTOCOL = "zero_shot"
BASE = "no_kg"
BOOTSTRAP_SEED = 0  # rng seed of the sentence resamples: the intervals are reproducible
ARMS: dict[str, dict[str, Any]] = {
    "no_kg": {"kg": False, "views": None},
    "kg_data": {"kg": True, "views": None},
    "full": {"kg": True, "views": "Z Z_prime Z_double_prime"},
    "full_z_zprime": {"kg": True, "views": "Z Z_prime"},
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds (default %(default)s)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps per run (default: the config's)")
    parser.add_argument("--config", default="configs/release-cpu.yaml", help="train.py YAML every arm starts from")
    parser.add_argument("--kg-data", default="runs/data-disjoint", help="generated KG dataset (entity-disjoint)")
    parser.add_argument("--kg-text", nargs="*", default=[],
                        help="KG-annotated real text (data_scripts/kg_annotate.py outputs) for the KG arms; never of "
                             "an evaluated corpus (default: none)")
    parser.add_argument("--teacher", default="runs/teacher", help="built teacher (the full H)")
    parser.add_argument("--runs-dir", default="runs/kg_contribution", help="runs, records and view teachers go here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, <= 50 steps, few sentences")
    parser.add_argument("--resamples", type=int, default=10_000,
                        help="bootstrap resamples of the test sentences (default %(default)s; 0 = no bootstrap)")
    parser.add_argument("--output", default=None,
                        help="results JSON (default: benchmarks/results/kg_contribution[_quick].json)")
    own, passed_on = split_at_double_dash(argv)
    args, protocol_args = parser.parse_known_args(own)
    args.protocol_args = protocol_args  # e.g. --encoder, --data-dir, --max-dev, --grid, --eval-batch-size, --fresh
    args.train_args = passed_on
    args.command = command_line("kg_contribution", argv)
    args.output = args.output or str(RESULTS_DIR / f"kg_contribution{'_quick' if args.quick else ''}.json")
    config = Path(args.config)
    args.config = str(config if config.is_file() or not (REPO_ROOT / config).is_file() else REPO_ROOT / config)
    for folder in args.kg_text:
        check_kg_text(folder)
    return args


def check_kg_text(folder: str) -> None:
    """Refuse KG-annotated text that is not a ``kg_annotate.py`` output or whose text is an evaluated corpus."""
    summary = Path(folder, "annotation.json")
    if not summary.is_file():
        raise SystemExit(f"--kg-text {folder}: no annotation.json; build it with data_scripts/kg_annotate.py")
    source = str(json.loads(summary.read_text(encoding="utf-8")).get("source", ""))
    corpus = Path(source.split(":")[0]).name.lower()
    if corpus in PROTOCOLS[PROTOCOL].eval_corpora:
        raise SystemExit(f"--kg-text {folder}: annotated text of {source}, an evaluated corpus of the zero-shot "
                         "protocol: it would leak the test corpus into training")


def without_weights_of(sources: Sequence[str], items: Sequence[str]) -> list[str]:
    """``train_weights`` items (``SOURCE=WEIGHT``) without those naming one of ``sources``."""
    drop = {os.path.normpath(source) for source in sources}
    return [item for item in items if os.path.normpath(item.rpartition("=")[0]) not in drop]


def train_args_without(sources: Sequence[str], train_args: Sequence[str]) -> list[str]:
    """``train_args`` with the ``--train_weights`` items naming ``sources`` removed (the flag too when none is left)."""
    kept: list[str] = []
    index = 0
    while index < len(train_args):
        argument = train_args[index]
        if argument.startswith("--train_weights="):
            items = without_weights_of(sources, [argument.partition("=")[2]])
            kept += [f"--train_weights={items[0]}"] if items else []
        elif argument == "--train_weights":
            end = next((i for i in range(index + 1, len(train_args)) if train_args[i].startswith("--")),
                       len(train_args))
            items = without_weights_of(sources, train_args[index + 1 : end])
            kept += ["--train_weights", *items] if items else []
            index = end
            continue
        else:
            kept.append(argument)
        index += 1
    return kept


def config_without(sources: Sequence[str], config: str, out_dir: Path) -> str:
    """``config``, or a copy under ``out_dir`` whose ``train_weights`` no longer name ``sources``."""
    settings = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    weights = list(settings.get("train_weights") or [])
    kept = without_weights_of(sources, weights)
    if kept == weights:
        return config
    settings["train_weights"] = kept
    if not kept:
        del settings["train_weights"]
    out = out_dir / f"{Path(config).stem}-without-kg-weights.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(settings, sort_keys=True), encoding="utf-8")
    return str(out)


def arm_argv(args: argparse.Namespace, name: str) -> list[str]:
    """The protocol arguments of one arm (without ``--output``)."""
    arm, kg_sources = ARMS[name], [args.kg_data, *args.kg_text]
    config, train_args = args.config, list(args.train_args)
    if not arm["kg"]:
        config = config_without(kg_sources, config, Path(args.runs_dir, "configs"))
        train_args = train_args_without(kg_sources, train_args)
    teacher = teacher_for(args, arm["views"]) if arm["views"] else "none"
    return ["--config", config, "--seeds", *map(str, args.seeds), "--runs-dir", args.runs_dir,
            "--kg-data", *(kg_sources if arm["kg"] else ["none"]), "--teacher", teacher,
            *(["--max-steps", str(args.max_steps)] if args.max_steps else []), *(["--quick"] if args.quick else []),
            *args.protocol_args, "--", *train_args]


def threshold_record(result: dict[str, Any]) -> dict[str, Any]:
    """Per seed: the threshold chosen on dev, its mean dev F1 and each dev set's F1 there (percent), the curve."""
    per_seed = {}
    for seed, run in result.get("runs", {}).items():
        choice = run["threshold"]
        at_choice = next((values for key, values in choice.get("curve", {}).items()
                          if float(key) == choice["threshold"]), {})
        per_seed[seed] = {"threshold": choice["threshold"], "mean_dev_f1": round(100 * choice["mean_f1"], 2),
                          "dev_f1": {name: round(100 * f1, 2) for name, f1 in at_choice.items() if name != "mean"},
                          "curve": choice.get("curve", {})}
    return {"chosen_on": result.get("threshold", {}).get("chosen_on"), "grid": result.get("threshold", {}).get("grid"),
            "per_seed": per_seed}


def differences(arm: dict[str, Any], base: dict[str, Any], resamples: int) -> dict[str, Any]:
    """Per corpus and on the mean over corpora: ``mean`` (same-seed F1 difference, mean over seeds), ``ci95`` of the
    paired sentence bootstrap (None with ``skipped`` when there is none), in F1 points (see the module docstring)."""
    seeds = [str(seed) for seed in arm["seeds"] if str(seed) in map(str, base["seeds"])]

    def per_seed(result: dict[str, Any], corpus: str) -> list[float]:
        return [dict(zip(map(str, result["seeds"]), result["corpora"][corpus]["f1_per_seed"]))[s] for s in seeds]

    corpora = sorted(set(arm["corpora"]) & set(base["corpora"]))
    by_seed = {c: [x - y for x, y in zip(per_seed(arm, c), per_seed(base, c))] for c in corpora}
    found: dict[str, Any] = {}
    sampled = bootstrap(arm, base, seeds, resamples)
    for corpus in corpora:
        values = sampled.get(corpus, {})
        found[corpus] = {"mean": round(statistics.fmean(by_seed[corpus]), 2),
                         "per_seed": [round(d, 2) for d in by_seed[corpus]], **interval(values, sampled)}
    if corpora:
        over = [statistics.fmean(by_seed[c][i] for c in corpora) for i in range(len(seeds))]
        found["mean_over_corpora"] = {"mean": round(statistics.fmean(over), 2), "per_seed": [round(d, 2) for d in over],
                                      **interval(mean_over_corpora(arm, base, seeds, corpora, resamples), sampled)}
    return found


def interval(values: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
    """The bootstrap part of a difference: ``ci95``, ``pooled_difference``, sizes; or ``ci95`` None and why."""
    if "ci95" not in values:
        return {"ci95": None, "skipped": values.get("skipped") or sampled.get("skipped") or "no bootstrap"}
    return {"ci95": values["ci95"], "pooled_difference": values["difference"], "bootstrap_mean": values["mean"],
            "sentences": values["sentences"], "resamples": values["resamples"]}


def mean_over_corpora(arm: dict[str, Any], base: dict[str, Any], seeds: Sequence[str], corpora: Sequence[str],
                      resamples: int) -> dict[str, Any]:
    """The stratified paired bootstrap of the mean over ``corpora`` of the F1 difference (``{}`` when impossible)."""
    if resamples < 1:
        return {}
    try:
        mine, theirs = sentence_counts_per_corpus(arm, seeds), sentence_counts_per_corpus(base, seeds)
    except FileNotFoundError:
        return {}
    if any(c not in mine or c not in theirs or mine[c][0] != theirs[c][0] for c in corpora):
        return {"skipped": "a corpus lacks sentences or was scored on different sentences in the two arms"}
    strata = [(theirs[c][1], mine[c][1]) for c in corpora]
    return stratified_paired_bootstrap(strata, resamples, seed=BOOTSTRAP_SEED).to_dict(scale=100)


def arm_record(name: str, result: dict[str, Any], argv: Sequence[str], results_file: Path) -> dict[str, Any]:
    """What the results JSON keeps of one arm's protocol results."""
    training = result.get("training", {})
    corpora = set(PROTOCOLS[PROTOCOL].train_corpora) | set(training.get("real_text", []))
    return {"kg_data": [s for s in training.get("sources", []) if s not in corpora],
            "teacher": training.get("teacher"), "views": (ARMS[name]["views"] or "").split(),
            "dist_weight_per_seed": {seed: run.get("training", {}).get("dist_weight")
                                     for seed, run in result.get("runs", {}).items()},
            "seeds": result["seeds"],
            "corpora": {corpus: {key: values[key] for key in ("f1", "f1_std", "f1_per_seed", "precision", "recall")}
                        for corpus, values in result["corpora"].items()},
            "kg_test": {kg_set: {"f1": values["f1"], "f1_per_seed": values["f1_per_seed"]}
                        for kg_set, values in result.get("kg_test", {}).items()},
            "threshold": threshold_record(result), "training": training, "protocol_argv": list(argv),
            "protocol_command": result.get("command"), "results_file": str(results_file)}


def markdown(arms: dict[str, dict[str, Any]], found: dict[str, dict[str, Any]]) -> str:
    corpora = sorted({corpus for arm in arms.values() for corpus in arm["corpora"]})
    lines = ["| arm | " + " | ".join(corpora) + " | Δ mean over corpora vs no_kg [95 % CI] |",
             "|---|" + "---|" * (len(corpora) + 1)]
    for name, arm in arms.items():
        cells = []
        for corpus in corpora:
            values, delta = arm["corpora"].get(corpus), found.get(f"{name}_vs_{BASE}", {}).get(corpus)
            cells.append("–" if values is None else f"{values['f1']:.1f} ± {values['f1_std']:.1f}"
                         + (f" ({delta['mean']:+.1f}{ci_text(delta)})" if delta else ""))
        overall = found.get(f"{name}_vs_{BASE}", {}).get("mean_over_corpora")
        lines.append(f"| {name} | " + " | ".join(cells) + " | "
                     + (f"{overall['mean']:+.2f}{ci_text(overall)}" if overall else "–") + " |")
    return "\n".join(lines + ["", "Test F1 (%) mean ± std over seeds (Δ vs no_kg, same-seed mean, [95 % paired "
                              "sentence-bootstrap interval, seeds pooled])."])


def ci_text(delta: dict[str, Any]) -> str:
    """`` [low, high]`` of a difference's interval, or nothing when it has none."""
    return f" [{delta['ci95'][0]:+.1f}, {delta['ci95'][1]:+.1f}]" if delta.get("ci95") else ""


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    run_info = provenance(args.command, "cuda" if torch.cuda.is_available() else "cpu", args.seeds)
    started, results, arms = time.time(), {}, {}
    for name in ARMS:
        output = Path(args.runs_dir, f"{name}{'_quick' if args.quick else ''}.json")
        protocol_argv = arm_argv(args, name)
        results[name] = run_protocol_arm(PROTOCOL, protocol_argv, output, f"[kg_contribution] arm {name}")
        arms[name] = arm_record(name, results[name], protocol_argv, output)
    found = {f"{name}_vs_{BASE}": differences(results[name], results[BASE], args.resamples)
             for name in ARMS if name != BASE}
    steps = sorted({result["training"]["max_steps"] for result in results.values()})
    table = markdown(arms, found)
    print("\n" + table, flush=True)
    write_json(args.output, {
        **run_info, "seeds": results[BASE]["seeds"], "steps": steps[0] if len(steps) == 1 else steps,
        "batch_size": results[BASE]["training"]["batch_size"], "protocol": PROTOCOL, "config": args.config,
        "kg_data": args.kg_data, "kg_text": args.kg_text, "teacher": args.teacher,
        "extra_train_args": args.train_args,
        "wall_seconds": round(time.time() - started, 1), "arms": arms, "base": BASE, "differences": found,
        "bootstrap": {"resamples": args.resamples, "seed": BOOTSTRAP_SEED, "unit": "test sentence",
                      "pairing": "both arms scored on the same resampled sentences",
                      "seeds": "each sentence's tp/fp/fn summed over the seeds both arms share",
                      "mean_over_corpora": "each corpus resampled within itself, corpora weighted equally"},
        "markdown": table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
