"""The long-text path of prediction: lone surrogates, pathological words, windowing work linear in the text."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from modeling_kogner import KoGNERModel
from modeling_kogner.processing_kogner import WordBatchEncoder, encodable_words, split_words
from test_decoding import python_lines_executed

LABELS = ["chemical", "disease"]


@pytest.fixture(scope="module")
def model(tiny_encoder_dir: Path) -> KoGNERModel:
    torch.manual_seed(0)
    return KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32).eval()


def test_a_lone_surrogate_in_the_text_is_read_as_a_replacement_character(model):
    text = "Aspirin \ud800 eased x\udfffy pain."
    entities = model.predict_entities(text, LABELS, threshold=0.0)
    assert entities and all(text[e["start"] : e["end"]] == e["text"] for e in entities)
    replaced = model.predict_entities(text.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd"), LABELS, 0.0)
    assert [(e["start"], e["end"], e["label"], e["score"]) for e in entities] == [
        (e["start"], e["end"], e["label"], e["score"]) for e in replaced
    ]
    assert encodable_words(["a", "b"]) == ["a", "b"]


def test_a_lone_surrogate_in_a_label_is_a_clear_error(model):
    with pytest.raises(ValueError, match=r"label #1 .*lone surrogate \(U\+DC00\)"):
        model.predict_entities("Aspirin.", ["chemical", "dis\udc00ease"])


def test_a_word_longer_than_a_window_is_cut_not_fatal(tiny_encoder_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_encoder_dir))
    encoder = WordBatchEncoder(tokenizer, max_tokens=12, max_words=8, stride=4)  # 10 content tokens per window
    words = ["aspirin", "b" * 60, "eased", "pain"]  # "bbb..." is 30 WordPiece sub-tokens
    windows = encoder.windows([words])
    assert all(len(window.token_ids) <= 12 for window in windows)
    covered = {window.word_offset + i for window in windows for i in range(window.num_words)}
    assert covered == set(range(len(words)))
    first = [tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in words]
    for window in windows:  # every word is still represented by its own first sub-token
        for i, position in enumerate(window.word_positions):
            assert window.token_ids[position] == first[window.word_offset + i]


def test_sub_token_ranges_tile_each_window_word_by_word(tiny_encoder_dir):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_encoder_dir))
    encoder = WordBatchEncoder(tokenizer, max_tokens=12, max_words=8, stride=4)
    words = ["acetylsalicylic", "acid", "b" * 60, "eased", "pain"]
    for window in encoder.windows([words]):
        ranges = [window.sub_token_range(i, i) for i in range(window.num_words)]
        assert ranges[0][0] == encoder.prefix_length and ranges[-1][1] == window.content_end
        assert window.content_end == len(window.token_ids) - len(encoder.suffix_ids)
        for (first, stop), (next_first, _) in zip(ranges, ranges[1:]):
            assert first < stop == next_first  # each word's sub-tokens, up to the next word's first one
        for i, (first, _) in enumerate(ranges):
            word = words[window.word_offset + i]
            assert window.token_ids[first] == tokenizer(word, add_special_tokens=False)["input_ids"][0]
        if window.num_words > 1:
            assert window.sub_token_range(0, window.num_words - 1) == (ranges[0][0], ranges[-1][1])


def test_a_megabyte_word_gives_a_result(model):
    text = "a" * 1_000_000 + " aspirin"
    entities = model.predict_entities(text, LABELS, threshold=0.0)
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)


def test_windowing_work_grows_linearly_with_the_text(model):
    words = [word for word, _, _ in split_words("Cisplatin-induced nephrotoxicity was reduced by amifostine . " * 40)]
    small, large = words * 2, words * 16  # 8x the words
    small_work = python_lines_executed(lambda: model.word_encoder.windows([small]))
    large_work = python_lines_executed(lambda: model.word_encoder.windows([large]))
    assert large_work / small_work < 8 * 1.25, (small_work, large_work)


def test_long_text_benchmark_helpers(model, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import long_text
    from modeling_kogner import prediction_kogner

    sentences = [{"tokens": ["Aspirin", "eased", "pain", "."]}, {"tokens": ["Lithium", "caused", "tremor", "."]}]
    text = long_text.corpus_text(sentences, 50)
    assert len(text) <= 50 and text.startswith("Aspirin eased pain . Lithium") and not text.endswith(" ")
    originals = [getattr(prediction_kogner, name) for name in long_text.DECODING]
    row = long_text.timed("tiny", lambda: model.predict_entities(text * 20, LABELS, 0.0), 100, repeats=1)
    assert row["entities"] > 0 and 0 < row["decode_share"] < 1 and row["decode_s"] > 0
    assert [getattr(prediction_kogner, name) for name in long_text.DECODING] == originals  # unwrapped again
