"""link=True reads the spans' linking queries from the prediction forward: one text-encoder pass per batch, the links
of a second pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from modeling_kogner import EntityIndex, KoGNERModel
from modeling_kogner.linking_kogner import add_links
from modeling_kogner.processing_kogner import split_words
from modeling_kogner.queries_kogner import SpanQueries

LABELS = ["disease", "chemical", "gene"]
SHORT = [
    "Aspirin reduced migraine in patients with BRCA1 mutations .",
    "Metformin and heparin were given for type 2 diabetes .",
    "TNF-alpha levels rose in rheumatoid arthritis",
    "No seizures were seen after valproate .",
    "",
]
LONG = " ".join(SHORT[:4] * 4)  # several windows of 24 words
NAMES = ["aspirin", "migraine", "BRCA1", "metformin", "heparin", "type 2 diabetes", "TNF-alpha", "rheumatoid arthritis",
         "seizure", "valproate", "patients", "mutations"]
TYPES = ["chemical", "disease", "gene", "chemical", "chemical", "disease", "gene", "disease", "phenotype", "chemical",
         "organism", "gene"]


def linkable_model(encoder_dir: Path, linking_query: str) -> KoGNERModel:
    """A tiny untrained model that links (its linking head marked fitted), with a small entity index."""
    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(encoder_dir), hidden_size=32, teacher_dim=12, distillation_dim=16,
                                     linking_query=linking_query, max_words_per_window=24, window_stride=16).eval()
    if model.linking_head is not None:
        model.linking_head.fitted.fill_(True)
    vectors = torch.randn(len(NAMES), 12, generator=torch.Generator().manual_seed(1))
    model.entity_index = EntityIndex([f"KG:{n}" for n in range(len(NAMES))], NAMES, vectors, TYPES)
    return model


def count_encoder_calls(model: KoGNERModel, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets the batch size of every call of the text encoder."""
    calls: list[int] = []
    forward = model.encoder.forward

    def counted(*args, **kwargs):
        calls.append(int(kwargs["input_ids"].shape[0]))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model.encoder, "forward", counted)
    return calls


@pytest.mark.parametrize("linking_query", ["mean_tokens", "span"])
def test_link_runs_the_text_encoder_once_per_batch(tiny_encoder_dir, monkeypatch, linking_query):
    model = linkable_model(tiny_encoder_dir, linking_query)
    texts = SHORT * 3
    model.label_vectors(LABELS)  # label vectors cached: the counted calls are the texts' batches
    calls = count_encoder_calls(model, monkeypatch)
    plain = model.batch_predict_entities(texts, LABELS, threshold=0.5, batch_size=4)
    plain_calls = list(calls)
    linked = model.batch_predict_entities(texts, LABELS, threshold=0.5, batch_size=4, link=True)
    windows = sum(1 for text in texts if text.strip())
    assert plain_calls == calls[: len(plain_calls)] and len(plain_calls) == math.ceil(windows / 4)
    assert calls[len(plain_calls):] == plain_calls  # link=True: the same batches, no second pass
    assert sum(map(len, linked)) > 0 and all("kg_id" in entity for found in linked for entity in found)
    assert [[e["text"] for e in found] for found in linked] == [[e["text"] for e in found] for found in plain]


@pytest.mark.parametrize("linking_query", ["mean_tokens", "span"])
def test_links_from_the_prediction_forward_equal_those_of_a_second_pass(tiny_encoder_dir, linking_query):
    model = linkable_model(tiny_encoder_dir, linking_query)
    texts = [LONG, *SHORT]
    linked = model.batch_predict_entities(texts, LABELS, threshold=0.5, batch_size=3, link=True)
    batch_words = [[word for word, _, _ in split_words(text)] for text in texts]
    queries = SpanQueries(model)
    spans = model.predict_word_spans(batch_words, LABELS, 0.5, batch_size=3, span_queries=queries)
    short_spans = [(text, span.start, span.end) for text, found in enumerate(spans) if text > 0 for span in found]
    assert len(model.word_encoder.windows([batch_words[0]])) > 1 and spans[0] and short_spans
    assert all(queries.get(*span) is not None for span in short_spans)  # single-window texts: all read in the pass
    assert queries.batches_read == math.ceil(len(model.word_encoder.windows(batch_words)) / 3)
    again = model.batch_predict_entities(texts, LABELS, threshold=0.5, batch_size=3)
    add_links(model, batch_words, spans, again, batch_size=3)  # no span_queries: every span encoded again
    assert [[(e["start"], e["kg_id"], e["link_match"]) for e in found] for found in linked] == \
        [[(e["start"], e["kg_id"], e["link_match"]) for e in found] for found in again]
    scores = [e["link_score"] for found in linked for e in found if e["link_score"] is not None]
    assert scores == pytest.approx([e["link_score"] for found in again for e in found
                                    if e["link_score"] is not None], abs=2e-4)
