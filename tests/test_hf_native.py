"""A saved KoGNER model used like any transformers model, in a fresh process with only the saved remote code:
``dtype``/``torch_dtype``/``device_map``, ``AutoTokenizer`` without remote code, ``pipeline(...)``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from comparisons import assert_same_batches, assert_same_entities
from modeling_kogner import KoGNERModel

LABELS = ["drug", "disease"]
TEXTS = ["Patients with gout received aspirin .", "Warfarin did not help ; anemia persisted in two cases ."]

FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys
    project, model_dir, texts, labels = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])

    class BlockProject(importlib.abc.MetaPathFinder):
        # A Hub user has none of the project's packages: only the remote code saved with the model.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_kogner", "kogner", "data_scripts"):
                raise ImportError(f"{name} must not be importable here")
            return None

    sys.meta_path.insert(0, BlockProject())
    venv = sys.prefix
    sys.path[:] = [e for e in sys.path if not e.startswith(project) or e.startswith(venv)]
    import torch
    from transformers import AutoModel, AutoTokenizer, pipeline

    report = {}
    reference = AutoModel.from_pretrained(model_dir, trust_remote_code=True)
    report["float32"] = reference.batch_predict_entities(texts, labels, threshold=0.0)

    def span_probabilities(model):
        # forward() on one hand-made batch: every span against every label, no decoding choices in between.
        words = texts[0].split()
        encoded = reference.tokenizer(words, is_split_into_words=True, return_tensors="pt")
        word_ids = encoded.word_ids()
        label_batch = reference.tokenizer(labels, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(
                input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"],
                word_index=torch.tensor([[word_ids.index(i) for i in range(len(words))]]),
                word_mask=torch.ones(1, len(words), dtype=torch.bool),
                label_input_ids=label_batch["input_ids"], label_attention_mask=label_batch["attention_mask"],
            ).logits
        return torch.sigmoid(logits.float()).flatten().tolist()

    reference.eval()
    report["float32_probabilities"] = span_probabilities(reference)
    for name, kwargs in {"bf16": {"dtype": torch.bfloat16}, "fp16_torch_dtype": {"torch_dtype": torch.float16},
                         "device_map": {"device_map": "cpu"}, "device_map_auto": {"device_map": "auto"}}.items():
        model = AutoModel.from_pretrained(model_dir, trust_remote_code=True, **kwargs)
        report[name] = {
            "dtypes": sorted({str(p.dtype) for p in model.parameters()} | {str(b.dtype) for b in model.buffers()
                                                                          if b.is_floating_point()}),
            "device": str(model.device),
            "devices": sorted({str(p.device) for p in model.parameters()}),
            "entities": model.batch_predict_entities(texts, labels, threshold=0.0),
            "probabilities": span_probabilities(model.eval()),
        }

    for trust in (None, False):  # the plain call, and the one that skips transformers' question about config.json
        tokenizer = AutoTokenizer.from_pretrained(model_dir, **({} if trust is None else {"trust_remote_code": trust}))
        report[f"tokenizer_{trust}"] = [type(tokenizer).__module__, tokenizer(texts[0])["input_ids"]]

    ner = pipeline(model=model_dir, trust_remote_code=True)
    report["pipeline_class"] = type(ner).__name__
    report["pipeline_one"] = ner(texts[0], labels=labels, threshold=0.0)
    report["pipeline_many"] = ner(texts, labels=labels, threshold=0.0)
    report["predict_one"] = ner.model.predict_entities(texts[0], labels, threshold=0.0)
    try:
        ner(texts[0])
    except ValueError as error:
        report["no_labels"] = str(error)
    print()  # transformers' question about remote code goes to stdout too, without a newline
    print("REPORT " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def saved_model(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KoGNERModel]:
    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, teacher_dim=12, distillation_dim=16)
    model.eval()
    directory = tmp_path_factory.mktemp("hf_native") / "model"
    model.save_pretrained(directory)
    return directory, model


@pytest.fixture(scope="module")
def fresh_process_report(saved_model, tmp_path_factory) -> tuple[dict, KoGNERModel]:
    directory, model = saved_model
    work = tmp_path_factory.mktemp("fresh")
    (work / "script.py").write_text(FRESH_PROCESS_SCRIPT)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(work / "hf_modules")
    project = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, str(work / "script.py"), project, str(directory), json.dumps(TEXTS), json.dumps(LABELS)],
        cwd=work, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert report, result.stdout[-2000:]
    return json.loads(report[-1].removeprefix("REPORT ")), model


def test_saved_files_name_the_pipeline_and_a_standard_tokenizer(saved_model):
    directory, _ = saved_model
    config = json.loads((directory / "config.json").read_text())
    assert config["custom_pipelines"]["token-classification"]["impl"] == "pipeline_kogner.KoGNERPipeline"
    assert (directory / "pipeline_kogner.py").is_file()
    tokenizer_config = json.loads((directory / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "BertTokenizer"
    assert "auto_map" not in tokenizer_config


def test_float32_matches_the_model_in_this_process(fresh_process_report):
    report, model = fresh_process_report
    assert_same_batches(report["float32"], model.batch_predict_entities(TEXTS, LABELS, threshold=0.0))


@pytest.mark.parametrize("name, dtype", [("bf16", "torch.bfloat16"), ("fp16_torch_dtype", "torch.float16")])
def test_half_precision_applies_to_the_whole_model_and_predicts(fresh_process_report, name, dtype):
    report, _ = fresh_process_report
    assert report[name]["dtypes"] == [dtype]  # encoder included: it used to stay float32
    for text, entities in zip(TEXTS, report[name]["entities"]):
        assert entities
        for entity in entities:
            assert text[entity["start"] : entity["end"]] == entity["text"]
    # Every span scored against every label: equal to float32 within half precision.
    half, full = report[name]["probabilities"], report["float32_probabilities"]
    assert len(half) == len(full) > 0
    assert max(abs(a - b) for a, b in zip(half, full)) < 0.03


@pytest.mark.parametrize("name", ["device_map", "device_map_auto"])
def test_device_map_is_honoured(fresh_process_report, name):
    report, _ = fresh_process_report
    assert report[name]["device"] == "cpu"  # "auto" on this CPU-only machine: the CPU
    assert report[name]["devices"] == ["cpu"]
    assert report[name]["dtypes"] == ["torch.float32"]
    assert report[name]["entities"] == report["float32"]


def test_auto_tokenizer_needs_no_remote_code(fresh_process_report, tiny_encoder_dir):
    report, _ = fresh_process_report
    from transformers import AutoTokenizer

    expected = AutoTokenizer.from_pretrained(tiny_encoder_dir)(TEXTS[0])["input_ids"]
    for key in ("tokenizer_None", "tokenizer_False"):
        module, ids = report[key]
        assert module.startswith("transformers.models.bert"), module  # the standard class, not remote code
        assert ids == expected


def test_pipeline_returns_the_entities_of_predict_entities(fresh_process_report):
    report, model = fresh_process_report
    assert report["pipeline_class"] == "KoGNERPipeline"
    assert report["pipeline_one"] == report["predict_one"]  # the same computation in the same process
    assert_same_entities(report["predict_one"], model.predict_entities(TEXTS[0], LABELS, threshold=0.0))
    assert_same_batches(report["pipeline_many"], model.batch_predict_entities(TEXTS, LABELS, threshold=0.0))
    assert report["pipeline_one"], "threshold 0 must give entities to compare"


def test_pipeline_without_labels_says_so(fresh_process_report):
    report, _ = fresh_process_report
    assert "labels=" in report["no_labels"] and "entity types" in report["no_labels"]
