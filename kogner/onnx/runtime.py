"""KoGNER on ONNX Runtime: the graphs written by `export_onnx`, with KoGNER's own Python pre-processing and decoding.

Only the two forward passes run in ONNX Runtime. Everything around them — words, windows, batches, label prompts,
candidates, greedy decoding, sentence splitting, character offsets — is the code of `modeling_kogner` itself: the
class inherits `KoGNERPredictionMixin` and replaces only its ``window_probabilities``, so the same call gives the
same entities as the torch model, with scores within float rounding of torch's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from transformers import AutoConfig, AutoTokenizer

from modeling_kogner import KoGNERConfig
from modeling_kogner.prediction_kogner import KoGNERPredictionMixin
from modeling_kogner.processing_kogner import WordBatchEncoder, encoder_token_limit
from modeling_kogner.text_kogner import encode_label_prompts, label_prompts

from .export import METADATA_FILE


class KoGNERONNXModel(KoGNERPredictionMixin):
    """A KoGNER model exported with `export_onnx`, predicting through ONNX Runtime sessions on the CPU (or any
    execution provider given)."""

    def __init__(
        self,
        directory: str | Path,
        quantized: bool = False,
        providers: Sequence[str] | None = None,
        session_options: Any = None,
    ) -> None:
        import onnxruntime

        self.directory = Path(directory)
        metadata_file = self.directory / METADATA_FILE
        if not metadata_file.is_file():
            raise FileNotFoundError(
                f"{metadata_file} not found: {self.directory} is not an ONNX export; write one with "
                "`python data_scripts/export_onnx.py --model MODEL_DIR --out DIR`"
            )
        self.metadata = json.loads(metadata_file.read_text())
        variant = "int8" if quantized else "fp32"
        if variant not in self.metadata["graphs"]:
            raise ValueError(f"{self.directory} has no {variant} graphs; export it again with --quantize")
        graphs = self.metadata["graphs"][variant]
        self.config = KoGNERConfig.from_pretrained(self.directory)
        encoder_config = self.config.label_encoder_config or self.config.encoder_config
        self.encoder_config = _encoder_config(self.config.encoder_config)
        self.label_encoder_config = _encoder_config(encoder_config)
        self.tokenizer = AutoTokenizer.from_pretrained(self.directory, config=self.encoder_config)
        self.word_encoder = WordBatchEncoder(
            self.tokenizer,
            encoder_token_limit(self.tokenizer, self.encoder_config),
            self.config.max_words_per_window,
            self.config.window_stride,
        )
        providers = list(providers or ["CPUExecutionProvider"])
        self.span_session = onnxruntime.InferenceSession(
            str(self.directory / graphs["span_scorer"]), sess_options=session_options, providers=providers
        )
        self.label_session = onnxruntime.InferenceSession(
            str(self.directory / graphs["label_encoder"]), sess_options=session_options, providers=providers
        )
        self._span_inputs = {node.name for node in self.span_session.get_inputs()}
        self._label_cache: dict[tuple[str, ...], np.ndarray] = {}

    @classmethod
    def from_pretrained(cls, directory: str | Path, **kwargs: Any) -> "KoGNERONNXModel":
        """Load an export directory; ``quantized=True`` takes the int8 graphs."""
        return cls(directory, **kwargs)

    def label_vectors(self, labels: Sequence[str], label_descriptions: Mapping[str, str] | None = None) -> np.ndarray:
        """Label vectors ``[C, h]`` (as ``KoGNERModel.label_vectors``), cached per label prompt set."""
        prompts = label_prompts(labels, label_descriptions)
        key = tuple(prompts)
        if key not in self._label_cache:
            encoded = encode_label_prompts(
                self.tokenizer, labels, prompts, self.config.max_label_tokens,
                encoder_token_limit(self.tokenizer, self.label_encoder_config),
            )
            feed = {name: value.numpy() for name, value in encoded.items()}
            self._label_cache[key] = self.label_session.run(None, feed)[0]
        return self._label_cache[key]

    def window_probabilities(self, windows: Sequence[Any], label_embeddings: np.ndarray) -> torch.Tensor:
        """As ``KoGNERModel.window_probabilities``, with the forward pass in ONNX Runtime."""
        feed = {key: value.numpy() for key, value in self.word_encoder.collate(windows).items()}
        feed["label_embeddings"] = label_embeddings
        logits = self.span_session.run(None, {key: feed[key] for key in self._span_inputs})[0]
        return torch.sigmoid(torch.from_numpy(logits))


def _encoder_config(config_dict: dict[str, Any]) -> Any:
    values = {key: value for key, value in config_dict.items() if key not in ("model_type", "dtype", "torch_dtype")}
    return AutoConfig.for_model(config_dict["model_type"], **values)
