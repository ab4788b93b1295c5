"""`annotate_corpus`: a collection of documents -> annotated shards -> one output file, resumable and multi-process.

The input is read as a stream and cut into shards of ``shard_size`` documents in input order (`kogner.annotate.
shards`). Under ``accelerate launch --num_processes N`` process ``rank`` annotates the shards ``k`` with
``k % N == rank`` (every process reads the input stream, only its own shards go through the model); after a
barrier, rank 0 merges the shards in input order into ``annotations.<format>``, ``skipped.jsonl`` and
``summary.json``. Only the current shard is held in memory. A rerun with the same model, labels and options skips
the shards that are done, so a killed run loses at most the shards in progress.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from kogner.atomic import atomic_write_json, atomic_write_text

from .formats import OUTPUT_FILES, document_record, write_output
from .inputs import Document, open_source
from .shards import (SKIPPED_FILE, SUMMARY_FILE, check_output_folder, documents_hash, done_manifest,
                     model_fingerprint, read_manifest, run_id, shard_records, shards_of, write_run_record,
                     write_shard)

BACKENDS = ("torch", "onnx", "onnx-int8")


@dataclass
class AnnotateOptions:
    """What to annotate, with what, and where to (the options of ``kogner-annotate``)."""

    model: str
    labels: list[str]
    input: str
    output: str
    output_format: str = "jsonl"
    link: bool = False
    split_sentences: bool = False
    threshold: float | None = None
    batch_size: int = 32
    backend: str = "torch"
    input_format: str = "auto"
    text_column: str = "text"
    id_column: str = "id"
    split: str | None = None
    shard_size: int = 1000
    max_chars: int = 1_000_000
    progress: bool = True
    chunk_size: int = field(default=0, metadata={
        "help": "documents per model call (0: 32 x batch_size); the model sorts a call's texts by length before "
                "batching, so larger calls pad less"})

    def check(self) -> None:
        """``ValueError`` naming the option for a value out of range."""
        if self.backend not in BACKENDS:
            raise ValueError(f"--backend {self.backend!r}: expected one of {', '.join(BACKENDS)}")
        if self.output_format not in OUTPUT_FILES:
            raise ValueError(f"--format {self.output_format!r}: expected one of {', '.join(OUTPUT_FILES)}")
        for name in ("batch_size", "shard_size", "max_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.chunk_size < 0:
            raise ValueError(f"chunk_size must be >= 0 (0: 32 x batch_size), got {self.chunk_size}")
        if not self.labels:
            raise ValueError("--labels: name at least one entity type, e.g. --labels disease chemical gene")


class Annotator:
    """A KoGNER model (torch or ONNX Runtime) with the labels and options of a run: texts -> entities per text."""

    def __init__(self, model: Any, options: AnnotateOptions) -> None:
        self.model = model
        self.options = options
        self.threshold = float(model.config.threshold if options.threshold is None else options.threshold)

    def __call__(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        return self.model.batch_predict_entities(
            list(texts), self.options.labels, threshold=self.threshold, batch_size=self.options.batch_size,
            split_sentences=self.options.split_sentences, link=self.options.link,
        )

    def check(self) -> None:
        """Raise the model's own clear error (labels, threshold, ``link`` without an entity index) before any work."""
        self([])


def load_annotator(options: AnnotateOptions, device: Any = "cpu", num_processes: int = 1) -> Annotator:
    """Load ``options.model`` on ``device`` (torch) or in ONNX Runtime, and check that it can do the run."""
    from kogner.checks import check_model_source

    marker = "onnx_export.json" if options.backend.startswith("onnx") else "config.json"
    check_model_source(options.model, "--model", marker if Path(options.model).is_dir() else None)
    threads = max(1, (os.cpu_count() or 1) // max(1, num_processes))
    if options.backend == "torch":
        import torch

        from modeling_kogner import KoGNERModel

        if num_processes > 1 and str(device).startswith("cpu"):
            torch.set_num_threads(threads)
        model = KoGNERModel.from_pretrained(options.model).to(device).eval()
    else:
        import onnxruntime

        from kogner.onnx import KoGNERONNXModel

        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = threads if num_processes > 1 else 0
        model = KoGNERONNXModel.from_pretrained(options.model, quantized=options.backend == "onnx-int8",
                                                session_options=session_options)
    annotator = Annotator(model, options)
    annotator.check()
    return annotator


def run_record(options: AnnotateOptions, annotator: Annotator) -> dict[str, Any]:
    """``run.json``: what the shards depend on (see `kogner.annotate.shards.RUN_KEYS`), plus the input named."""
    return {
        "model": {"path": str(Path(options.model).expanduser().resolve()) if Path(options.model).exists()
                  else options.model, "sha256": model_fingerprint(options.model)},
        "backend": options.backend,
        "labels": list(options.labels),
        "threshold": annotator.threshold,
        "options": {"link": options.link, "split_sentences": options.split_sentences, "max_chars": options.max_chars},
        "shard_size": options.shard_size,
        "input": {"input": options.input, "input_format": options.input_format, "text_column": options.text_column,
                  "id_column": options.id_column, "split": options.split},
    }


def annotate_documents(annotator: Annotator, documents: list[Document]) -> list[dict[str, Any]]:
    """Records of the annotatable ``documents``; if the model fails on the batch, each document is tried alone and
    one that still fails is returned as ``{"id", "source", "kind": "error", "reason"}`` (a skip) instead."""
    try:
        found = annotator([document.text for document in documents])
        return [document_record(d.id, d.text, entities, d.title) for d, entities in zip(documents, found)]
    except Exception:
        if len(documents) == 1:
            raise
    results = []
    for document in documents:
        try:
            results.extend(annotate_documents(annotator, [document]))
        except Exception as error:  # one document's failure is reported, never the whole run lost
            results.append({"id": document.id, "source": document.source, "kind": "error",
                            "reason": f"{type(error).__name__}: {error}"})
    return results


def annotate_shard(annotator: Annotator, documents: list[Document], chunk_size: int,
                   progress: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records and the skipped documents of one shard (both in input order)."""
    records: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for start in range(0, len(documents), chunk_size):
        chunk = documents[start : start + chunk_size]
        for document in chunk:
            if document.skip_reason is not None:
                skipped.append({"id": document.id, "source": document.source, "kind": document.skip_kind,
                                "reason": document.skip_reason})
        for result in annotate_documents(annotator, [d for d in chunk if d.skip_reason is None]):
            (records if "entities" in result else skipped).append(result)
        if progress is not None:
            progress.update(len(chunk))
    return records, skipped


def _process_state() -> Any:
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def annotate_corpus(options: AnnotateOptions) -> dict[str, Any] | None:
    """Annotate ``options.input`` into the folder ``options.output``; returns the summary (on rank 0, else None).

    Raises (before any document is annotated):
        AnnotateInputError: a missing or unreadable input.
        OutputFolderError: ``options.output`` holds another run's output.
        ValueError: a bad option, or ``link=True`` with a model without an entity index (the model's message).
    """
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    options.check()
    state = _process_state()
    rank, world_size = state.process_index, state.num_processes
    source = open_source(options.input, options.input_format, options.text_column, options.id_column,
                         options.split, options.max_chars)
    annotator = load_annotator(options, state.device, world_size)
    record = run_record(options, annotator)
    this_run = run_id(record)
    output = Path(options.output)
    check_output_folder(output, record)
    state.wait_for_everyone()  # every process has checked the folder before rank 0 writes to it
    if state.is_main_process:
        write_run_record(output, record)
    state.wait_for_everyone()
    chunk_size = options.chunk_size or 32 * options.batch_size
    total = source.count() if options.progress and state.is_main_process else None
    progress = tqdm(total=None if total is None else -(-total // world_size), unit="doc", desc="annotating",
                    dynamic_ncols=True, disable=not (options.progress and state.is_main_process))
    started = time.perf_counter()
    annotated_now = resumed = shard_count = 0
    for index, documents in enumerate(shards_of(source, options.shard_size)):
        shard_count = index + 1
        if index % world_size != rank:
            continue
        input_sha256 = documents_hash(documents)
        if done_manifest(output, index, this_run, input_sha256) is not None:
            resumed += 1
            progress.update(len(documents))
            continue
        shard_start = time.perf_counter()
        records, skipped = annotate_shard(annotator, documents, chunk_size, progress)
        labels = Counter(entity["label"] for result in records for entity in result["entities"])
        write_shard(output, index, records, {
            "run_id": this_run, "input_sha256": input_sha256, "documents": len(documents),
            "annotated": len(records), "skipped": skipped, "entities_per_label": dict(sorted(labels.items())),
            "rank": rank, "world_size": world_size, "seconds": round(time.perf_counter() - shard_start, 3),
        })
        annotated_now += len(documents)
    progress.close()
    annotated_by_rank = gather_object([annotated_now])  # every process's count (collective: all ranks call it)
    elapsed = time.perf_counter() - started
    if not state.is_main_process:
        return None
    summary = merge_shards(output, options.output_format, shard_count)
    summary.update({
        "output": str(output / OUTPUT_FILES[options.output_format]), "world_size": world_size,
        "shards_resumed_by_rank_0": resumed, "documents_annotated_now": sum(annotated_by_rank),
        "seconds": round(elapsed, 3),
        "documents_per_second": round(sum(annotated_by_rank) / elapsed, 2) if sum(annotated_by_rank) else None,
        "options": {key: value for key, value in asdict(options).items() if key != "progress"},
    })
    atomic_write_json(output / SUMMARY_FILE, summary)
    return summary


def merge_shards(output: Path, output_format: str, shard_count: int) -> dict[str, Any]:
    """Write ``annotations.<format>`` and ``skipped.jsonl`` from shards ``0 .. shard_count - 1``; the counts."""
    import json

    manifests = [read_manifest(output, index) for index in range(shard_count)]
    write_output(shard_records(output, shard_count), output / OUTPUT_FILES[output_format], output_format)
    skipped = [entry for manifest in manifests for entry in manifest["skipped"]]
    atomic_write_text(output / SKIPPED_FILE, "".join(json.dumps(entry, ensure_ascii=False) + "\n"
                                                      for entry in skipped))
    per_label: Counter[str] = Counter()
    for manifest in manifests:
        per_label.update(manifest["entities_per_label"])
    return {
        "documents": sum(manifest["documents"] for manifest in manifests),
        "annotated": sum(manifest["annotated"] for manifest in manifests),
        "skipped": len(skipped),
        "skipped_by_kind": dict(sorted(Counter(entry["kind"] for entry in skipped).items())),
        "entities_per_label": dict(sorted(per_label.items())),
        "shards": shard_count,
        "shards_written_by": sorted({(manifest["rank"], manifest["world_size"]) for manifest in manifests}),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-run summary as a few human-readable lines."""
    lines = [f"annotated {summary['annotated']} of {summary['documents']} documents in {summary['shards']} shards "
             f"({summary['shards_resumed_by_rank_0']} resumed) -> {summary['output']}"]
    labels = ", ".join(f"{label} {count}" for label, count in summary["entities_per_label"].items())
    lines.append(f"entities: {labels or 'none'}")
    if summary["skipped"]:
        kinds = ", ".join(f"{kind} {count}" for kind, count in summary["skipped_by_kind"].items())
        lines.append(f"skipped {summary['skipped']} documents ({kinds}): see {Path(summary['output']).parent / SKIPPED_FILE}")
    rate = summary["documents_per_second"]
    lines.append(f"time {summary['seconds']:.1f} s, {rate if rate is not None else '-'} documents/s, "
                 f"{summary['world_size']} process(es)")
    return "\n".join(lines)
