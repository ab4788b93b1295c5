"""KoGNER: a GLiNER-style span/label bi-encoder with a knowledge-graph distillation head (KoGNER paper, §2.1–2.3).

Words -> encoder -> span vectors ``FFN([x_p; x_q])`` for spans up to ``max_width`` words; entity-type names ->
label encoder (mean-pooled) -> FFN; score = sigmoid(span · label). Training adds, for spans linked to KG entities,
``MSE(MLP_span(span), MLP_dist(H))`` against the teacher vectors ``H = [Z, Z', Z'']``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_kogner import KoGNERConfig
from .encoders_kogner import build_encoder, load_tokenizer, warn_if_emulated_half_precision
from .layers_kogner import (
    DistillationHead, FeedForward, LinkingHead, SpanRepresentation, TeacherProjection, first_sub_tokens
)
from .losses_kogner import LossSettings, contrastive_distillation_loss, distillation_loss, span_label_loss
from .prediction_kogner import KoGNERPredictionMixin
from .linking_kogner import EntityIndex
from .processing_kogner import WordBatchEncoder, encoder_token_limit
from .text_kogner import encode_label_prompts, label_prompts


@dataclass
class KoGNEROutput(ModelOutput):
    """Output of [`KoGNERModel.forward`].

    Attributes:
        loss: ``model.loss_settings.combine(lang_loss, dist_loss)``, i.e. ``a * lang_loss + b * dist_loss`` (when
            targets were given).
        lang_loss: span×label binary cross-entropy, mean over the pairs that count (``span_mask`` × ``label_mask``).
        dist_loss: distillation loss (MSE or contrastive: ``loss_settings.distillation_loss``), mean over the KG-linked
            spans; exactly 0 when the batch has none.
        logits: ``[B, N * max_width, C]`` span·label scores (before the sigmoid).
        span_mask: ``[B, N * max_width]`` True for spans that lie inside the text.
    """

    loss: torch.Tensor | None = None
    lang_loss: torch.Tensor | None = None
    dist_loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    span_mask: torch.Tensor | None = None


class KoGNERPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading glue shared by KoGNER models."""

    config_class = KoGNERConfig
    base_model_prefix = "kogner"
    _no_split_modules = ["SpanRepresentation", "FeedForward", "DistillationHead", "LinkingHead"]

    def _init_weights(self, module: nn.Module) -> None:
        # Only KoGNER's own heads come here; the encoders are PreTrainedModels with their own _init_weights.
        if isinstance(module, TeacherProjection):
            # Unit-scale random projection: keeps the geometry and the scale of H in the distillation space.
            nn.init.normal_(module.weight, mean=0.0, std=1.0 / math.sqrt(module.in_features))
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class KoGNERModel(KoGNERPredictionMixin, KoGNERPreTrainedModel):
    """KoGNER span/label bi-encoder with an optional KG-distillation head.

    Use [`KoGNERModel.from_encoder`] to start from any Hugging Face encoder, `from_pretrained` to load a trained
    model (with ``trust_remote_code=True`` through ``AutoModel``), and [`predict_entities`] for inference.
    """

    def __init__(self, config: KoGNERConfig) -> None:
        super().__init__(config)
        if config.encoder_config is None:
            raise ValueError("KoGNERConfig.encoder_config is required; use KoGNERModel.from_encoder(name_or_path)")
        self.encoder = build_encoder(config.encoder_config)
        word_dim = self.encoder.config.hidden_size
        if config.label_encoder == "separate":
            self.label_encoder = build_encoder(config.label_encoder_config or config.encoder_config)
            label_dim = self.label_encoder.config.hidden_size
        else:
            self.label_encoder = None
            label_dim = word_dim
        self.word_dropout = nn.Dropout(config.dropout)
        self.span_representation = SpanRepresentation(word_dim, config.hidden_size, config.max_width, config.dropout)
        self.label_projection = FeedForward(label_dim, config.hidden_size, config.dropout)
        if config.teacher_dim > 0:
            self.distillation_head = DistillationHead(config.hidden_size, config.teacher_dim, config.distillation_dim)
        else:
            self.distillation_head = None
        if config.teacher_dim > 0 and config.linking_query == "mean_tokens":
            self.linking_head = LinkingHead(word_dim, config.teacher_dim, config.distillation_dim)
        else:
            self.linking_head = None
        self._tokenizer: Any = None
        self._word_encoder: WordBatchEncoder | None = None
        self._label_cache: dict[tuple[str, ...], torch.Tensor] = {}
        self.entity_index: EntityIndex | None = None  # KG entities for link=True (saved with the weights)
        self.loss_settings = LossSettings()
        self.post_init()

    @property
    def loss_settings(self) -> LossSettings:
        """The training objective used by ``forward`` when targets are given (training only; not saved)."""
        return self._loss_settings

    @loss_settings.setter
    def loss_settings(self, settings: LossSettings) -> None:
        """Set the objective; ``MLP_dist`` is trainable unless ``settings.freeze_teacher_projection``."""
        if not isinstance(settings, LossSettings):
            raise TypeError(f"loss_settings must be a LossSettings, got {type(settings).__name__}")
        self._loss_settings = settings
        if self.distillation_head is not None:
            self.distillation_head.teacher_projection.requires_grad_(not settings.freeze_teacher_projection)

    # ----------------------------------------------------------------------------------------------- construction
    @classmethod
    def from_encoder(
        cls, encoder_name_or_path: str, tokenizer_name_or_path: str | None = None, **config_kwargs: Any
    ) -> "KoGNERModel":
        """Start a new KoGNER model from a pretrained Hugging Face encoder (local directory or Hub id).

        The span/label heads are freshly initialised; ``config_kwargs`` go to [`KoGNERConfig`].
        """
        pretrained = AutoModel.from_pretrained(encoder_name_or_path)
        config = KoGNERConfig(encoder_config=pretrained.config.to_dict(), **config_kwargs)
        model = cls(config)
        weights = {key: value for key, value in pretrained.state_dict().items() if not key.startswith("pooler.")}
        model.encoder.load_state_dict(weights)
        if model.label_encoder is not None and config.label_encoder_config is None:
            model.label_encoder.load_state_dict(weights)
        model.tokenizer = AutoTokenizer.from_pretrained(tokenizer_name_or_path or encoder_name_or_path)
        return model

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> "KoGNERModel":
        """``PreTrainedModel.from_pretrained``: ``dtype``/``torch_dtype`` (e.g. ``torch.bfloat16``) and ``device_map``
        apply to the whole model, encoders included.

        bfloat16/float16 on a CPU without native support for them still work (PyTorch emulates them) but run slower
        than float32; a warning says so.
        """
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # (model, loading_info) with output_loading_info
        warn_if_emulated_half_precision(model)
        source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        model.entity_index = EntityIndex.find(source, **kwargs)  # None when the model has no saved index
        return loaded

    @property
    def tokenizer(self) -> Any:
        """The tokenizer saved with the model (loaded on first use from where the model came from)."""
        if self._tokenizer is None:
            source = self.config._name_or_path or getattr(self, "name_or_path", "")
            if not source:
                raise ValueError("this model has no tokenizer; set model.tokenizer = AutoTokenizer.from_pretrained(...)")
            self._tokenizer = load_tokenizer(source, self.encoder.config)
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._word_encoder = None
        self._label_cache.clear()

    @property
    def word_encoder(self) -> WordBatchEncoder:
        """Turns word lists into windows and padded batches that fit this model's encoder."""
        if self._word_encoder is None:
            max_tokens = encoder_token_limit(self.tokenizer, self.encoder.config)
            self._word_encoder = WordBatchEncoder(
                self.tokenizer, max_tokens, self.config.max_words_per_window, self.config.window_stride
            )
        return self._word_encoder

    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        """Save weights, config, the remote code (model and pipeline) and, when known, the tokenizer.

        The tokenizer is saved as its standard class (``tokenizer_class`` in ``tokenizer_config.json``, no
        ``auto_map``), so ``AutoTokenizer.from_pretrained(directory)`` needs no remote code. The relative import
        below makes ``save_pretrained`` copy ``pipeline_kogner.py``, which ``config.custom_pipelines`` names.
        """
        from .pipeline_kogner import KoGNERPipeline  # noqa: F401  (copied next to the weights with this file)

        result = super().save_pretrained(save_directory, *args, **kwargs)
        if self._tokenizer is not None or self.config._name_or_path:
            self.tokenizer.save_pretrained(save_directory)
        if self.entity_index is not None and kwargs.get("is_main_process", True):
            self.entity_index.save(save_directory)
        return result

    def train(self, mode: bool = True) -> "KoGNERModel":
        if mode:  # cached label vectors are stale once weights may change; eval() after predicting keeps them
            self._label_cache.clear()
        return super().train(mode)

    # --------------------------------------------------------------------------------------------------- forward
    def encode_words(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, word_index: torch.Tensor
    ) -> torch.Tensor:
        """Encoder output at each word's first sub-token: ``[B, T]`` ids -> ``[B, N, d]`` word vectors."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.word_dropout(first_sub_tokens(hidden, word_index))

    def encode_labels(self, label_input_ids: torch.Tensor, label_attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled label-encoder output through the label FFN: ``[C, L]`` ids -> ``[C, h]``."""
        encoder = self.label_encoder if self.label_encoder is not None else self.encoder
        hidden = encoder(input_ids=label_input_ids, attention_mask=label_attention_mask).last_hidden_state
        mask = label_attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.label_projection(pooled)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_mask: torch.Tensor,
        label_input_ids: torch.Tensor | None = None,
        label_attention_mask: torch.Tensor | None = None,
        label_embeddings: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        label_mask: torch.Tensor | None = None,
        distill_index: torch.Tensor | None = None,
        teacher_vectors: torch.Tensor | None = None,
        negative_teacher_vectors: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> KoGNEROutput:
        r"""Score every span of every window against every entity type.

        Args:
            input_ids, attention_mask: ``[B, T]`` encoder inputs of ``B`` windows.
            word_index: ``[B, N]`` position of each word's first sub-token; ``word_mask``: ``[B, N]`` real words.
            label_input_ids, label_attention_mask: ``[C, L]`` tokenized entity-type names, or instead
            label_embeddings: ``[C, h]`` precomputed label vectors (see ``label_vectors``).
            labels: ``[B, N * max_width, C]`` multi-hot gold targets; enables the losses.
            label_mask: ``[B, C]`` bool, which types count for each window's loss (default: all): the types the
                window's source annotates; other span×label pairs are left out of the mean BCE.
            distill_index: ``[K, 2]`` (window row, flat span index) of spans linked to KG entities.
            teacher_vectors: ``[K, teacher_dim]`` teacher vectors ``H`` of those entities.
            negative_teacher_vectors: ``[N, teacher_dim]`` teacher vectors of sampled entities, extra negatives of
                the contrastive distillation loss (ignored by the MSE).
        """
        words = self.encode_words(input_ids, attention_mask, word_index)
        spans, span_mask = self.span_representation(words, word_mask.bool())
        if label_embeddings is None:
            if label_input_ids is None or label_attention_mask is None:
                raise ValueError("pass label_input_ids and label_attention_mask, or label_embeddings")
            label_embeddings = self.encode_labels(label_input_ids, label_attention_mask)
        logits = torch.einsum("bsh,ch->bsc", spans, label_embeddings)
        if labels is None:
            return KoGNEROutput(logits=logits, span_mask=span_mask)

        pair_mask = span_mask.unsqueeze(-1).expand_as(logits)
        if label_mask is not None:
            pair_mask = pair_mask & label_mask.bool().unsqueeze(1)
        settings = self.loss_settings
        targets = labels.to(logits.dtype)
        lang_loss = span_label_loss(logits, targets, pair_mask, settings.focal_alpha, settings.focal_gamma)
        dist_loss = self._distillation_loss(spans, distill_index, teacher_vectors, negative_teacher_vectors)
        loss = settings.combine(lang_loss, dist_loss)
        return KoGNEROutput(loss=loss, lang_loss=lang_loss, dist_loss=dist_loss, logits=logits, span_mask=span_mask)

    def _distillation_loss(
        self,
        spans: torch.Tensor,
        distill_index: torch.Tensor | None,
        teacher_vectors: torch.Tensor | None,
        negative_teacher_vectors: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.distillation_head is None:
            if teacher_vectors is not None and teacher_vectors.numel() > 0:
                raise ValueError("teacher vectors were given but the model has no distillation head (teacher_dim=0)")
            return spans.new_zeros(())
        if distill_index is None or teacher_vectors is None:
            distill_index = spans.new_zeros((0, 2), dtype=torch.long)
            teacher_vectors = spans.new_zeros((0, self.config.teacher_dim))
        for name, vectors in (("teacher", teacher_vectors), ("negative teacher", negative_teacher_vectors)):
            if vectors is not None and vectors.shape[-1] != self.config.teacher_dim:
                raise ValueError(f"{name} vectors have size {vectors.shape[-1]}, the model expects teacher_dim="
                                 f"{self.config.teacher_dim}")
        linked_spans = spans[distill_index[:, 0], distill_index[:, 1]]
        if self.loss_settings.distillation_loss == "mse":
            student, teacher = self.distillation_head(linked_spans, teacher_vectors)
            return distillation_loss(student, teacher)
        # contrastive: the linked entities of the batch, then the sampled ones, as candidates for every span
        raw = teacher_vectors if negative_teacher_vectors is None else torch.cat(
            [teacher_vectors, negative_teacher_vectors.to(teacher_vectors.dtype)])
        student, candidates = self.distillation_head(linked_spans, raw)
        excluded = (raw[None, :, :] == teacher_vectors[:, None, :]).all(dim=-1)  # [K, C]: the same entity again
        excluded.fill_diagonal_(False)
        temperature = self.loss_settings.distillation_temperature
        return contrastive_distillation_loss(student, candidates, excluded, temperature)

    # ------------------------------------------------------------------------------------------------- inference
    def label_vectors(
        self, labels: Sequence[str], label_descriptions: Mapping[str, str] | None = None
    ) -> torch.Tensor:
        """Label vectors ``[C, h]`` for entity-type names, cached per label set while the model is in eval mode.

        A label with a description is encoded as the prompt ``"name: description"`` (see ``label_prompts``).
        """
        prompts = label_prompts(labels, label_descriptions)
        key = tuple(prompts)
        cached = self._label_cache.get(key)
        if cached is not None and not self.training:
            return cached
        label_encoder_config = (self.label_encoder or self.encoder).config
        encoded = encode_label_prompts(
            self.tokenizer, labels, prompts, self.config.max_label_tokens,
            encoder_token_limit(self.tokenizer, label_encoder_config),
        )
        vectors = self.encode_labels(
            encoded["label_input_ids"].to(self.device), encoded["label_attention_mask"].to(self.device)
        )
        if not self.training:
            self._label_cache[key] = vectors
        return vectors


KoGNERConfig.register_for_auto_class()
KoGNERModel.register_for_auto_class("AutoModel")
