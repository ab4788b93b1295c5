"""The Gradio demo (app.py): served on 127.0.0.1 with a tiny model and called through gradio_client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
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
from modeling_kogner.text_kogner import SPLITTER_REQUIREMENT

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


def call(client: Client, text: str, labels: str, threshold: float = 0.0, nested: bool = False, multi: bool = False,
         split: bool | None = None):
    """/predict with the 5 inputs older clients send (split_sentences left to its default), or all 6."""
    highlighted, table, entities, message = client.predict(
        text, labels, threshold, nested, multi, *([] if split is None else [split]), api_name="/predict"
    )
    return highlighted, table, entities, message


def spans(entities: list[dict]) -> list[tuple[int, int, str, str]]:
    return [(entity["start"], entity["end"], entity["text"], entity["label"]) for entity in entities]


@pytest.mark.parametrize("nested, multi", [(False, False), (True, False), (False, True), (True, True)])
def test_predict_endpoint_returns_the_models_entities_with_exact_offsets(served, nested, multi):
    model, client = served
    highlighted, table, entities, message = call(client, TEXT, " chemical, disease ,gene,, ", 0.0, nested, multi)

    expected = model.predict_entities(TEXT, LABELS, threshold=0.0, flat_ner=not nested, multi_label=multi,
                                      split_sentences=True)
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
    assert spans(entities) == spans(
        model.predict_entities(TEXT, ["chemical", "disease"], threshold=middle, split_sentences=True)
    )
    assert all(entity["score"] >= middle - 1e-4 for entity in entities)


TWO_SENTENCES = "Aspirin reduced the fever of the patients. Cisplatin caused nephrotoxicity in rats with BRCA1 tumours."


class RecordingModel:
    """Records the keyword arguments of each ``predict_entities`` call; finds nothing."""

    config = type("Config", (), {"threshold": 0.5})()

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def predict_entities(self, text, labels, threshold=None, flat_ner=True, multi_label=False, split_sentences=False):
        self.calls.append({"split_sentences": split_sentences, "flat_ner": flat_ner, "multi_label": multi_label})
        return []


def test_sentence_splitting_is_on_by_default_and_the_box_turns_it_off():
    model = RecordingModel()
    predict = app.make_predict(model)
    predict("One. Two.", "disease", 0.5, False, False)  # the 5 inputs of older clients
    predict("One. Two.", "disease", 0.5, False, False, True)
    predict("One. Two.", "disease", 0.5, False, False, False)
    assert [call["split_sentences"] for call in model.calls] == [True, True, False]
    # The page's box starts ticked, so API clients that leave it out get True from gradio_client.
    demo = app.build_demo(model, analytics_enabled=False)
    parameters = demo.get_api_info()["named_endpoints"]["/predict"]["parameters"]
    assert [p["parameter_name"] for p in parameters][-1] == "split_sentences"
    assert parameters[-1]["parameter_has_default"] and parameters[-1]["parameter_default"] is True


def test_a_model_without_split_sentences_is_never_given_it_and_a_missing_splitter_is_a_message(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(app.gr, "Warning", lambda message, *args, **kwargs: warnings.append(message))
    model = StubModel(linkable=False)  # predict_entities(text, labels, threshold, flat_ner, multi_label, link)
    assert app.split_option(model) == {} and app.split_option(RecordingModel(), False) == {"split_sentences": False}
    assert app.make_predict(model)("Aspirin pain", "chemical", 0.5, False, False, True)[3].startswith("Found 2")

    class NoSplitter(RecordingModel):
        def predict_entities(self, text, labels, split_sentences=False, **options):
            raise ImportError("split_sentences=True needs the sentence splitter pysbd: pip install pysbd==0.3.4")

    message = app.make_predict(NoSplitter())("One. Two.", "disease", 0.5, False, False)[3]
    assert message.startswith("⚠️") and "pysbd" in message and "pysbd" in warnings[-1]


def test_served_default_splits_sentences_and_unticking_does_not(served):
    model, client = served
    by_sentence = model.predict_entities(TWO_SENTENCES, LABELS, threshold=0.0, split_sentences=True)
    whole = model.predict_entities(TWO_SENTENCES, LABELS, threshold=0.0, split_sentences=False)
    assert spans(by_sentence) != spans(whole), "the test text must tell the two modes apart"
    for split, expected in ((None, by_sentence), (True, by_sentence), (False, whole)):
        entities = call(client, TWO_SENTENCES, ", ".join(LABELS), 0.0, split=split)[2]
        assert spans(entities) == spans(expected), split
        assert [e["score"] for e in entities] == pytest.approx([e["score"] for e in expected], abs=1e-4)


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
    assert spans(entities) == spans(
        model.predict_entities("Aspirin helps.", ["chemical"], threshold=0.0, split_sentences=True)
    )


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
    from kogner.corpora.registry import EVALUATION_CORPUS_LABELS
    from kogner.kg.biokg_lite import ENTITY_TYPES

    presets = app.label_presets()
    assert presets[app.KG_PRESET] == list(ENTITY_TYPES)
    benchmark_sets = [labels for name, labels in presets.items() if name != app.KG_PRESET]
    assert benchmark_sets == [list(labels) for labels in EVALUATION_CORPUS_LABELS.values()]
    assert sorted(map(tuple, benchmark_sets)) == sorted(map(tuple, app.FALLBACK_CORPUS_LABELS.values()))


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
    presets = json.loads(result.stdout.strip().splitlines()[-1])
    assert presets == {**app.FALLBACK_CORPUS_LABELS, app.KG_PRESET: app.KG_ENTITY_TYPES}


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


# ------------------------------------------------------------------------------------------------ escaping, colours
INJECTION = '<img src=x onerror="alert(1)"> **bold** [link](javascript:alert(1)) $$x$$'


def test_user_strings_are_escaped_in_the_message_and_the_warning(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(app.gr, "Warning", lambda message, *args, **kwargs: warnings.append(message))

    class RejectingModel:
        config = type("Config", (), {"threshold": 0.5})()

        def predict_entities(self, text, labels, **options):
            raise ValueError(f"label {labels[0]!r} has 40 tokens")

    predict = app.make_predict(RejectingModel())
    too_long = INJECTION + "x" * app.MAX_LABEL_CHARS
    for labels in (too_long, INJECTION):  # rejected by the app, then by the model, both echoing the label
        message = predict("Some text.", labels, 0.5, False, False)[3]
        for shown in (message, warnings[-1]):  # Markdown, and the toast's HTML
            assert "<img" not in shown and "&lt;img" in shown, shown
        assert "**bold**" not in message and "[link](" not in message and "$$" not in message, message
    assert app.escape_markdown("a*b_c <b>&") == r"a\*b\_c &lt;b&gt;&amp;"
    assert app.escape_markdown("two\nlines") == "two lines"


def test_the_served_message_is_escaped(served):
    _, client = served
    message = call(client, TEXT, INJECTION + "x" * app.MAX_LABEL_CHARS)[3]
    assert message.startswith("⚠️") and "<img" not in message and "&lt;img" in message


def test_label_colours_are_fixed_by_name_not_by_order_or_run():
    labels = ["disease", "chemical", "adverse event", "Gene", "my own type"]
    colours = {label: app.label_color(label) for label in labels}
    assert all(colour in app.PALETTE for colour in colours.values())
    assert colours == {label: app.label_color(label) for label in reversed(labels)}
    assert app.label_color("Gene") == app.label_color("gene ") == app.KNOWN_LABEL_COLORS["gene"]
    assert len(set(app.KNOWN_LABEL_COLORS.values())) == len(app.KNOWN_LABEL_COLORS)  # preset types never collide
    assert app.color_map([("a", "disease | gene"), (" ", None), ("b", "my own type")]) == {
        "disease | gene": colours["disease"], "my own type": colours["my own type"]}
    assert app.color_map([{"token": "a", "class_or_confidence": "disease"}]) == {"disease": colours["disease"]}
    # Another process with another string-hash seed gives the same colours.
    script = f"import sys, json; sys.path.insert(0, {str(REPO_ROOT)!r}); import app; " \
             f"print(json.dumps([app.label_color(label) for label in {labels!r}]))"
    env = dict(os.environ, PYTHONHASHSEED="12345", GRADIO_ANALYTICS_ENABLED="False")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == json.dumps([colours[label] for label in labels])


def test_examples_carry_their_own_entity_types():
    label_sets = [tuple(app.parse_labels(labels)) for _, labels in app.EXAMPLES]
    assert all(label_sets) and len(set(label_sets)) == len(app.EXAMPLES)


# ------------------------------------------------------------------------------------------------- KG link columns
class StubModel:
    """A model double: fixed entities; ``entity_index`` and a ``link`` keyword only when built linkable."""

    config = type("Config", (), {"threshold": 0.5})()

    def __init__(self, linkable: bool) -> None:
        self.entity_index = object() if linkable else None
        self.calls: list[dict[str, Any]] = []

    def predict_entities(self, text, labels, threshold=None, flat_ner=True, multi_label=False, link=False):
        self.calls.append({"link": link})
        entity = {"start": 0, "end": 7, "text": text[:7], "label": labels[0], "score": 0.91234}
        if link:
            entity.update(kg_id="CHEBI:15365", kg_name="aspirin", link_score=0.87654)
        return [entity, {"start": 8, "end": 12, "text": text[8:12], "label": labels[0], "score": 0.5}]


def test_linked_kg_entities_are_shown_when_the_model_links():
    model = StubModel(linkable=True)
    _, table, entities, _ = app.make_predict(model)("Aspirin pain", "chemical", 0.5, False, False)
    assert model.calls == [{"link": True}]
    assert table["headers"] == app.TABLE_HEADERS + app.LINK_HEADERS
    assert table["data"][0][5:] == ["CHEBI:15365", "aspirin", 0.877]
    assert table["data"][1][5:] == ["", "", None]  # an entity left unlinked
    assert entities[0]["kg_id"] == "CHEBI:15365"


def test_a_model_whose_linking_head_was_never_fitted_is_not_asked_to_link():
    import torch

    model = StubModel(linkable=True)
    model.linking_head = type("Head", (), {"fitted": torch.tensor(False)})()
    app.make_predict(model)("Aspirin pain", "chemical", 0.5, False, False)
    assert model.calls == [{"link": False}]
    model.linking_head.fitted = torch.tensor(True)
    assert app.can_link(model)


def test_a_model_without_an_entity_index_is_never_asked_to_link(served):
    model = StubModel(linkable=False)
    _, table, _, message = app.make_predict(model)("Aspirin pain", "chemical", 0.5, False, False)
    assert model.calls == [{"link": False}] and table["headers"] == app.TABLE_HEADERS and message.startswith("Found")
    real_model, client = served  # the tiny KoGNER model has no index: plain columns, no error
    assert not app.can_link(real_model)
    assert call(client, TEXT, "chemical")[1]["headers"] == app.TABLE_HEADERS


# --------------------------------------------------------------------------------------------------------- lanes
class BlockingModel:
    """Long texts block inside predict_entities until released; short ones answer at once."""

    config = type("Config", (), {"threshold": 0.5})()

    def __init__(self) -> None:
        self.release = threading.Event()
        self.long_running = threading.Semaphore(0)

    def predict_entities(self, text, labels, **options):
        if len(text) > app.LONG_TEXT_CHARS:
            self.long_running.release()
            assert self.release.wait(timeout=120), "the test never released the long request"
        return []


def test_a_short_request_never_waits_behind_long_ones():
    model = BlockingModel()
    demo, url = launch_demo(model, max_text_chars=app.LONG_TEXT_CHARS * 2, concurrency_limit=1)
    clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(3)]
    try:
        long_text = "word " * (app.LONG_TEXT_CHARS // 5 + 10)
        jobs = [client.submit(long_text, "disease", 0.5, False, False, api_name="/predict") for client in clients[:2]]
        assert model.long_running.acquire(timeout=120)  # the first long request holds the long lane
        # The second long request waits for the lane, and the short one is answered all the same.
        short = clients[2].submit("A short text.", "disease", 0.5, False, False, api_name="/predict")
        assert short.result(timeout=60)[3].startswith("Found 0")  # (a generous bound, not a timing measurement)
        assert not model.long_running.acquire(timeout=0.5)  # the long lane still admits one request only
        model.release.set()
        assert all(job.result(timeout=120)[3].startswith("Found 0") for job in jobs)
    finally:
        model.release.set()
        for client in clients:
            client.close()
        demo.close()


# --------------------------------------------------------------------------------------------------------- Space
SPACE_RUN_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, runpy, sys

    class BlockProject(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_kogner", "kogner", "data_scripts"):
                raise ImportError(f"{name} is not installed in a Space")
            return None

    sys.meta_path.insert(0, BlockProject())
    sys.argv = ["app.py"]
    runpy.run_path("app.py", run_name="__main__")
    """
)


def load_assemble() -> Any:
    """``space/assemble.py``, loaded by path (it is a script, not a package module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("space_assemble", REPO_ROOT / "space" / "assemble.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the Space app exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the Space app did not answer on {url} within {timeout} s")


def test_space_assembles_and_answers_through_gradio_client(served, tmp_path):
    assemble = load_assemble()
    space = tmp_path / "space"
    assert assemble.main([str(space)]) == 0
    assert sorted(path.name for path in space.iterdir()) == ["README.md", "app.py", "requirements.txt"]
    assert (space / "app.py").read_bytes() == (REPO_ROOT / "app.py").read_bytes()
    meta = assemble.front_matter((space / "README.md").read_text(encoding="utf-8"))
    pins = assemble.pinned_requirements((space / "requirements.txt").read_text(encoding="utf-8"))
    assert meta["app_file"] == "app.py" and meta["sdk_version"] == pins["gradio"] and "torch" in pins
    assert f"pysbd=={pins['pysbd']}" == SPLITTER_REQUIREMENT  # the demo splits sentences by default

    model, _ = served
    port = free_port()
    env = dict(os.environ, KOGNER_MODEL=model.config._name_or_path, GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONPATH="")
    process = subprocess.Popen([sys.executable, "-c", SPACE_RUN_SCRIPT], cwd=space, env=env, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_server(url, process)
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        try:
            entities = client.predict(TEXT, "chemical, disease", 0.0, False, False, api_name="/predict")[2]
        finally:
            client.close()
    finally:
        process.terminate()
        process.wait(timeout=60)
    expected = model.predict_entities(TEXT, ["chemical", "disease"], threshold=0.0, split_sentences=True)
    assert spans(entities) == spans(expected)


def test_space_check_refuses_inconsistent_files(tmp_path, monkeypatch):
    assemble = load_assemble()
    with pytest.raises(ValueError, match="line 2.*not pinned"):
        assemble.pinned_requirements("torch==2.13.0\ngradio>=6\n")
    with pytest.raises(ValueError, match="front-matter"):
        assemble.front_matter("# no front matter\n")
    requirements = assemble.FILES["requirements.txt"]
    monkeypatch.setitem(assemble.FILES, "requirements.txt", tmp_path / "requirements.txt")
    (tmp_path / "requirements.txt").write_text(requirements.read_text().replace("pysbd==", "pysbd==0."))
    with pytest.raises(ValueError, match="must pin pysbd=="):
        assemble.check_space()
    monkeypatch.setitem(assemble.FILES, "requirements.txt", requirements)
    assert assemble.check_space()["sdk"] == "gradio"


def test_the_page_recolours_the_highlighted_text_after_each_prediction():
    """The UI-only step after /predict: the browser sends the highlighted value, the colours come back."""
    import asyncio

    demo = app.build_demo(StubModel(linkable=False), analytics_enabled=False)
    step = next(fn for fn in demo.fns.values() if fn.name == "recolor")
    assert not step.queue and step.api_visibility == "private"
    shown = [{"token": "Aspirin", "class_or_confidence": "chemical | drug"},
             {"token": " helps", "class_or_confidence": None}]
    output = asyncio.run(demo.process_api(block_fn=step, inputs=[shown], state=None))["data"][0]
    assert output["color_map"] == {"chemical | drug": app.label_color("chemical")}


def test_mixed_load_test_runs_short_requests_beside_requests_at_the_cap(served):
    import importlib.util

    spec = importlib.util.spec_from_file_location("load_test_app", REPO_ROOT / "benchmarks" / "load_test_app.py")
    load_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load_test)
    model, _ = served
    cap = app.LONG_TEXT_CHARS + 500  # over the long-lane threshold
    report = load_test.run_mixed_load_test(model, requests=4, clients=2, long_clients=1, alone=1, max_chars=cap)
    assert report["errors"] == [] and report["wrong_answers"] == 0
    assert report["short_under_load_s"]["count"] == 4 and report["at_cap_under_load_s"]["count"] >= 1
    assert app.LONG_TEXT_CHARS < report["long_text_chars"] <= cap
