"""The two accuracy protocols (zero-shot and supervised), run by ``python -m benchmarks.zero_shot`` and
``python -m benchmarks.supervised``.

zero-shot   train on the train splits of the corpora that are never evaluated here (BioNLP09, BioNLP11-EPI,
            BioNLP11-ID, BioNLP13-GE, BioNLP13-PC, CRAFT, Ex-PTM) + the KG-generated data + the real text of
            ``--real-text`` (PubTator corpora: BioRED), without every document that shares a sentence with any split
            of an evaluated corpus; choose the threshold on the dev splits of the IOB corpora, BioRED (filtered
            alike) and the KG validation split; score the test splits of NCBI-disease, BC5CDR, BC2GM, JNLPBA (and
            BC4CHEMD when present). No split of an evaluated corpus is seen in training or tuning.
supervised  the same mix + the train splits of NCBI-disease, BC5CDR, BC2GM (PubTator documents sharing a sentence
            with a test split dropped); threshold on the dev splits of all training corpora; score those three
            test splits; in the same run, the `gliner` peer (``benchmarks.peer``) with the same encoder, mix (and
            document filter), steps, batch size, seed and threshold procedure.
The dev split of ``--real-dev`` (BioRED), filtered the same way, is a dev set of every run, whether or not its
train split is in the mix: arms with and without it are compared on the same dev sets, which then include real-text
disease and chemical mentions.

Per seed: ``train.py`` (the config, with the protocol's data, steps and batch; no evaluation during training) ->
threshold chosen on the dev sets (`kogner.evaluation.threshold`, written into the model's ``config.json``) ->
test splits scored at that threshold (strict span+type P/R/F1, per label) -> the generated KG test split too
(entity-disjoint when ``--kg-data`` was built with ``--split entity-disjoint``). Label implications are the
config's, or chosen on the same dev sets among ``--implication-candidates`` (first seed; each candidate trained).

Resumable: every stage writes a record under ``--runs-dir/<protocol>/train-<key>/seed<N>/`` (the key hashes the
training settings; evaluation records are keyed by the evaluation settings; the peer has its own
``peer-<key>/seed<N>/``, keyed by what it depends on: mix, source weights, steps, batch, encoder, learning rates)
and a rerun with identical settings reuses it; an interrupted training resumes from its last checkpoint.
Results: ``benchmarks/results/<protocol>.json`` with ``command``, ``commit``, ``machine``, ``date``, ``seeds``,
``threshold`` and ``corpora: {folder: {f1, f1_std, precision, recall, per_label}}`` (percent); supervised adds
``peer``. Each model's card and ``eval_results.json`` are rewritten with its threshold and test scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from benchmarks.common import (
    REPO_ROOT, RESULTS_DIR, command_line, provenance, run_key, split_at_double_dash, write_json,
)
from benchmarks.protocol_summary import markdown, summarize
from benchmarks.sentence_spans import write_sentence_spans
from kogner.corpora.mix import load_training_mix, parse_source_weights, resolve_eval_sets
from kogner.corpora.overlap import DEFAULT_REFERENCES
from kogner.corpora.registry import (
    ADDED_CORPORA, EVALUATION_CORPORA, PUBTATOR_CORPORA, available_corpora, corpus_folder, resolve_data_dir,
)
from kogner.evaluation.metrics import gold_spans, span_scores
from kogner.evaluation.threshold import DEFAULT_GRID, model_scored_predict, select_threshold, spans_at, write_threshold


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    train_corpora: tuple[str, ...]
    eval_corpora: tuple[str, ...]
    peer: bool
    shared_document_filter: tuple[str, ...]
    """What no ``--real-text`` training document may share a sentence with (`kogner.corpora.overlap`)."""


SUPERVISED_CORPORA = ("ncbi_disease", "bc5cdr", "bc2gm")
PROTOCOLS = {
    "zero_shot": Protocol("zero_shot", "zero-shot (7 added corpora + KG data; evaluated corpora unseen)",
                          ADDED_CORPORA, EVALUATION_CORPORA, peer=False, shared_document_filter=EVALUATION_CORPORA),
    "supervised": Protocol("supervised", "supervised (the zero-shot mix + NCBI-disease, BC5CDR, BC2GM train)",
                           ADDED_CORPORA + SUPERVISED_CORPORA, SUPERVISED_CORPORA, peer=True,
                           shared_document_filter=DEFAULT_REFERENCES),
}


def parse_args(protocol: Protocol, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/release-cpu.yaml", help="train.py YAML the runs start from")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds (3 for mean ± std)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps per run (default: the config's)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size (default: the config's)")
    parser.add_argument("--kg-data", nargs="+", default=["runs/data-disjoint"], help="generated KG dataset (make_bmg_"
                        "dataset.py), then any KG-annotated text (data_scripts/kg_annotate.py); 'none' = without")
    parser.add_argument("--real-text", nargs="*", default=["biored"], choices=sorted(PUBTATOR_CORPORA),
                        help="PubTator corpora added to the training mix, without the documents that share a "
                             "sentence with the protocol's evaluated corpora (default %(default)s; none: no value)")
    parser.add_argument("--real-dev", nargs="*", default=["biored"], choices=sorted(PUBTATOR_CORPORA),
                        help="PubTator corpora whose dev split, filtered like the training text, joins the dev sets "
                             "whether or not it is trained on (real-text disease and chemical; default %(default)s)")
    parser.add_argument("--teacher", default="runs/teacher", help="teacher directory; 'none' = no distillation")
    parser.add_argument("--encoder", default=None, help="encoder for every run (default: the config's)")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--runs-dir", default="runs/protocols", help="where runs and their records go")
    parser.add_argument("--max-dev", type=int, default=500, help="first N sentences per dev set (0 = all)")
    parser.add_argument("--max-test", type=int, default=0, help="first N sentences per test split (0 = all)")
    parser.add_argument("--grid", nargs="+", type=float, default=list(DEFAULT_GRID), help="thresholds to try on dev")
    parser.add_argument("--implication-candidates", nargs="+", default=None, metavar="SET",
                        help="label-implication sets to choose from on dev, items joined by '+', 'none' = empty "
                             "(e.g. none gene=protein+phenotype=disease); default: the config's, not selected")
    parser.add_argument("--eval-batch-size", type=int, default=64, help="batch size when predicting dev/test")
    parser.add_argument("--fresh", action="store_true", help="redo runs that already have records")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 seed, <= 50 steps, 50 dev and 100 test sentences per set")
    parser.add_argument("--export-model", default=None, help="copy the first seed's final model to this folder")
    parser.add_argument("--output", default=None, help=f"results JSON (default: benchmarks/results/{protocol.name}"
                                                       "[_quick].json)")
    if protocol.peer:
        parser.add_argument("--no-peer", action="store_true", help="skip the gliner peer")
        parser.add_argument("--peer-prompting", choices=["joint", "per-label"], default="joint",
                            help="how gliner is prompted (see python -m benchmarks.peer --prompting)")
    own, passed_on = split_at_double_dash(argv)
    args = parser.parse_args(own)
    args.train_args = passed_on  # passed to every train.py run, last (so overriding)
    args.shared_document_filter = list(protocol.shared_document_filter)
    args.command = command_line(protocol.name, argv)
    config_path = Path(args.config)
    if not config_path.is_file() and (REPO_ROOT / config_path).is_file():
        config_path = REPO_ROOT / config_path
    if not config_path.is_file():
        parser.error(f"--config {args.config}: no such file")
    args.config = str(config_path)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    args.max_steps = args.max_steps or int(config.get("max_steps", 900))
    args.batch_size = args.batch_size or int(config.get("per_device_train_batch_size", 8))
    args.encoder = args.encoder or config.get("encoder", "minilm")
    args.learning_rates = (float(config.get("learning_rate", 1e-4)),
                           float(config.get("encoder_learning_rate") or config.get("learning_rate", 1e-4)))
    candidates = args.implication_candidates or ["+".join(config.get("label_implications") or []) or "none"]
    args.implication_candidates = [[] if c == "none" else [item for item in c.split("+") if item] for c in candidates]
    if args.quick:
        args.seeds, args.max_steps = args.seeds[:1], min(args.max_steps, 50)
        args.max_dev, args.max_test = min(args.max_dev or 50, 50), min(args.max_test or 100, 100)
        args.runs_dir = str(Path(args.runs_dir) / "quick")
    args.output = args.output or str(RESULTS_DIR / f"{protocol.name}{'_quick' if args.quick else ''}.json")
    return args


def resolve_sources(protocol: Protocol, args: argparse.Namespace) -> dict[str, list[str]]:
    """Training sources, dev sets and test sets of the protocol; absent corpora are named once and skipped."""
    present, root = available_corpora(args.data_dir), resolve_data_dir(args.data_dir)
    for corpus in dict.fromkeys(protocol.train_corpora + protocol.eval_corpora + (*args.real_text, *args.real_dev)):
        if corpus not in present:
            print(f"[{protocol.name}] corpus {corpus}: folder {corpus_folder(corpus, root)} is missing, skipped",
                  flush=True)
    train = [corpus for corpus in protocol.train_corpora if "train" in present.get(corpus, [])]
    real_text = [corpus for corpus in args.real_text if "train" in present.get(corpus, [])]
    tests = [f"{corpus}:test" for corpus in protocol.eval_corpora if "test" in present.get(corpus, [])]
    dev = [f"{corpus}:validation" for corpus in train + list(args.real_dev) if "validation" in present.get(corpus, [])]
    if args.teacher != "none" and not Path(args.teacher, "teacher.json").is_file():
        raise SystemExit(f"--teacher {args.teacher}: no teacher; run data_scripts/build_teacher.py --out {args.teacher} "
                         "first (or pass --teacher none: no distillation)")
    kg_sets = [] if args.kg_data == ["none"] else list(args.kg_data)
    missing = [kg for kg in kg_sets if not Path(kg, "dataset_dict.json").is_file()]
    if missing:
        raise SystemExit(f"--kg-data {missing[0]}: no saved KG dataset; run data_scripts/make_bmg_dataset.py --split "
                         f"entity-disjoint (or kg_annotate.py) --out {missing[0]} (or pass --kg-data none)")
    saved = {kg: json.loads(Path(kg, "dataset_dict.json").read_text())["splits"] for kg in kg_sets}  # their splits
    train = train + real_text + kg_sets
    dev = dev + [f"{kg}:validation" for kg in kg_sets if "validation" in saved[kg]]
    if protocol.name == "zero_shot":
        leaked = {source.split(":")[0] for source in train + dev} & set(protocol.eval_corpora)
        if leaked:
            raise SystemExit(f"zero-shot protocol would see evaluated corpora {sorted(leaked)} in training/tuning")
    if not train or not tests:
        raise SystemExit(f"[{protocol.name}] nothing to {'train on' if not train else 'evaluate'} under {root}")
    return {"train": train, "dev": dev, "test": tests, "kg_test": [f"{kg}:test" for kg in saved if "test" in saved[kg]]}


def data_fingerprint(sources: Sequence[str], data_dir: str | None) -> dict[str, Any]:
    """Sizes of the corpus files and the saved datasets' fingerprints: a changed input retrains."""
    found = {}
    for source in sources:
        name = source.split(":")[0]
        folder = Path(name) if Path(name).is_dir() else corpus_folder(name, data_dir)
        found[name] = {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
                       if p.is_file() and (p.suffix in (".tsv", ".pubtator") or p.name == "state.json")}
    return found


def train_model(args: argparse.Namespace, sources: dict[str, list[str]], seed: int, implications: list[str],
                run_dir: Path) -> dict[str, Any]:
    """Train one model (or reuse / resume it); returns the training record."""
    from transformers.trainer_utils import get_last_checkpoint

    from kogner.training.cli import parse_arguments
    from kogner.training.pipeline import run_training

    record_file, model_dir = run_dir / "train.json", run_dir / "model"
    if record_file.is_file() and not args.fresh:
        print(f"  reusing the trained model {model_dir}", flush=True)
        return json.loads(record_file.read_text())
    argv = ["--config", args.config, "--output_dir", str(model_dir), "--seed", str(seed),
            "--max_steps", str(args.max_steps), "--per_device_train_batch_size", str(args.batch_size),
            "--encoder", args.encoder, "--eval_strategy", "no", "--load_best_model_at_end", "false",
            "--drop_documents_shared_with", *args.shared_document_filter,
            *(["--data_dir", args.data_dir] if args.data_dir else []), *args.train_args]
    model_args, data_args, training_args = parse_arguments(argv)
    data_args.train_data, data_args.eval_data, data_args.test_data = list(sources["train"]), [], []
    data_args.threshold_dev_data = []  # chosen by evaluate_model on the protocol's own dev sets
    data_args.label_implications = list(implications)
    data_args.teacher = None if args.teacher == "none" else args.teacher
    if data_args.teacher is None:
        training_args.dist_weight = 0.0
    last = get_last_checkpoint(str(model_dir)) if model_dir.is_dir() and not args.fresh else None
    training_args.resume_from_checkpoint = last
    print(f"  training: train.py {' '.join(argv)} --train_data {' '.join(sources['train'])}"
          f"{' (resuming ' + last + ')' if last else ''}", flush=True)
    started = time.time()
    run_training(model_args, data_args, training_args)
    history = json.loads((model_dir / "training_log.json").read_text())["log_history"]
    losses = [entry for entry in history if "lang_loss" in entry]
    record = {"argv": argv, "train_data": sources["train"], "label_implications": implications,
              "dist_weight": training_args.dist_weight, "seconds": round(time.time() - started, 1),
              "loss_log": [{key: entry[key] for key in ("step", "loss", "lang_loss", "dist_loss", "dist_share")
                            if key in entry} for entry in losses]}
    write_json(record_file, record, announce=False)
    return record


def evaluate_model(predict: Any, args: argparse.Namespace, sources: dict[str, list[str]], record_file: Path,
                   model_dir: Path | None = None) -> dict[str, Any]:
    """Threshold on the dev sets (written into ``model_dir``'s config), then the test splits at that threshold."""
    from kogner.training.model_card import restate_model

    if record_file.is_file() and not args.fresh:
        return json.loads(record_file.read_text())

    def first(sets: dict[str, Any], limit: int) -> dict[str, Any]:
        return {name: (data.select(range(min(limit, len(data)))) if limit else data, labels)
                for name, (data, labels) in sets.items()}

    started = time.time()
    dev_sets = first(resolve_eval_sets(sources["dev"], args.data_dir, "validation", args.shared_document_filter),
                     args.max_dev)
    choice, _ = select_threshold(predict, dev_sets, args.grid)
    print(f"  threshold {choice.threshold} (mean dev F1 {100 * choice.mean_f1:.1f} over {len(dev_sets)} dev sets)")
    if model_dir is not None:
        write_threshold(model_dir, choice.threshold)
    test_sets = first(resolve_eval_sets(sources["test"] + sources["kg_test"], args.data_dir, "test"), args.max_test)
    scores, sentences = {}, {}
    for name, (dataset, labels) in test_sets.items():
        predicted = spans_at(predict(dataset["tokens"], labels, choice.threshold), choice.threshold)
        gold = [gold_spans(example) for example in dataset]
        scores[name] = {**span_scores(gold, predicted), "labels": labels, "threshold": choice.threshold}
        sentences[name] = (gold, predicted)
        print(f"  {name}: F1 {100 * scores[name]['f1']:.1f}", flush=True)
    record = {"threshold": choice.to_dict(), "test": scores, "seconds": round(time.time() - started, 1),
              "sentences_file": write_sentence_spans(record_file, sentences)}
    if model_dir is not None:  # the model's card and eval_results.json state this threshold and these scores
        restate_model(model_dir, scores, choice.to_dict(), sources["test"] + sources["kg_test"])
    write_json(record_file, record, announce=False)
    return record


def kogner_predict(model_dir: Path, batch_size: int) -> Any:
    import torch

    from modeling_kogner import KoGNERModel

    model = KoGNERModel.from_pretrained(str(model_dir))
    return model_scored_predict(model.to("cuda" if torch.cuda.is_available() else "cpu"), batch_size)


def training_mix_weights(args: argparse.Namespace) -> dict[str, float]:
    """The ``train_weights`` of the runs (config, then the extra train.py arguments): the peer samples the same mix."""
    from kogner.training.cli import parse_arguments

    _, data_args, _ = parse_arguments(["--config", args.config, *args.train_args])
    return parse_source_weights(data_args.train_weights)


def run_peer(args: argparse.Namespace, sources: dict[str, list[str]], seed: int, run_dir: Path,
             eval_key: str, weights: dict[str, float]) -> dict[str, Any]:
    """The gliner peer on the same mix (and source weights), steps, batch, seed; threshold by the same dev
    procedure. ``run_dir`` is keyed by what the peer depends on only, so recipes of ours that share it reuse it."""
    import torch

    from benchmarks import peer

    record_file = run_dir / f"peer-eval-{eval_key}.json"
    if record_file.is_file() and not args.fresh:
        print(f"  reusing the peer record {record_file}", flush=True)
        return json.loads(record_file.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    train = peer.to_gliner_format(load_training_mix(sources["train"], args.data_dir, seed, weights,
                                                    overlap_with=args.shared_document_filter))
    learning_rate, encoder_learning_rate = args.learning_rates
    model, seconds = peer.train_gliner(
        train, encoder=args.encoder, steps=args.max_steps, batch_size=args.batch_size, seed=seed,
        learning_rate=learning_rate, encoder_learning_rate=encoder_learning_rate, output_dir=str(run_dir / "peer"),
        device="cuda" if torch.cuda.is_available() else "cpu",
    )
    predict = peer.gliner_scored_predict(model, args.eval_batch_size, args.peer_prompting)
    record = evaluate_model(predict, args, sources, record_file)
    record["train_seconds"] = round(seconds, 1)
    write_json(record_file, record, announce=False)
    return record


def main(protocol_name: str, argv: Sequence[str] | None = None) -> int:
    protocol = PROTOCOLS[protocol_name]
    args = parse_args(protocol, argv)
    sources = resolve_sources(protocol, args)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    run_info, started = provenance(args.command, device, args.seeds), time.time()
    fingerprint = data_fingerprint(sources["train"], args.data_dir)
    base = {"protocol": protocol.name, "config": Path(args.config).read_text(), "train": sources["train"],
            "steps": args.max_steps, "batch": args.batch_size, "encoder": args.encoder, "teacher": args.teacher,
            "train_args": args.train_args, "data": fingerprint,
            **({"shared_document_filter": args.shared_document_filter} if args.real_text else {})}
    eval_key = run_key({"dev": sources["dev"], "test": sources["test"] + sources["kg_test"], "max_dev": args.max_dev,
                        "max_test": args.max_test, "grid": args.grid, "data": data_fingerprint(
                            [s.split(":")[0] for s in sources["dev"] + sources["test"]], args.data_dir)})
    root = Path(args.runs_dir, protocol.name)
    weights = training_mix_weights(args)
    peer_key = run_key({"train": sources["train"], "data": fingerprint, "weights": weights, "steps": args.max_steps,
                        **({"shared_document_filter": args.shared_document_filter} if args.real_text else {}),
                        "batch": args.batch_size, "encoder": args.encoder, "learning_rates": args.learning_rates,
                        "prompting": getattr(args, "peer_prompting", None)})

    def run_dir(seed: int, implications: list[str]) -> Path:
        return root / f"train-{run_key({**base, 'implications': implications})}" / f"seed{seed}"

    def train_and_score(seed: int, implications: list[str]) -> dict[str, Any]:
        directory = run_dir(seed, implications)
        directory.mkdir(parents=True, exist_ok=True)
        training = train_model(args, sources, seed, implications, directory)
        record_file = directory / f"eval-{eval_key}.json"
        predict = None if record_file.is_file() and not args.fresh else kogner_predict(directory / "model",
                                                                                        args.eval_batch_size)
        return {"dir": str(directory), "training": training,
                **evaluate_model(predict, args, sources, record_file, directory / "model")}

    implication_choice = {"candidates": args.implication_candidates, "chosen_on": sources["dev"]}
    chosen = args.implication_candidates[0]
    if len(args.implication_candidates) > 1:  # chosen on dev with the first seed; every candidate is trained
        dev_f1 = {}
        for candidate in args.implication_candidates:
            print(f"[{protocol.name}] implications {candidate or 'none'} (seed {args.seeds[0]}) for the dev choice")
            dev_f1["+".join(candidate) or "none"] = train_and_score(args.seeds[0], candidate)["threshold"]["mean_f1"]
        chosen = args.implication_candidates[max(range(len(dev_f1)), key=lambda i: list(dev_f1.values())[i])]
        implication_choice["dev_mean_f1"] = dev_f1
    implication_choice["chosen"] = chosen

    runs, peer_runs = {}, {}
    for number, seed in enumerate(args.seeds, start=1):
        print(f"[{protocol.name}] seed {seed} ({number}/{len(args.seeds)})", flush=True)
        runs[str(seed)] = train_and_score(seed, chosen)
        if protocol.peer and not args.no_peer:
            print(f"[{protocol.name}] gliner peer, seed {seed}", flush=True)
            peer_runs[str(seed)] = run_peer(args, sources, seed, root / f"peer-{peer_key}" / f"seed{seed}", eval_key,
                                            weights)
    kg_sets = {Path(name.rsplit(":", 1)[0]).name for name in sources["kg_test"]}
    every = summarize({seed: run["test"] for seed, run in runs.items()})
    corpora = {name: values for name, values in every.items() if name not in kg_sets}
    peer_summary = summarize({seed: run["test"] for seed, run in peer_runs.items()}) if peer_runs else None
    if args.export_model:
        shutil.copytree(Path(runs[str(args.seeds[0])]["dir"]) / "model", args.export_model, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("checkpoint-*"))
        print(f"[{protocol.name}] model (threshold in its config) exported to {args.export_model}")
    table = markdown(corpora, peer_summary, len(args.seeds))
    print("\n" + table, flush=True)
    results = {
        "protocol": protocol.name, "title": protocol.title, **run_info,
        "wall_seconds": round(time.time() - started, 1),
        "threshold": {"per_seed": {seed: run["threshold"]["threshold"] for seed, run in runs.items()},
                      "chosen_on": sources["dev"], "max_dev_sentences": args.max_dev, "grid": args.grid,
                      "procedure": "kogner.evaluation.threshold: best mean F1 over the dev sets"},
        "label_implications": implication_choice,
        "training": {"config": args.config, "sources": sources["train"], "max_steps": args.max_steps,
                     "real_text": args.real_text, "shared_document_filter": args.shared_document_filter,
                     "batch_size": args.batch_size, "encoder": args.encoder, "teacher": args.teacher,
                     "extra_train_args": args.train_args, "source_weights": weights},
        "corpora": corpora,
        "kg_test": {name: every[name] for name in kg_sets if name in every},
        "runs": runs,
        "markdown": table,
    }
    if protocol.peer:
        results["peer"] = {folder: {key: values[key] for key in ("f1", "f1_std", "precision", "recall")}
                           for folder, values in (peer_summary or {}).items() if folder not in kg_sets}
        results["peer_runs"] = peer_runs
    write_json(args.output, results)
    return 0
