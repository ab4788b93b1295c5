"""The distillation ablation on the unleaked protocols: distillation weight and teacher views, 3 seeds per arm.

Arms (each one run of ``benchmarks.protocols``' protocol, same config, data, steps, batch and seeds):
  dist_<w>       ``--dist_weight w`` for each ``--dist-weights`` value (default 0, the paper's 0.2, and 1.0), full
                 H = [Z, Z', Z''];
  no_transr      the paper's weight with H = [Z, Z'] (without Z'');
  no_graph       the paper's weight with H = [Z, Z''] (without Z').
The view teachers are written from the built teacher's parts (`kogner.teacher.views`), no retraining of the
teacher. Per arm: per-corpus F1 mean ± std over seeds; per arm against ``dist_0``: the paired (same seed)
difference per corpus and on the mean over corpora, with a paired t-test (scipy) and the count of seeds where the arm
wins; a paired bootstrap over test sentences of the F1 difference per corpus (``ci95``, seeds pooled per
sentence, `kogner.evaluation.bootstrap`) where the runs saved their per-sentence spans (``sentences_file``); and the
loss-share logs (``lang_loss``, ``dist_loss``, ``dist_share`` from each run's Trainer log) that
explain it. Every run is resumable (the protocol keeps records under ``--runs-dir``). Results:
``benchmarks/results/ablation.json`` (one entry per arm: ``dist_weight``, ``views``, ``seeds``, per-corpus ``f1``
mean and std).

    python -m benchmarks.ablation                                   # zero-shot protocol, 5 arms x 3 seeds (hours)
    python -m benchmarks.ablation --protocol supervised --arms dist_0 dist_0.2
    python -m benchmarks.ablation --quick                           # smoke run: 1 seed, <= 50 steps
    python -m benchmarks.ablation -- --lr 5e-5                      # anything after -- goes to every train.py run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.common import RESULTS_DIR, command_line, mean_std, provenance, split_at_double_dash, write_json
from benchmarks.protocols import PROTOCOLS
from benchmarks.protocols import main as run_protocol
from benchmarks.sentence_spans import read_sentence_spans
from kogner.evaluation.bootstrap import paired_bootstrap, sentence_counts

PAPER_WEIGHT = 0.2
BOOTSTRAP_SEED = 0  # rng seed of the sentence resamples: the intervals are reproducible
VIEW_ARMS = {"no_transr": ["Z", "Z_prime"], "no_graph": ["Z", "Z_double_prime"]}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="zero_shot", help="default %(default)s")
    parser.add_argument("--dist-weights", nargs="+", type=float, default=[0.0, PAPER_WEIGHT, 1.0],
                        help="distillation weights of the dist_<w> arms (default %(default)s)")
    parser.add_argument("--arms", nargs="+", default=None,
                        help="subset of arms to run (dist_<w>, no_transr, no_graph; default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds (default %(default)s)")
    parser.add_argument("--teacher", default="runs/teacher", help="built teacher (the full H)")
    parser.add_argument("--runs-dir", default="runs/ablation", help="runs, records and view teachers go here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, <= 50 steps, few sentences")
    parser.add_argument("--output", default=None,
                        help="results JSON (default: benchmarks/results/ablation[_quick].json)")
    parser.add_argument("--results", nargs="+", default=[], metavar="ARM=JSON",
                        help="arms already run by the protocol (benchmarks.zero_shot/supervised with that arm's "
                             "settings): their results JSON is read instead of running them; the JSON's own command "
                             "is kept")
    parser.add_argument("--resamples", type=int, default=10_000,
                        help="bootstrap resamples of the test sentences (default %(default)s; 0 = no bootstrap)")
    own, passed_on = split_at_double_dash(argv)
    args, protocol_args = parser.parse_known_args(own)
    args.protocol_args = protocol_args  # e.g. --config, --max-steps, --kg-data, --encoder, --data-dir
    args.train_args = passed_on
    args.command = command_line("ablation", argv)
    args.output = args.output or str(RESULTS_DIR / f"ablation{'_quick' if args.quick else ''}.json")
    given = {}
    for item in args.results:
        name, _, path = item.partition("=")
        if not name or not path or not Path(path).is_file():
            parser.error(f"--results {item}: expected ARM=JSON with an existing results file")
        given[name] = path
    args.results = given
    return args


def arm_table(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Arm name -> {dist_weight, views}."""
    arms = {f"dist_{weight:g}": {"dist_weight": weight, "views": "Z Z_prime Z_double_prime"}
            for weight in args.dist_weights}
    arms.update({name: {"dist_weight": PAPER_WEIGHT, "views": " ".join(views)} for name, views in VIEW_ARMS.items()})
    if args.arms:
        unknown = [arm for arm in args.arms if arm not in arms]
        if unknown:
            raise SystemExit(f"--arms {' '.join(unknown)}: unknown; choose from {' '.join(arms)}")
        arms = {name: arms[name] for name in args.arms}
    return arms


def teacher_for(args: argparse.Namespace, views: str) -> str:
    """The full teacher, or a view teacher written once under ``--runs-dir/teachers``."""
    from kogner.teacher.views import canonical_views, write_teacher_views

    chosen = canonical_views(views.split())
    if len(chosen) == 3:
        return args.teacher
    out = Path(args.runs_dir, "teachers", "-".join(chosen))
    if not (out / "teacher.json").is_file():
        write_teacher_views(args.teacher, out, chosen)
    return str(out)


def run_arm(args: argparse.Namespace, name: str, arm: dict[str, Any]) -> dict[str, Any]:
    """One protocol run (all seeds) for an arm, or the results JSON given for it (``--results``)."""
    if name in args.results:
        print(f"[ablation] arm {name}: reading {args.results[name]} (not run again)", flush=True)
        return json.loads(Path(args.results[name]).read_text())
    argv = ["--teacher", teacher_for(args, arm["views"]), "--runs-dir", str(Path(args.runs_dir, name)),
            "--seeds", *map(str, args.seeds), *(["--quick"] if args.quick else []),
            *args.protocol_args, "--", *args.train_args, "--dist_weight", str(arm["dist_weight"])]
    return run_protocol_arm(args.protocol, argv, Path(args.runs_dir, f"{name}{'_quick' if args.quick else ''}.json"),
                            f"[ablation] arm {name}")


def run_protocol_arm(protocol: str, argv: Sequence[str], output: Path, label: str) -> dict[str, Any]:
    """Run ``protocol`` with ``argv`` and ``--output output`` and return the results JSON it wrote. The peer is
    skipped (it does not depend on an arm); the protocol's records make a rerun reuse every finished stage."""
    argv = ["--output", str(output), *argv]
    print(f"{label}: {protocol} {' '.join(argv)}", flush=True)
    if PROTOCOLS[protocol].peer and "--no-peer" not in argv:
        argv.insert(0, "--no-peer")
    run_protocol(protocol, argv)
    return json.loads(Path(output).read_text())


def loss_shares(result: dict[str, Any]) -> dict[str, Any]:
    """Per seed: the logged losses and the distillation share, averaged over the second half of training."""
    shares = {}
    for seed, run in result.get("runs", {}).items():
        log = run.get("training", {}).get("loss_log", [])
        late = log[len(log) // 2 :] or log

        def late_mean(key: str) -> float | None:
            values = [entry[key] for entry in late if entry.get(key) is not None]
            return round(statistics.fmean(values), 5) if values else None

        shares[seed] = {"lang_loss": late_mean("lang_loss"), "dist_loss": late_mean("dist_loss"),
                        "dist_share": late_mean("dist_share"), "log": log}
    return shares


def sentence_counts_per_corpus(result: dict[str, Any], seeds: Sequence[str]) -> dict[str, tuple[list, np.ndarray]]:
    """Corpus -> (its gold spans, ``(seeds, sentences, 3)`` tp/fp/fn counts) from the runs' ``sentences_file``.

    Raises:
        FileNotFoundError: a run of ``seeds`` without a sentences file (runs evaluated before they were saved).
    """
    gold_of: dict[str, list] = {}
    counts: dict[str, list[np.ndarray]] = {}
    for seed in seeds:
        path = result.get("runs", {}).get(seed, {}).get("sentences_file")
        if not path or not Path(path).is_file():
            raise FileNotFoundError(f"seed {seed} of {result.get('command')}: no per-sentence spans ({path}); "
                                    "evaluate the run again to save them")
        for name, (gold, predicted) in read_sentence_spans(path).items():
            corpus = name.rsplit(":", 1)[0]
            if corpus in result["corpora"]:
                gold_of.setdefault(corpus, gold)
                counts.setdefault(corpus, []).append(sentence_counts(gold, predicted))
    return {corpus: (gold_of[corpus], np.stack(values)) for corpus, values in counts.items()}


def bootstrap(arm: dict[str, Any], base: dict[str, Any], seeds: Sequence[str], resamples: int) -> dict[str, Any]:
    """Per corpus: the paired bootstrap of F1(arm) - F1(base) over test sentences, in percentage points (``ci95``),
    the seeds of each arm pooled per sentence (`kogner.evaluation.bootstrap`); ``skipped`` says why there is none."""
    if resamples < 1:
        return {"skipped": "--resamples 0"}
    try:
        mine, theirs = sentence_counts_per_corpus(arm, seeds), sentence_counts_per_corpus(base, seeds)
    except FileNotFoundError as error:
        return {"skipped": str(error)}
    found: dict[str, Any] = {}
    for corpus in sorted(set(mine) & set(theirs)):
        (gold, counts), (base_gold, base_counts) = mine[corpus], theirs[corpus]
        if gold != base_gold:
            found[corpus] = {"skipped": "the arms were scored on different test sentences"}
            continue
        found[corpus] = paired_bootstrap(base_counts, counts, resamples, seed=BOOTSTRAP_SEED).to_dict(scale=100)
    return found


def paired(arm: dict[str, Any], base: dict[str, Any], resamples: int = 0) -> dict[str, Any]:
    """Same-seed F1 differences (arm - base) per corpus and on the mean over corpora, with a paired t-test, and
    the sentence bootstrap of each corpus' difference (``resamples`` > 0)."""
    def per_seed(result: dict[str, Any]) -> dict[str, dict[str, float]]:
        return {corpus: dict(zip(map(str, result["seeds"]), values["f1_per_seed"]))
                for corpus, values in result["corpora"].items()}

    mine, theirs = per_seed(arm), per_seed(base)
    seeds = [str(seed) for seed in arm["seeds"] if str(seed) in map(str, base["seeds"])]
    table: dict[str, Any] = {}
    for corpus in sorted(set(mine) & set(theirs)):
        table[corpus] = compare([mine[corpus][s] for s in seeds], [theirs[corpus][s] for s in seeds])
    corpora = sorted(set(mine) & set(theirs))
    if corpora:
        table["mean_over_corpora"] = compare([statistics.fmean(mine[c][s] for c in corpora) for s in seeds],
                                             [statistics.fmean(theirs[c][s] for c in corpora) for s in seeds])
    return {"seeds": seeds, "corpora": table, "bootstrap": bootstrap(arm, base, seeds, resamples)}


def compare(a: list[float], b: list[float]) -> dict[str, Any]:
    differences = [x - y for x, y in zip(a, b)]
    mean, std = mean_std(differences)
    result = {"difference_mean": round(mean, 2), "difference_std": round(std, 2),
              "differences": [round(d, 2) for d in differences], "wins": sum(d > 0 for d in differences),
              "n": len(differences)}
    if len(differences) > 1 and std > 0:
        from scipy.stats import ttest_rel

        result["paired_t_p_value"] = round(float(ttest_rel(a, b).pvalue), 4)
    return result


def markdown(arms: dict[str, dict[str, Any]], results: dict[str, dict[str, Any]], comparisons: dict[str, Any]) -> str:
    corpora = sorted({corpus for result in results.values() for corpus in result["corpora"]})
    lines = ["| arm | dist_weight | H | " + " | ".join(corpora) + " | Δ mean vs dist_0 | dist share |",
             "|---|---|---|" + "---|" * (len(corpora) + 2)]
    for name, result in results.items():
        cells = [f"{result['corpora'][c]['f1']:.1f} ± {result['corpora'][c]['f1_std']:.1f}"
                 if c in result["corpora"] else "–" for c in corpora]
        delta = comparisons.get(name, {}).get("corpora", {}).get("mean_over_corpora")
        shares = [s["dist_share"] for s in loss_shares(result).values() if s["dist_share"] is not None]
        lines.append(f"| {name} | {arms[name]['dist_weight']:g} | {arms[name]['views']} | " + " | ".join(cells)
                     + f" | {'%+.1f' % delta['difference_mean'] if delta else '–'} | "
                     + (f"{statistics.fmean(shares):.2f}" if shares else "–") + " |")
    lines += ["", "F1 (%) strict span+type, mean ± std over seeds; Δ: paired same-seed difference of the mean over "
              "corpora; dist share: the Trainer's dist_share (the weighted, balanced distillation term over the loss "
              "optimised), 2nd half of training."]
    return "\n".join(lines + bootstrap_lines(comparisons))


def bootstrap_lines(comparisons: dict[str, Any]) -> list[str]:
    """One line per arm: each corpus' F1 difference against the base with its bootstrap 95 % interval."""
    lines = []
    for name, comparison in comparisons.items():
        found = comparison.get("bootstrap", {})
        cells = [f"{corpus} {values['difference']:+.2f} [{values['ci95'][0]:+.2f}, {values['ci95'][1]:+.2f}]"
                 for corpus, values in found.items() if isinstance(values, dict) and "ci95" in values]
        if cells:
            lines.append(f"- {name}: " + "; ".join(cells))
    return ["", "Sentence bootstrap, F1 difference vs the base arm (pp) [95 % interval], seeds pooled:", *lines] \
        if lines else []


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    arms = arm_table(args)
    run_info = provenance(args.command, "cuda" if torch.cuda.is_available() else "cpu", args.seeds)
    started = time.time()
    results = {name: run_arm(args, name, arm) for name, arm in arms.items()}
    base = next((name for name, arm in arms.items() if arm["dist_weight"] == 0), None)
    comparisons = {name: paired(result, results[base], args.resamples)
                   for name, result in results.items() if base and name != base}
    table = markdown(arms, results, comparisons)
    print("\n" + table, flush=True)
    write_json(args.output, {
        **run_info, "protocol": args.protocol, "teacher": args.teacher,
        "wall_seconds": round(time.time() - started, 1),
        "arms": {name: {"dist_weight": arm["dist_weight"], "views": arm["views"].split(),
                        "seeds": results[name]["seeds"],
                        "corpora": {corpus: {"f1": values["f1"], "f1_std": values["f1_std"],
                                             "f1_per_seed": values["f1_per_seed"]}
                                    for corpus, values in results[name]["corpora"].items()},
                        "kg_test": results[name].get("kg_test"),
                        "loss_share": loss_shares(results[name]),
                        "command": results[name].get("command"), "commit": results[name].get("commit"),
                        "results_file": args.results.get(name) or str(
                            Path(args.runs_dir, f"{name}{'_quick' if args.quick else ''}.json"))}
                 for name, arm in arms.items()},
        "paired_vs": base, "paired": comparisons, "markdown": table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
