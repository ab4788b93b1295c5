"""ONNX export and ONNX Runtime inference: same entities as torch, int8 copies, clear errors for missing heads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kogner.onnx import KoGNERONNXModel, check_heads, export_onnx  # onnxruntime and onnxscript: required dependencies
from modeling_kogner import KoGNERModel

LABELS = ["drug", "disease"]
TEXTS = [
    "Cisplatin-induced nephrotoxicity was observed in BRCA1 carriers.",
    "Aspirin treats fever. Reye syndrome follows aspirin use in children (e.g. after influenza).",
    "",
    "Lithium",
    " ".join(["Tamoxifen reduced the recurrence of breast cancer in women ."] * 30),  # several windows
    "Ünïcode: 5-fluorouracil – 🙂 toxicity",
]


def tiny_model(encoder_dir: Path) -> KoGNERModel:
    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(encoder_dir), hidden_size=32, dropout=0.1, max_words_per_window=24,
                                     window_stride=16)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tiny_encoder_dir, tmp_path_factory):
    model = tiny_model(tiny_encoder_dir)
    directory = tmp_path_factory.mktemp("onnx")
    metadata = export_onnx(model, directory, quantize=True)
    return model, directory, metadata


def spans(entities):
    return [(entity["start"], entity["end"], entity["label"]) for entity in entities]


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    {},
    {"flat_ner": False, "multi_label": True},
    {"split_sentences": True},
    {"label_descriptions": {"drug": "a chemical given as medicine"}},
])
def test_onnx_runtime_gives_the_same_entities_as_torch(exported, options):
    model, directory, _ = exported
    onnx_model = KoGNERONNXModel.from_pretrained(directory)
    for batch_size in (1, 4):
        expected = model.batch_predict_entities(TEXTS, LABELS, threshold=0.3, batch_size=batch_size, **options)
        found = onnx_model.batch_predict_entities(TEXTS, LABELS, threshold=0.3, batch_size=batch_size, **options)
        assert sum(map(len, expected)) > 10  # the comparison is not vacuous
        for torch_entities, onnx_entities in zip(expected, found):
            assert spans(onnx_entities) == spans(torch_entities)
            for a, b in zip(torch_entities, onnx_entities):
                assert abs(a["score"] - b["score"]) < 1e-4
    assert onnx_model.predict_entities(TEXTS[0], LABELS, 0.3) == [
        dict(entity, score=pytest.approx(entity["score"], abs=1e-4))
        for entity in model.predict_entities(TEXTS[0], LABELS, 0.3)
    ]


@pytest.mark.slow
def test_export_writes_a_self_contained_folder(exported):
    _, directory, metadata = exported
    assert metadata["max_logit_difference_to_torch"] < 1e-4
    saved = json.loads((directory / "onnx_export.json").read_text())
    for variant in ("fp32", "int8"):
        for file_name in saved["graphs"][variant].values():
            assert (directory / file_name).is_file()
    assert (directory / "config.json").is_file() and (directory / "tokenizer_config.json").is_file()


@pytest.mark.slow
def test_int8_span_scorer_is_smaller_and_predicts_valid_entities(exported):
    _, directory, metadata = exported
    graphs = metadata["graphs"]
    assert graphs["int8"]["label_encoder"] == graphs["fp32"]["label_encoder"]  # label vectors stay float32
    fp32_size = (directory / graphs["fp32"]["span_scorer"]).stat().st_size
    assert (directory / graphs["int8"]["span_scorer"]).stat().st_size < 0.5 * fp32_size
    int8 = KoGNERONNXModel.from_pretrained(directory, quantized=True)
    found = int8.batch_predict_entities(TEXTS, LABELS, threshold=0.3)
    assert sum(map(len, found)) > 10
    for text, entities in zip(TEXTS, found):
        assert all(text[entity["start"] : entity["end"]] == entity["text"] for entity in entities)
    # Agreement with the float32 graphs is measured on a dev split by benchmarks/onnx_accuracy.py, not here: the
    # tiny random encoder says nothing about a trained model's sensitivity to int8 rounding.


def test_export_of_a_bare_encoder_names_the_missing_heads(tiny_encoder_dir, tmp_path):
    with pytest.raises(ValueError, match="span_representation and label_projection"):
        export_onnx(tiny_encoder_dir, tmp_path / "out")


def test_export_of_weights_without_a_head_names_it(tiny_encoder_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    model = tiny_model(tiny_encoder_dir)
    model.save_pretrained(tmp_path / "model")
    weights_file = tmp_path / "model" / "model.safetensors"
    weights = load_file(weights_file)
    save_file({key: value for key, value in weights.items() if not key.startswith("label_projection.")},
              weights_file, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="weights have no label_projection"):
        export_onnx(tmp_path / "model", tmp_path / "out")


def test_a_model_missing_a_module_is_refused(tiny_encoder_dir):
    model = tiny_model(tiny_encoder_dir)
    model.span_representation = None
    with pytest.raises(ValueError, match="has no span_representation"):
        check_heads(model)


def test_loading_a_folder_that_is_no_export_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="onnx_export.json"):
        KoGNERONNXModel.from_pretrained(tmp_path)


def test_export_cli_reports_missing_heads_in_one_line(tiny_encoder_dir, tmp_path, capsys):
    from data_scripts.export_onnx import main

    assert main(["--model", str(tiny_encoder_dir), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: cannot export") and "span_representation" in error
