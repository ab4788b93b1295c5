"""The Gradio demo (app.py): served on 127.0.0.1 with a tiny model and called through gradio_client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no telemetry, no version check

import pytest
import torch
from gradio_client import Client

import app
from conftest import REPO_ROOT
from modeling_kogner import KoGNERModel

# gradio's queue calls pandas options that pandas 3 deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

TEST_MAX_CHARS = 300
TEXT = "Cisplatin-induced nephrotoxicity was reduced by amifostine in rats with BRCA1-deficient tumours."
LABELS = ["chemical", "disease", "gene"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_demo(model: Any, **build_options: Any) -> tuple[Any, str]:
    """Build and start the demo on a free 127.0.0.1 port without blocking; returns (demo, local url)."""
    demo = app.build_demo(model, analytics_enabled=False, **build_options)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, share=False
    )
    return demo, url


def save_random_model(encoder_dir: Path, target: Path) -> Path:
    """A tiny untrained KoGNER model saved like training saves it (weights, config, remote code, tokenizer)."""
    torch.manual_seed(0)
    KoGNERModel.from_encoder(str(encoder_dir), hidden_size=32).save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def served(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Client]]:
    """(model as the app loaded it, client connected to the running app)."""
    model = app.load_model(str(save_random_model(tiny_encoder_dir, tmp_path_factory.mktemp("app_model"))))
    demo, url = launch_demo(model, max_text_chars=TEST_MAX_CHARS)
    assert url.startswith("http://127.0.0.1:"), url
    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        yield model, client
    finally:
        client.close()
        demo.close()


def call(client: Client, text: str, labels: str, threshold: float = 0.0, nested: bool = False, multi: bool = False):
    highlighted, table, entities, message = client.predict(
        text, labels, threshold, nested, multi, api_name="/predict"
    )
    return highlighted, table, entities, message


def spans(entities: list[dict]) -> list[tuple[int, int, str, str]]:
    return [(entity["start"], entity["end"], entity["text"], entity["label"]) for entity in entities]


@pytest.mark.parametrize("nested, multi", [(False, False), (True, False), (False, True), (True, True)])
def test_predict_endpoint_returns_the_models_entities_with_exact_offsets(served, nested, multi):
    model, client = served
    highlighted, table, entities, message = call(client, TEXT, " chemical, disease ,gene,, ", 0.0, nested, multi)

    expected = model.predict_entities(TEXT, LABELS, threshold=0.0, flat_ner=not nested, multi_label=multi)
    assert expected, "threshold 0 must select spans even with a random model"
    assert spans(entities) == spans(expected)
    assert [entity["score"] for entity in entities] == pytest.approx([e["score"] for e in expected], abs=1e-4)
    for entity in entities:
        assert TEXT[entity["start"] : entity["end"]] == entity["text"]
    assert table["headers"] == app.TABLE_HEADERS
    assert [(row[3], row[4], row[0], row[1]) for row in table["data"]] == spans(expected)
    assert message.startswith(f"Found {len(expected)} entit")

    # The highlighted pieces cover the text exactly once, entities in place.
    assert "".join(piece["token"] for piece in highlighted) == TEXT
    position = 0
    for piece in highlighted:
        if piece["class_or_confidence"] is not None:
            outer = [e for e in expected if (e["start"], e["end"]) == (position, position + len(piece["token"]))]
            assert outer and piece["class_or_confidence"] == " | ".join(e["label"] for e in outer)
        position += len(piece["token"])


def test_nested_and_multi_label_flags_change_the_result(served):
    model, client = served
    flat = call(client, TEXT, "chemical, disease", 0.0)[2]
    nested = call(client, TEXT, "chemical, disease", 0.0, nested=True)[2]
    multi = call(client, TEXT, "chemical, disease", 0.0, multi=True)[2]
    assert len(nested) > len(flat) and len(multi) > len(flat)
    assert any(a["end"] > b["start"] and b["end"] > a["start"] for a in nested for b in nested if a is not b)
    assert {(e["start"], e["end"]) for e in multi if e["label"] == "chemical"} == {
        (e["start"], e["end"]) for e in multi if e["label"] == "disease"
    }


def test_threshold_is_passed_to_the_model(served):
    model, client = served
    scores = [entity["score"] for entity in call(client, TEXT, "chemical, disease", 0.0, nested=True)[2]]
    middle = sorted(scores)[len(scores) // 2]
    entities = call(client, TEXT, "chemical, disease", middle)[2]
    assert spans(entities) == spans(model.predict_entities(TEXT, ["chemical", "disease"], threshold=middle))
    assert all(entity["score"] >= middle - 1e-4 for entity in entities)


@pytest.mark.parametrize(
    "text, labels, threshold, expected_message",
    [
        ("", "disease", 0.5, "Enter some text"),
        ("   \n ", "disease", 0.5, "Enter some text"),
        (TEXT, "", 0.5, "at least one entity type"),
        (TEXT, " , ,", 0.5, "at least one entity type"),
        ("x" * (TEST_MAX_CHARS + 1), "disease", 0.5, f"at most {TEST_MAX_CHARS}"),
        (TEXT, ", ".join(f"type {i}" for i in range(app.MAX_LABELS + 1)), 0.5, f"at most {app.MAX_LABELS}"),
        (TEXT, "d" * (app.MAX_LABEL_CHARS + 1), 0.5, f"at most {app.MAX_LABEL_CHARS} characters"),
    ],
)
def test_bad_input_returns_a_message_not_an_error(served, text, labels, threshold, expected_message):
    _, client = served
    highlighted, table, entities, message = call(client, text, labels, threshold)
    assert message.startswith("⚠️") and expected_message in message, message
    assert entities == [] and table["data"] == []
    assert "".join(piece["token"] for piece in highlighted) == text


def test_server_still_answers_after_bad_input(served):
    model, client = served
    call(client, "x" * (TEST_MAX_CHARS + 1), "disease")
    entities = call(client, "Aspirin helps.", "chemical", 0.0)[2]
    assert spans(entities) == spans(model.predict_entities("Aspirin helps.", ["chemical"], threshold=0.0))


def test_text_at_the_limit_is_accepted(served):
    _, client = served
    text = ("word " * TEST_MAX_CHARS)[:TEST_MAX_CHARS]
    message = call(client, text, "disease", 0.99)[3]
    assert message.startswith("Found"), message


def test_highlight_segments_show_outermost_spans_and_joined_labels():
    text = "BRCA1 gene mutation in breast cancer"
    entities = [
        {"start": 0, "end": 19, "label": "phenotype"},
        {"start": 0, "end": 5, "label": "gene"},
        {"start": 23, "end": 36, "label": "disease"},
        {"start": 23, "end": 36, "label": "phenotype"},
        {"start": 30, "end": 36, "label": "anatomy"},
    ]
    assert app.highlight_segments(text, entities) == [
        ("BRCA1 gene mutation", "phenotype"),
        (" in ", None),
        ("breast cancer", "disease | phenotype"),
    ]
    assert app.highlight_segments("no entities", []) == [("no entities", None)]


def test_parse_labels_splits_strips_and_merges_duplicates():
    assert app.parse_labels(" disease, chemical,,disease , cell line ") == ["disease", "chemical", "cell line"]
    assert app.parse_labels(None) == [] and app.parse_labels(" , ") == []


def test_presets_are_the_benchmark_and_kg_label_sets():
    from kogner.corpora.registry import BENCHMARK_LABELS
    from kogner.kg.biokg_lite import ENTITY_TYPES

    presets = app.label_presets()
    assert presets[app.KG_PRESET] == list(ENTITY_TYPES)
    benchmark_sets = [labels for name, labels in presets.items() if name != app.KG_PRESET]
    assert benchmark_sets == [list(labels) for labels in BENCHMARK_LABELS.values()]
    assert sorted(map(tuple, benchmark_sets)) == sorted(map(tuple, app.FALLBACK_BENCHMARK_LABELS.values()))


SPACE_IMPORT_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockProject(importlib.abc.MetaPathFinder):
        # In a Space only app.py and the model's remote code exist: no project package may be imported.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_kogner", "kogner", "data_scripts"):
                raise ImportError(f"{name} is not installed here")
            return None

    sys.meta_path.insert(0, BlockProject())
    sys.path.insert(0, sys.argv[1])
    import app
    print(json.dumps(app.label_presets()))
    """
)


def test_app_imports_without_the_project_packages():
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", SPACE_IMPORT_SCRIPT, str(REPO_ROOT)], capture_output=True, text=True, env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    import json

    presets = json.loads(result.stdout.strip().splitlines()[-1])
    assert presets == {**app.FALLBACK_BENCHMARK_LABELS, app.KG_PRESET: app.KG_ENTITY_TYPES}


def test_model_choice_order_and_clear_message_without_a_model(monkeypatch, tmp_path):
    monkeypatch.setattr(app, "DEFAULT_MODEL_DIR", tmp_path / "runs" / "demo" / "model")
    monkeypatch.delenv(app.MODEL_ENV_VAR, raising=False)
    with pytest.raises(SystemExit, match="make demo.*--model"):
        app.resolve_model_id(None)
    (tmp_path / "runs" / "demo" / "model").mkdir(parents=True)
    assert app.resolve_model_id(None) == str(tmp_path / "runs" / "demo" / "model")
    monkeypatch.setenv(app.MODEL_ENV_VAR, "someone/kogner-model")
    assert app.resolve_model_id(None) == "someone/kogner-model"
    assert app.resolve_model_id("my/dir") == "my/dir"


def test_load_model_names_the_model_that_failed(tmp_path):
    with pytest.raises(SystemExit, match="missing_model"):
        app.load_model(str(tmp_path / "missing_model"))


def test_cli_binds_localhost_and_never_shares_by_default(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    args = app.parse_args(["--model", "dir"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", 7860, False)
    assert app.parse_args(["--share", "--host", "0.0.0.0"]).share is True
    with pytest.raises(SystemExit):
        app.parse_args(["--concurrency", "0"])
