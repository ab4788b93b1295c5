"""ONNX Runtime arms of ``python -m benchmarks.speed --onnx``: the same KoGNER model exported to ONNX, timed like torch.

The model arm (ii) just measured is exported (``kogner.onnx.export_onnx``, checked against torch within 1e-4) into a
temporary folder and predicted with `KoGNERONNXModel` — the same pre-processing and decoding, only the forward
passes in ONNX Runtime, which gets as many threads as torch has. ``--onnx-int8`` adds the int8 span scorer. Each
arm also reports how many sentences got exactly the torch arm's entities (spans and labels).

CPU only (the CUDA execution provider is not part of the pinned ``onnxruntime`` wheel); nothing here is imported
unless ``--onnx`` is given, so speed.py still runs with only torch + transformers installed.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any, Sequence

from benchmarks.measure import interleaved

ARM = "(iv) {name}, batch {batch_size}, interleaved"
ARMS = {
    "torch": "KoGNER torch batch_predict_entities",
    "torch_cached": "KoGNER torch, label vectors cached",
    "fp32": "KoGNER ONNX Runtime fp32",
    "int8": "KoGNER ONNX Runtime int8",
}


def add_onnx_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", action="store_true",
                        help="add ONNX Runtime arms (iv): the KoGNER model of arm (ii) exported to ONNX (CPU only)")
    parser.add_argument("--onnx-int8", action="store_true",
                        help="with --onnx, also time the int8 (dynamically quantised) span scorer")


def onnx_arms(
    args: argparse.Namespace,
    kogner: Any,
    texts: list[str],
    labels: list[str],
    threshold: float | None,
    batch_sizes: Sequence[int],
    count: int,
    tokens: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (the columns of speed.py's rows) and notes of the ONNX comparison.

    The arms are timed interleaved (`measure.interleaved`), so that the ratios stay meaningful on a shared machine.
    """
    if not args.device.startswith("cpu"):
        return [], [f"(iv) ONNX Runtime skipped: it runs on the CPU here, the torch arms on {args.device}"]
    import onnxruntime
    import torch

    from kogner.onnx import KoGNERONNXModel, export_onnx

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as directory:
        print("  exporting the KoGNER model to ONNX ...", flush=True)
        metadata = export_onnx(kogner, directory, quantize=args.onnx_int8)
        notes.append(f"(iv) ONNX export: opset {metadata['opset']}, largest logit difference to torch "
                     f"{metadata['max_logit_difference_to_torch']:.1e}, onnxruntime {onnxruntime.__version__}, "
                     f"{torch.get_num_threads()} intra-op threads like torch")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        models = {"torch": kogner, "torch_cached": _WithCachedLabelVectors(kogner),
                  "fp32": KoGNERONNXModel.from_pretrained(directory, session_options=options)}
        if args.onnx_int8:
            models["int8"] = KoGNERONNXModel.from_pretrained(directory, quantized=True, session_options=options)
        reference = kogner.batch_predict_entities(texts, labels, threshold, batch_size=32)
        for key, model in models.items():
            found = model.batch_predict_entities(texts, labels, threshold, batch_size=32)  # also the warm-up
            same = sum(_spans(a) == _spans(b) for a, b in zip(reference, found))
            if key in ("fp32", "int8"):
                notes.append(f"(iv) ONNX {key}: {same} of {len(texts)} sentences have exactly the torch entities")
        for batch_size in batch_sizes:
            seconds, entities = interleaved(models, texts, labels, threshold, batch_size, max(1, args.repeats))
            for key, total in seconds.items():
                row = {
                    "arm": ARM.format(name=ARMS[key], batch_size=batch_size),
                    "seconds": round(total, 4),
                    "repeats": max(1, args.repeats),
                    "sentences_per_s": round(count / total, 2),
                    "tokens_per_s": round(tokens / total, 1),
                    "peak_rss_delta_mib": None,
                    "peak_cuda_mib": None,
                    "entities_found": entities[key],
                }
                print(f"  {row['arm']:<70} {row['sentences_per_s']:>9.1f} sent/s", flush=True)
                rows.append(row)
    notes.append("(iv) 'label vectors cached': KoGNERModel.train() empties the model's label-vector cache, which "
                 "predict_word_spans calls after every prediction, so the torch arms re-encode the labels on every "
                 "call; this arm memoises label_vectors for the run, as ONNX Runtime arms do")
    return rows, notes


class _WithCachedLabelVectors:
    """Runs ``model``'s ``batch_predict_entities`` with its ``label_vectors`` computed once per label set (see the
    note in onnx_arms); the model itself is left as it was after each call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.cache: dict[Any, Any] = {}

    def label_vectors(self, labels: Sequence[str], label_descriptions: Any = None) -> Any:
        key = (tuple(labels), tuple(sorted((label_descriptions or {}).items())))
        if key not in self.cache:
            self.cache[key] = type(self.model).label_vectors(self.model, labels, label_descriptions)
        return self.cache[key]

    def batch_predict_entities(self, *args: Any, **kwargs: Any) -> Any:
        self.model.label_vectors = self.label_vectors  # an instance attribute shadows the method
        try:
            return self.model.batch_predict_entities(*args, **kwargs)
        finally:
            del self.model.label_vectors


def onnx_ratios(rows: list[dict[str, Any]], batch_sizes: Sequence[int]) -> dict[str, float]:
    """ONNX arms / torch arms (tokens/s) at each batch size, from the interleaved timings."""
    rate = {row["arm"]: row["tokens_per_s"] for row in rows}
    found = {}
    for batch_size in batch_sizes:
        for onnx_key in ("fp32", "int8"):
            onnx_rate = rate.get(ARM.format(name=ARMS[onnx_key], batch_size=batch_size))
            for torch_key, what in (("torch", "torch KoGNER"), ("torch_cached", "torch KoGNER with cached labels")):
                torch_rate = rate.get(ARM.format(name=ARMS[torch_key], batch_size=batch_size))
                if onnx_rate and torch_rate:
                    found[f"ONNX Runtime {onnx_key} / {what}, batch {batch_size}"] = round(onnx_rate / torch_rate, 3)
    return found


def _spans(entities: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [(entity["start"], entity["end"], entity["label"]) for entity in entities]
