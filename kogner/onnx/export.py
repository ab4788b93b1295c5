"""Export a KoGNER model to ONNX: the encoder with the span and label heads; decoding stays in Python.

Two graphs, written next to the model's config and tokenizer:

- ``span_scorer.onnx``: ``input_ids``, ``attention_mask`` ``[B, T]``, ``word_index``, ``word_mask`` ``[B, N]`` and
  ``label_embeddings`` ``[C, h]`` -> ``logits`` ``[B, N * max_width, C]`` (``KoGNERModel.forward``);
- ``label_encoder.onnx``: ``label_input_ids``, ``label_attention_mask`` ``[C, L]`` -> ``label_embeddings``
  ``[C, h]`` (``KoGNERModel.encode_labels``), run once per label set.

With a shared encoder both graphs hold its weights (ONNX files cannot share initializers), so the export is about
twice the encoder's size. ``quantize=True`` adds an int8 span scorer (``span_scorer.int8.onnx``) made by ONNX
Runtime's dynamic quantisation. Every export is checked against torch on inputs of other shapes than the ones traced.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modeling_kogner import KoGNERModel

SPAN_SCORER = "span_scorer"
LABEL_ENCODER = "label_encoder"
METADATA_FILE = "onnx_export.json"
REQUIRED_MODULES = ("encoder", "span_representation", "label_projection")
"""What the two graphs are made of: the text encoder, the span FFN and the label FFN."""
VERIFY_TOLERANCE = 1e-4
EXTERNAL_DATA_BYTES = 1 << 30  # graphs above 1 GiB of weights keep them in a side file (protobuf stops at 2 GiB)


class SpanScorer(nn.Module):
    """``KoGNERModel.forward`` with precomputed label vectors, returning only the logits."""

    def __init__(self, model: KoGNERModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_index: torch.Tensor,
                word_mask: torch.Tensor, label_embeddings: torch.Tensor) -> torch.Tensor:
        """``[B, N * max_width, C]`` span·label logits of the windows (the graph's inputs, in this order)."""
        return self.model(input_ids, attention_mask, word_index, word_mask, label_embeddings=label_embeddings).logits


class LabelEncoder(nn.Module):
    """``KoGNERModel.encode_labels``: mean-pooled label-encoder output through the label FFN."""

    def __init__(self, model: KoGNERModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, label_input_ids: torch.Tensor, label_attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.encode_labels(label_input_ids, label_attention_mask)


def check_heads(model: Any, source: str = "the model") -> None:
    """Raise ``ValueError`` naming the modules an ONNX export needs that ``model`` lacks."""
    missing = [name for name in REQUIRED_MODULES if not isinstance(getattr(model, name, None), nn.Module)]
    if missing:
        raise ValueError(
            f"cannot export {source} to ONNX: it has no {', '.join(missing)} (a KoGNER model needs "
            f"{', '.join(REQUIRED_MODULES)}); export a trained KoGNER model, not a bare encoder"
        )


def load_for_export(path: str | Path) -> KoGNERModel:
    """A saved KoGNER model in float32, refusing directories whose weights lack a head (instead of the random
    initialisation ``from_pretrained`` would give it with only a warning).
    """
    config_file = Path(path) / "config.json"
    if config_file.is_file():
        model_type = json.loads(config_file.read_text()).get("model_type")
        if model_type != "kogner":
            raise ValueError(
                f"cannot export {path} to ONNX: it is a {model_type!r} model without KoGNER's span_representation "
                "and label_projection heads; start a KoGNER model with KoGNERModel.from_encoder and train it"
            )
    saved = checkpoint_keys(Path(path))
    missing_heads = [name for name in REQUIRED_MODULES if not any(key.startswith(f"{name}.") for key in saved)]
    if missing_heads:
        raise ValueError(
            f"cannot export {path} to ONNX: its weights have no {', '.join(missing_heads)} (a KoGNER model needs "
            f"{', '.join(REQUIRED_MODULES)}); from_pretrained would fill them with random values"
        )
    return KoGNERModel.from_pretrained(str(path), dtype=torch.float32)


def checkpoint_keys(directory: Path) -> set[str]:
    """Names of the tensors saved in ``directory`` (``model.safetensors`` or a sharded safetensors index)."""
    from safetensors import safe_open

    index = directory / "model.safetensors.index.json"
    if index.is_file():
        return set(json.loads(index.read_text())["weight_map"])
    single = directory / "model.safetensors"
    if not single.is_file():
        raise FileNotFoundError(f"{directory} has no model.safetensors (or its index): not a saved KoGNER model")
    with safe_open(str(single), framework="pt") as handle:
        return set(handle.keys())


def example_inputs(model: KoGNERModel, texts: list[list[str]], labels: list[str]) -> tuple[dict, dict]:
    """Word-batch inputs for ``texts`` and label inputs for ``labels``, as ``predict_word_spans`` builds them."""
    from modeling_kogner.processing_kogner import encode_labels

    batch = model.word_encoder.collate(model.word_encoder.windows(texts))
    label_batch = encode_labels(model.tokenizer, labels, model.config.max_label_tokens)
    return batch, label_batch


TRACE_TEXTS = [["Cisplatin", "-", "induced", "nephrotoxicity", "in", "rats", "."], ["Aspirin", "treats", "fever", "."]]
TRACE_LABELS = ["chemical", "disease", "gene or protein"]
CHECK_TEXTS = [["BRCA1", "mutations", "cause", "breast", "cancer", "."], ["Lithium", "."],
               ["Valproic", "acid", "and", "tamoxifen", "were", "given", "to", "patients", "with", "seizures", "."]]
CHECK_LABELS = ["disease"]


def _export(module: nn.Module, inputs: dict[str, torch.Tensor], dims: dict[str, dict[int, str]], path: Path,
            opset: int, external_data: bool) -> None:
    from torch.export import Dim

    named = {name: Dim(name) for axes in dims.values() for name in axes.values()}
    dynamic_shapes = {key: {axis: named[name] for axis, name in dims[key].items()} for key in inputs}
    torch.onnx.export(
        module, (), str(path), kwargs=inputs, input_names=list(inputs), dynamic_shapes=dynamic_shapes,
        opset_version=opset, dynamo=True, external_data=external_data, verbose=False,
    )


def export_onnx(
    model: KoGNERModel | str | Path, output_dir: str | Path, quantize: bool = False, opset: int = 18
) -> dict[str, Any]:
    """Export ``model`` (a ``KoGNERModel`` or a saved model directory) to ``output_dir``; returns the metadata.

    ``output_dir`` gets both graphs (and an int8 span scorer with ``quantize``), the KoGNER config, the tokenizer and
    ``onnx_export.json`` (files, opset, versions, the largest logit difference to torch found by the check).

    Raises:
        ValueError: the model lacks the encoder, span or label head.
        RuntimeError: ONNX Runtime's logits differ from torch's by more than 1e-4.
    """
    import onnxruntime

    source = str(model) if isinstance(model, (str, Path)) else "the model"
    if isinstance(model, (str, Path)):
        model = load_for_export(model)
    check_heads(model, source)
    if model.dtype != torch.float32:
        model = copy.deepcopy(model).float()
    model.eval()
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    external_data = sum(p.numel() * p.element_size() for p in model.parameters()) > EXTERNAL_DATA_BYTES

    batch, label_batch = example_inputs(model, TRACE_TEXTS, TRACE_LABELS)
    with torch.no_grad():
        label_embeddings = model.encode_labels(label_batch["label_input_ids"], label_batch["label_attention_mask"])
    started = time.perf_counter()
    span_inputs = {**batch, "label_embeddings": label_embeddings}
    span_dims = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                 "word_index": {0: "batch", 1: "words"}, "word_mask": {0: "batch", 1: "words"},
                 "label_embeddings": {0: "labels"}}
    _export(SpanScorer(model), span_inputs, span_dims, output / f"{SPAN_SCORER}.onnx", opset, external_data)
    label_dims = {"label_input_ids": {0: "labels", 1: "label_tokens"},
                  "label_attention_mask": {0: "labels", 1: "label_tokens"}}
    _export(LabelEncoder(model), dict(label_batch), label_dims, output / f"{LABEL_ENCODER}.onnx", opset, external_data)
    export_seconds = time.perf_counter() - started

    graphs = {"fp32": {"span_scorer": f"{SPAN_SCORER}.onnx", "label_encoder": f"{LABEL_ENCODER}.onnx"}}
    if quantize:
        graphs["int8"] = quantize_graphs(output, external_data)
    difference = max_logit_difference(model, output, graphs["fp32"])
    if difference > VERIFY_TOLERANCE:
        raise RuntimeError(
            f"the ONNX export in {output} disagrees with torch: logits differ by up to {difference:.2e} "
            f"(tolerance {VERIFY_TOLERANCE:.0e})"
        )
    model.config.save_pretrained(output)
    model.tokenizer.save_pretrained(output)
    import onnx

    metadata = {
        "source": source if source != "the model" else (model.config._name_or_path or None),
        "graphs": graphs,
        "opset": opset,
        "external_data": external_data,
        "max_logit_difference_to_torch": difference,
        "export_seconds": round(export_seconds, 1),
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }
    (output / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    return metadata


def quantize_graphs(output: Path, external_data: bool) -> dict[str, str]:
    """The int8 variant: the span scorer quantised by ``onnxruntime.quantization.quantize_dynamic`` (int8 weights,
    activations quantised on the fly), with the float32 label encoder.

    The label encoder stays float32: it runs once per label set (its vectors are cached), so quantising it saves
    no time, while its int8 rounding would shift every span x label score at once. Weights are quantised per output
    channel: on MiniLM that halved the score error of per-tensor scales (benchmarks/onnx_accuracy.py) at the same
    speed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = output / f"{SPAN_SCORER}.int8.onnx"
    quantize_dynamic(output / f"{SPAN_SCORER}.onnx", target, weight_type=QuantType.QInt8, per_channel=True,
                     use_external_data_format=external_data)
    return {"span_scorer": target.name, "label_encoder": f"{LABEL_ENCODER}.onnx"}


def max_logit_difference(model: KoGNERModel, output: Path, graphs: dict[str, str]) -> float:
    """Largest ``|logit_onnx - logit_torch|`` on texts and labels of other sizes than the traced ones."""
    import numpy as np
    import onnxruntime

    batch, label_batch = example_inputs(model, CHECK_TEXTS, CHECK_LABELS)
    labels_session = onnxruntime.InferenceSession(str(output / graphs["label_encoder"]))
    spans_session = onnxruntime.InferenceSession(str(output / graphs["span_scorer"]))
    onnx_labels = labels_session.run(None, {key: value.numpy() for key, value in label_batch.items()})[0]
    feed = {key: value.numpy() for key, value in batch.items()}
    feed["label_embeddings"] = onnx_labels
    wanted = {node.name for node in spans_session.get_inputs()}
    onnx_logits = spans_session.run(None, {key: value for key, value in feed.items() if key in wanted})[0]
    with torch.no_grad():
        torch_labels = model.encode_labels(label_batch["label_input_ids"], label_batch["label_attention_mask"])
        torch_logits = model(**batch, label_embeddings=torch_labels).logits.numpy()
    return float(np.abs(onnx_logits - torch_logits).max())
