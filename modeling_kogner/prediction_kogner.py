"""The prediction API of KoGNER models: words or texts + entity types -> decoded entities with offsets."""

from __future__ import annotations

from collections import Counter
from contextlib import nullcontext
from typing import Any, Mapping, Sequence

import torch

from .decoding_kogner import SpanCandidate, batch_candidates, greedy_decode, merge_candidates
from .linking_kogner import add_links, check_linkable
from .processing_kogner import check_threshold, normalize_labels, split_words
from .queries_kogner import SpanQueries
from .text_kogner import predict_by_sentence, resolve_label_descriptions


class KoGNERPredictionMixin:
    """``predict_word_spans``, ``batch_predict_entities`` and ``predict_entities`` for [`KoGNERModel`].

    Needs from the model: ``config`` (``threshold``, ``max_width``), ``word_encoder``, ``label_vectors`` and, for
    the default ``window_probabilities``, ``device`` and ``forward`` with ``label_embeddings``.
    """

    def window_probabilities(self, windows: Sequence[Any], label_embeddings: Any) -> torch.Tensor:
        """Span×label probabilities ``[len(windows), N * max_width, C]`` of a batch of word windows (the one step
        an inference backend, e.g. ONNX Runtime, replaces)."""
        batch = {key: value.to(self.device) for key, value in self.word_encoder.collate(windows).items()}
        return torch.sigmoid(self(**batch, label_embeddings=label_embeddings).logits)

    @torch.no_grad()
    def predict_word_spans(
        self,
        batch_words: Sequence[Sequence[str]],
        labels: Sequence[str],
        threshold: float | None = None,
        flat_ner: bool = True,
        multi_label: bool = False,
        batch_size: int = 8,
        label_descriptions: Mapping[str, str] | None = None,
        span_queries: SpanQueries | None = None,
    ) -> list[list[SpanCandidate]]:
        """Decoded spans ``(start, end, label index, score)`` (word indices, end inclusive) for pre-split texts.

        ``labels`` must already be normalized (see ``normalize_labels``). Texts longer than one window are cut into
        overlapping windows whose candidates are merged before decoding; a text is decoded as soon as its last
        window has been scored. ``label_descriptions``: see ``label_vectors``. ``span_queries``: receives the
        linking queries of the decoded spans from this call's own forward passes (``link=True``).
        """
        threshold = check_threshold(self.config.threshold if threshold is None else threshold)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        was_training = getattr(self, "training", False)
        if was_training:
            self.eval()
        try:
            label_embeddings = self.label_vectors(labels, label_descriptions)
            windows = self.word_encoder.windows(batch_words)
            if span_queries is not None:
                span_queries.plan(windows)
            windows.sort(key=lambda window: len(window.token_ids))  # less padding per batch
            remaining = Counter(window.example_index for window in windows)
            candidates: list[list[SpanCandidate]] = [[] for _ in batch_words]
            decoded: list[list[SpanCandidate]] = [[] for _ in batch_words]
            with span_queries.capture() if span_queries is not None else nullcontext():
                for first in range(0, len(windows), batch_size):
                    chunk = windows[first : first + batch_size]
                    found = batch_candidates(
                        self.window_probabilities(chunk, label_embeddings),
                        [window.num_words for window in chunk],
                        self.config.max_width,
                        threshold,
                        [window.word_offset for window in chunk],
                        best_label_only=not multi_label,
                    )
                    finished = []
                    for window, window_found in zip(chunk, found):
                        text = window.example_index
                        candidates[text].extend(window_found)
                        remaining[text] -= 1
                        if not remaining[text]:
                            decoded[text] = greedy_decode(merge_candidates(candidates[text]), flat_ner, multi_label)
                            candidates[text] = []
                            finished.append(text)
                    if span_queries is not None:  # a finished text's decoded spans, or the window's candidates
                        span_queries.add(chunk, [decoded[window.example_index] if not remaining[window.example_index]
                                                 else window_found for window, window_found in zip(chunk, found)])
                        for text in finished:
                            span_queries.keep(text, decoded[text])
        finally:
            if was_training:
                self.train(True)
        return decoded

    def batch_predict_entities(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        threshold: float | None = None,
        flat_ner: bool = True,
        multi_label: bool = False,
        batch_size: int = 8,
        split_sentences: bool = False,
        label_descriptions: Mapping[str, str] | None = None,
        link: bool = False,
    ) -> list[list[dict[str, Any]]]:
        """Find entities of the given types in each text.

        Returns, per text, ``[{"start", "end", "text", "label", "score"}]`` with character offsets into that text
        (``text[start:end] == entity["text"]``), sorted by position. Long texts are processed whole, in
        overlapping windows; empty or whitespace-only texts give ``[]``.

        ``split_sentences=True`` predicts on each sentence separately (split by ``pysbd``, which must then be
        installed) and maps the offsets back into the text; entities then never cross a sentence boundary.
        ``labels`` may also be a mapping ``{name: description or None}``, or descriptions may come as
        ``label_descriptions={name: description}``: a described label is encoded as ``"name: description"``
        (GLiNER-style); entities still carry the bare name.

        ``link=True`` adds ``kg_id``, ``kg_name`` and ``link_score`` to each entity: the KG entity of the model's
        entity index nearest (cosine) to the span in the distillation space (see ``linking_kogner``). The spans'
        linking queries come from the encoder pass that found them (`queries_kogner.SpanQueries`): linking adds
        no second pass of the text encoder over the texts.

        Raises:
            ValueError: no labels, an empty or non-string label, a description for a label not asked for, or a
                threshold outside [0, 1]; ``link=True`` on a model without an entity index.
            ImportError: ``split_sentences=True`` without ``pysbd``.
        """
        if link:
            check_linkable(self)
        if isinstance(texts, str):
            raise ValueError("batch_predict_entities takes a list of texts; use predict_entities for one text")
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"text #{position} must be a string, got {type(text).__name__}")
        labels, label_descriptions = resolve_label_descriptions(labels, label_descriptions)
        labels = normalize_labels(labels)
        if split_sentences:
            return predict_by_sentence(
                self.batch_predict_entities, texts, labels=labels, threshold=threshold, flat_ner=flat_ner,
                multi_label=multi_label, batch_size=batch_size, label_descriptions=label_descriptions, link=link,
            )
        words_per_text = [split_words(text) for text in texts]
        batch_words = [[word for word, _, _ in words] for words in words_per_text]
        span_queries = SpanQueries(self) if link else None
        spans_per_text = self.predict_word_spans(
            batch_words, labels, threshold, flat_ner, multi_label, batch_size, label_descriptions, span_queries
        )
        entities = [
            self._entities(text, words, spans, labels)
            for text, words, spans in zip(texts, words_per_text, spans_per_text)
        ]
        if link:
            add_links(self, batch_words, spans_per_text, entities, batch_size, span_queries)
        return entities

    def predict_entities(
        self,
        text: str,
        labels: Sequence[str],
        threshold: float | None = None,
        flat_ner: bool = True,
        multi_label: bool = False,
        split_sentences: bool = False,
        label_descriptions: Mapping[str, str] | None = None,
        link: bool = False,
    ) -> list[dict[str, Any]]:
        """Entities of the given types in one text; see [`batch_predict_entities`]. Empty text gives ``[]``."""
        return self.batch_predict_entities(
            [text], labels, threshold, flat_ner, multi_label, batch_size=8 if split_sentences else 1,
            split_sentences=split_sentences, label_descriptions=label_descriptions, link=link,
        )[0]

    @staticmethod
    def _entities(
        text: str, words: list[tuple[str, int, int]], spans: list[SpanCandidate], labels: list[str]
    ) -> list[dict[str, Any]]:
        entities = []
        for span in spans:
            start, end = words[span.start][1], words[span.end][2]
            entities.append(
                {"start": start, "end": end, "text": text[start:end], "label": labels[span.label], "score": span.score}
            )
        return entities
