"""Sentence splitting of long inputs (offsets stay in the original text) and label descriptions in the prompt."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from comparisons import assert_same_batches
from modeling_kogner import KoGNERModel
from modeling_kogner.text_kogner import label_prompts, sentence_spans

LABELS = ["drug", "disease"]
ABSTRACT = (
    "  Famotidine-associated delirium. A series of six cases.\n"
    "Patients (mean age 71.5 yrs) received 20 mg i.v. b.i.d. vs. placebo (Smith et al. 1999; Fig. 2A). "
    "Ünïcode 🙂 5-fluorouracil – toxicity was seen in BRCA1 carriers, e.g. in rats.  "
)


@pytest.fixture(scope="module")
def model(tiny_encoder_dir: Path) -> KoGNERModel:
    torch.manual_seed(0)
    return KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, dropout=0.1).eval()


def test_sentences_of_a_biomedical_abstract():
    spans = sentence_spans(ABSTRACT)
    sentences = [ABSTRACT[start:end] for start, end in spans]
    assert sentences == [
        "Famotidine-associated delirium.",
        "A series of six cases.",
        "Patients (mean age 71.5 yrs) received 20 mg i.v. b.i.d. vs. placebo (Smith et al. 1999; Fig. 2A).",
        "Ünïcode 🙂 5-fluorouracil – toxicity was seen in BRCA1 carriers, e.g. in rats.",
    ]
    covered = {position for start, end in spans for position in range(start, end)}
    assert all(position in covered for position, char in enumerate(ABSTRACT) if not char.isspace())


@pytest.mark.parametrize("text", ["", "   \n", "no final stop", "One. Two! Three?"])
def test_sentence_spans_of_short_and_odd_texts(text):
    spans = sentence_spans(text)
    assert "".join(text[start:end] for start, end in spans).replace(" ", "") == "".join(text.split())
    assert all(text[start:end] == text[start:end].strip() and end > start for start, end in spans)


@pytest.mark.parametrize("split", [False, True])
def test_offsets_point_into_the_original_text(model, split):
    entities = model.predict_entities(ABSTRACT, LABELS, threshold=0.0, split_sentences=split)
    assert len(entities) > 10
    for entity in entities:
        assert ABSTRACT[entity["start"] : entity["end"]] == entity["text"]
    assert [entity["start"] for entity in entities] == sorted(entity["start"] for entity in entities)


def test_splitting_predicts_each_sentence_on_its_own(model):
    found = model.predict_entities(ABSTRACT, LABELS, threshold=0.2, split_sentences=True)
    expected = []
    for start, end in sentence_spans(ABSTRACT):
        for entity in model.predict_entities(ABSTRACT[start:end], LABELS, threshold=0.2):
            expected.append((entity["start"] + start, entity["end"] + start, entity["label"], entity["score"]))
    assert [(e["start"], e["end"], e["label"]) for e in found] == [item[:3] for item in expected]
    assert [e["score"] for e in found] == pytest.approx([item[3] for item in expected], abs=1e-5)
    for start, end in sentence_spans(ABSTRACT):  # no entity crosses a sentence boundary
        assert all(e["end"] <= start or e["start"] >= start and e["end"] <= end or e["start"] >= end for e in found)


def test_batch_with_split_sentences_keeps_texts_apart(model):
    texts = [ABSTRACT, "", "Aspirin treats fever. Reye syndrome follows."]
    batch = model.batch_predict_entities(texts, LABELS, threshold=0.2, split_sentences=True)
    assert batch[1] == []
    assert sum(map(len, batch)) > 0  # the comparison is not vacuous
    assert_same_batches(batch, [model.predict_entities(text, LABELS, threshold=0.2, split_sentences=True)
                                for text in texts])


def test_split_sentences_checks_its_arguments_even_without_text(model):
    with pytest.raises(ValueError, match="threshold"):
        model.batch_predict_entities([""], LABELS, threshold=2.0, split_sentences=True)


def test_missing_splitter_raises_a_clear_import_error(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "pysbd", None)
    with pytest.raises(ImportError, match="pip install pysbd"):
        model.predict_entities(ABSTRACT, LABELS, split_sentences=True)
    assert isinstance(model.predict_entities(ABSTRACT, LABELS), list)  # the default needs no splitter


def test_remote_code_imports_only_torch_and_transformers():
    from transformers.dynamic_module_utils import get_imports

    import modeling_kogner

    folder = Path(modeling_kogner.__file__).parent
    for name in ("modeling_kogner.py", "text_kogner.py"):
        third_party = set(get_imports(folder / name)) - set(sys.stdlib_module_names)
        assert third_party <= {"torch", "transformers"}, (name, third_party)


# ------------------------------------------------------------------------------------------- label descriptions
DISEASE = "a disorder of structure or function in a human, animal, or plant"


def test_label_prompts_are_gliner_style():
    assert label_prompts(LABELS, {"disease": f"  {DISEASE}\n"}) == ["drug", f"disease: {DISEASE}"]
    assert label_prompts(LABELS, None) == LABELS


def test_a_description_changes_what_the_label_encoder_reads(model, monkeypatch):
    read: list[list[str]] = []
    original = model.encode_labels

    def spy(label_input_ids, label_attention_mask):
        read.extend(model.tokenizer.batch_decode(label_input_ids, skip_special_tokens=True))
        return original(label_input_ids, label_attention_mask)

    monkeypatch.setattr(model, "encode_labels", spy)
    model._label_cache.clear()  # earlier tests predicted with these labels: their vectors are cached
    plain = model.label_vectors(LABELS)
    described = model.label_vectors(LABELS, {"disease": DISEASE})
    assert read == ["drug", "disease", "drug", f"disease : {DISEASE}"]
    assert torch.allclose(plain[0], described[0], atol=1e-5) and not torch.allclose(plain[1], described[1], atol=1e-2)


def test_entities_carry_the_bare_label_name(model):
    text = "Cisplatin causes nephrotoxicity in rats."
    plain = model.predict_entities(text, LABELS, threshold=0.0)
    described = model.predict_entities(text, LABELS, threshold=0.0, label_descriptions={"disease": DISEASE})
    as_mapping = model.predict_entities(text, {"drug": None, "disease": DISEASE}, threshold=0.0)
    assert described == as_mapping
    assert {entity["label"] for entity in described} <= set(LABELS)
    assert [e["score"] for e in plain] != [e["score"] for e in described]


def test_descriptions_may_be_longer_than_a_label_name(model):
    long = " ".join(["a disorder of structure or function"] * 6)  # ~36 tokens > max_label_tokens (16)
    assert isinstance(model.predict_entities("Aspirin.", LABELS, label_descriptions={"disease": long}), list)
    with pytest.raises(ValueError, match="with its description has .* tokens"):
        model.predict_entities("Aspirin.", LABELS, label_descriptions={"disease": "word " * 600})


@pytest.mark.parametrize("descriptions, message", [
    ({"gene": "a gene"}, "not asked for: \\['gene'\\]"),
    ({"disease": "  "}, "description of label 'disease' must be a non-empty string"),
    ({"disease": 3}, "description of label 'disease'"),
    (["disease"], "label_descriptions must be a mapping"),
])
def test_bad_descriptions_raise(model, descriptions, message):
    with pytest.raises(ValueError, match=message):
        model.predict_entities("Aspirin.", LABELS, label_descriptions=descriptions)
