"""Throughput of ``kogner-annotate`` beside ``batch_predict_entities`` on the same sentences, in the same run.

    python -m benchmarks.annotate --model runs/demo/model                 # 10,000 sentences, every arm
    python -m benchmarks.annotate --model M --max-docs 200 --out /tmp/a.json   # a quick check that it works

Sentences: the devel splits of the IOB corpora in ``--data-dir`` (default ``../shared/data/benchmarks``), taken
in turn from each corpus (sorted by name) until ``--max-docs``, tokens joined by spaces; written as one JSONL file
that every arm reads. Arms, each timed on those documents:

* ``batch_predict_entities`` (torch, and ONNX int8): one call over every text at ``--batch-size`` (32): the
  baseline the command is measured against; it and the 1-process arms run in turn ``--repeats`` times and the
  fastest run of each is kept (the machine may be shared);
* ``annotate`` with 1 process (in this process: ``annotate_corpus``) and with N processes (``accelerate launch
  --multi_gpu --num_processes N -m kogner.annotate``, gloo on CPUs), torch and ONNX int8; the time is the run's
  own (``summary.json``: reading, annotating, writing shards, without interpreter start and model loading), the
  wall time of the launch is recorded beside it;
* ``annotate --link`` (torch, 1 process) when the model has an entity index, alternated with the plain 1-process
  arm; its time over that arm's is printed and saved as ``link_time_ratio`` (target <= 1.25);
* with ``--memory-docs N``: one 1-process torch run over N documents (the sentences repeated) whose resident
  memory is sampled through the run, to show it stays flat (first vs last quarter).

The ONNX graphs come from ``--onnx-model`` or are exported (int8) from ``--model`` into a temporary folder.
Documents/s and tokens/s (the model tokenizer's sub-tokens, without special tokens) per arm, and each annotate
arm's tokens/s as a ratio to its backend's ``batch_predict_entities``, go to ``--out`` (default
``benchmarks/results/annotate.json``) with the command, commit, machine and date.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import REPO_ROOT, RESULTS_DIR, command_line, provenance, write_json
from benchmarks.measure import PeakMemory

DEFAULT_LABELS = ["disease", "chemical", "gene"]


def load_sentences(data_dir: Path, count: int) -> list[str]:
    """Up to ``count`` devel sentences, taken in turn from each corpus of ``data_dir`` (stable order)."""
    from kogner.corpora.iob import read_iob_sentences

    files = sorted(path for path in data_dir.glob("*/devel.tsv"))
    if not files:
        raise SystemExit(f"no */devel.tsv under {data_dir}: pass --data-dir (the IOB benchmark corpora)")
    readers = [read_iob_sentences(path) for path in files]
    texts: list[str] = []
    while readers and len(texts) < count:
        for reader in list(readers):
            sentence = next(reader, None)
            if sentence is None:
                readers.remove(reader)
            elif len(texts) < count:
                texts.append(" ".join(sentence.tokens))
    return texts


def token_count(tokenizer: Any, texts: Sequence[str]) -> int:
    return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])


def row(name: str, documents: int, tokens: int, seconds: float, **extra: Any) -> dict[str, Any]:
    result = {"arm": name, "documents": documents, "seconds": round(seconds, 3),
              "documents_per_s": round(documents / seconds, 2), "tokens_per_s": round(tokens / seconds, 1)}
    print(f"{name:36s} {result['documents_per_s']:9.1f} docs/s {result['tokens_per_s']:10.1f} tokens/s", flush=True)
    return result | extra


def baseline_arm(name: str, model: Any, texts: list[str], labels: list[str], args: argparse.Namespace,
                 tokens: int) -> dict[str, Any]:
    model.batch_predict_entities(texts[:64], labels, threshold=args.threshold, batch_size=args.batch_size)  # warm-up
    with PeakMemory("cpu") as memory:
        started = time.perf_counter()
        found = model.batch_predict_entities(texts, labels, threshold=args.threshold, batch_size=args.batch_size)
        seconds = time.perf_counter() - started
    return row(name, len(texts), tokens, seconds, entities=sum(map(len, found)), rss_delta_mib=memory.rss_delta_mib)


def in_process_arm(name: str, model: str, source: Path, work: Path, args: argparse.Namespace, tokens: int,
                   attempt: int = 0, **options: Any) -> dict[str, Any]:
    from kogner.annotate import AnnotateOptions, annotate_corpus

    output = work / (re.sub(r"\W+", "_", name) + f"_{attempt}")
    settings = AnnotateOptions(model=model, labels=args.labels, input=str(source), output=str(output),
                               threshold=args.threshold, batch_size=args.batch_size, shard_size=args.shard_size,
                               progress=False, **options)
    with PeakMemory("cpu") as memory:
        started = time.perf_counter()
        summary = annotate_corpus(settings)
        wall = time.perf_counter() - started
    return row(name, summary["documents"], tokens, summary["seconds"], wall_s_with_model_load=round(wall, 3),
               entities=sum(summary["entities_per_label"].values()), rss_delta_mib=memory.rss_delta_mib,
               processes=1)


def backend_arms(backend: str, predictor: Any, model: str, texts: list[str], source: Path, work: Path,
                 args: argparse.Namespace, tokens: int, link: bool = False) -> list[dict[str, Any]]:
    """The baseline and the 1-process arms, alternated ``--repeats`` times (the fastest of each is kept: the
    machine may be shared), then the launched multi-process arms once each."""
    options = {"backend": backend} | ({"link": True} if link else {})
    best: dict[str, dict[str, Any]] = {}
    for attempt in range(args.repeats):
        found = [baseline_arm(f"batch_predict_entities ({backend})", predictor, texts, args.labels, args, tokens)]
        if 1 in args.processes:
            found.append(in_process_arm(f"annotate {backend} 1 process(es)", model, source, work, args, tokens,
                                        attempt, backend=backend))
            if link:
                found.append(in_process_arm(f"annotate {backend} 1 process --link", model, source, work, args,
                                            tokens, attempt, **options))
        for result in found:
            if result["arm"] not in best or result["seconds"] < best[result["arm"]]["seconds"]:
                best[result["arm"]] = result | {"repeats": args.repeats}
    launched = [launched_arm(f"annotate {backend} {n} process(es)", model, source, work, args, tokens, n, backend)
                for n in args.processes if n > 1]
    return list(best.values()) + launched


def launched_arm(name: str, model: str, source: Path, work: Path, args: argparse.Namespace, tokens: int,
                 processes: int, backend: str) -> dict[str, Any]:
    """``accelerate launch --multi_gpu --num_processes N -m kogner.annotate`` (gloo on CPUs)."""
    output = work / re.sub(r"\W+", "_", name)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
        str(args.port), "-m", "kogner.annotate", "--model", model, "--labels", *args.labels, "--input", str(source),
        "--output", str(output), "--batch-size", str(args.batch_size), "--shard-size", str(args.shard_size),
        "--backend", backend, "--no-progress", *(["--threshold", str(args.threshold)] if args.threshold else []),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // processes)))
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return {"arm": name, "error": result.stderr.strip().splitlines()[-1:] or ["failed"]}
    summary = json.loads((output / "summary.json").read_text())
    return row(name, summary["documents"], tokens, summary["seconds"], wall_s_with_startup=round(wall, 3),
               entities=sum(summary["entities_per_label"].values()), processes=summary["world_size"],
               shards_written_by=summary["shards_written_by"])


def memory_arm(model: str, texts: list[str], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """RSS sampled through a 1-process run over ``--memory-docs`` documents: flat means first ~ last quarter."""
    import psutil

    from kogner.annotate import AnnotateOptions, annotate_corpus

    source = work / "memory.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for number in range(args.memory_docs):
            handle.write(json.dumps({"id": str(number), "text": texts[number % len(texts)]}) + "\n")
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(psutil.Process().memory_info().rss / 2**20)
            time.sleep(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    summary = annotate_corpus(AnnotateOptions(model=model, labels=args.labels, input=str(source),
                                              output=str(work / "memory"), threshold=args.threshold,
                                              batch_size=args.batch_size, shard_size=args.shard_size, progress=False))
    stop.set()
    thread.join()
    quarter = max(1, len(samples) // 4)
    return {"arm": "memory (torch, 1 process)", "documents": summary["documents"], "seconds": summary["seconds"],
            "rss_mib_first_quarter_max": round(max(samples[:quarter]), 1),
            "rss_mib_last_quarter_max": round(max(samples[-quarter:]), 1), "rss_mib_peak": round(max(samples), 1),
            "samples": len(samples)}


def onnx_export_folder(args: argparse.Namespace, model: Any, work: Path) -> str:
    if args.onnx_model:
        return args.onnx_model
    from kogner.onnx import export_onnx

    folder = work / "onnx"
    export_onnx(model, folder, quantize=True)
    return str(folder)


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """tokens/s of each annotate arm over its backend's ``batch_predict_entities`` (>= 0.9 is the target)."""
    base = {r["arm"].split(" ")[1].strip("()"): r["tokens_per_s"] for r in rows
            if r["arm"].startswith("batch_predict_entities") and "tokens_per_s" in r}
    found = {}
    for r in rows:
        if r["arm"].startswith("annotate") and "tokens_per_s" in r:
            backend = "torch" if "torch" in r["arm"] else "onnx-int8"
            if backend in base:
                found[r["arm"]] = round(r["tokens_per_s"] / base[backend], 3)
    return found


def link_time_ratio(rows: list[dict[str, Any]]) -> float | None:
    """Seconds of the ``--link`` arm over those of the same run without links (1 process, torch; <= 1.25 is the
    target), or ``None`` when the model could not link."""
    seconds = {r["arm"]: r["seconds"] for r in rows if "seconds" in r}
    linked, plain = seconds.get("annotate torch 1 process --link"), seconds.get("annotate torch 1 process(es)")
    return round(linked / plain, 3) if linked and plain else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", required=True, help="saved KoGNER model folder (e.g. runs/demo/model)")
    parser.add_argument("--onnx-model", default=None, help="an export with int8 graphs (default: export --model)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "benchmarks")
    parser.add_argument("--max-docs", type=int, default=10_000, help="sentences to annotate (default 10,000)")
    parser.add_argument("--labels", nargs="+", default=DEFAULT_LABELS)
    parser.add_argument("--threshold", type=float, default=None, help="default: the model's")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts of the annotate arms")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx-int8"], choices=["torch", "onnx-int8"])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each 1-process arm (the fastest is kept)")
    parser.add_argument("--memory-docs", type=int, default=0, help="also run the memory arm over N documents")
    parser.add_argument("--port", type=int, default=29541, help="accelerate's main process port")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "annotate.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    record = provenance(command_line("annotate", argv))
    import torch

    from modeling_kogner import KoGNERModel

    texts = load_sentences(args.data_dir, args.max_docs)
    model = KoGNERModel.from_pretrained(args.model).eval()
    tokens = token_count(model.tokenizer, texts)
    args.threshold = args.threshold if args.threshold is not None else float(model.config.threshold)
    print(f"{len(texts)} sentences, {tokens} sub-tokens, labels {args.labels}, torch threads "
          f"{torch.get_num_threads()}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kogner-annotate-bench-") as folder:
        work = Path(folder)
        source = work / "sentences.jsonl"
        source.write_text("".join(json.dumps({"id": str(n), "text": t}) + "\n" for n, t in enumerate(texts)))
        if "torch" in args.backends:
            rows += backend_arms("torch", model, args.model, texts, source, work, args, tokens,
                                 link=model.entity_index is not None)
        if "onnx-int8" in args.backends:
            from kogner.onnx import KoGNERONNXModel

            onnx_folder = onnx_export_folder(args, model, work)
            onnx_model = KoGNERONNXModel.from_pretrained(onnx_folder, quantized=True)
            rows += backend_arms("onnx-int8", onnx_model, onnx_folder, texts, source, work, args, tokens)
        memory = memory_arm(args.model, texts, work, args) if args.memory_docs else None
    link_ratio = link_time_ratio(rows)
    if link_ratio is not None:
        print(f"--link time ratio (annotate torch 1 process, link / no link): {link_ratio:.3f} (target <= 1.25)",
              flush=True)
    write_json(args.out, {
        **record,
        "model": args.model, "labels": args.labels, "threshold": args.threshold, "batch_size": args.batch_size,
        "documents": len(texts), "sub_tokens": tokens, "data": str(args.data_dir) + " (devel splits)",
        "arms": rows,
        "tokens_per_s_ratio_to_batch_predict_entities": ratios(rows),
        "link_time_ratio": link_ratio,
        "memory": memory,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
