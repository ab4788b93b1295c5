"""Clear errors naming the option and what was expected; credentials never reach outputs or logs."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kogner.checks import check_model_source, redact_url
from kogner.teacher import TeacherSettings

FIXTURES = Path(__file__).parent / "fixtures" / "kg"


# ------------------------------------------------------------------------------------------------ clear errors


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("gnn_epochs", -1, "--gnn-epochs"), ("transr_epochs", 0, "--transr-epochs"), ("gnn_lr", 0.0, "--gnn-lr"),
    ("gnn_dropout", 1.5, "--gnn-dropout"), ("gnn_test_fraction", 0.0, "--gnn-test-fraction"),
    ("gnn_hidden", -4, "--gnn-hidden"), ("gnn_fanouts", (10, -1), "--gnn-fanouts"), ("seed", -2, "--seed"),
    ("transr_split", (0.5, 0.5, 0.5), "--transr-split"), ("text_batch_size", 0, "--text-batch-size"),
])
def test_teacher_settings_name_the_bad_option(setting: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TeacherSettings(**{setting: value})


def test_teacher_cli_rejects_negative_epochs_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from data_scripts.build_teacher import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--kg", "table", "--out", str(tmp_path), "--gnn-epochs", "-1"])
    assert exit_info.value.code == 2
    assert "--gnn-epochs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--out", str(tmp_path), "--cap", "-3"])


def test_a_local_path_typo_says_no_such_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for typo in ("runs/demo/modle", "./modle", str(tmp_path / "modle"), "runs/modle"):
        with pytest.raises(FileNotFoundError, match="no such directory"):
            check_model_source(typo, "--model")
    for hub_id in ("org/name", "bert-base-uncased"):
        assert check_model_source(hub_id, "--model") == hub_id
    (tmp_path / "runs" / "half").mkdir()  # a folder whose save was interrupted (no config.json)
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        check_model_source("runs/half", "--model")
    with pytest.raises(FileNotFoundError, match="--encoder.*no such directory"):
        TeacherSettings(encoder="runs/encoders/minilmm")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--max-sentences", "-1"], "--max-sentences must be a positive integer"),
    (["--max-sentences", "0"], "--max-sentences must be a positive integer"),
    (["--batch-size", "0"], "--batch-size"),
    (["--threshold", "1.5"], "--threshold"),
    (["--data-dir", "/nonexistent/corpora"], "--data-dir"),
])
def test_evaluation_arguments_fail_clearly(arguments: list[str], message: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from kogner.evaluation.cli import main

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(model), *arguments])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_evaluation_model_typo_says_no_such_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kogner.evaluation.cli import main

    with pytest.raises(SystemExit):
        main(["--model", str(tmp_path / "runs" / "demo" / "modle")])
    assert "no such directory" in capsys.readouterr().err


def test_build_refuses_bad_fractions_and_empty_splits(tmp_path: Path) -> None:
    from kogner.datagen.build import check_build_arguments, check_split_sizes

    with pytest.raises(ValueError, match="--test-fraction"):
        check_build_arguments(10, None, 0, 0.1, 0.0)
    with pytest.raises(ValueError, match="--per-relation"):
        check_build_arguments(-5, None, 0, 0.1, 0.1)
    with pytest.raises(ValueError, match="--rate"):
        check_build_arguments(None, 1.5, 0, 0.1, 0.1)
    with pytest.raises(ValueError, match="test split"):
        check_split_sizes(4, 10, Counter(), 0.25, 0.1)
    with pytest.raises(ValueError, match="no sentence was kept.*entity_not_found 3"):
        check_split_sizes(0, 3, Counter(entity_not_found=3), 0.1, 0.1)


# ---------------------------------------------------------------------------------------------- credentials


def test_llm_credentials_are_redacted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from kogner.datagen.build import build_bmg_dataset
    from kogner.datagen.llm import LLMSettings

    answer = {"choices": [{"message": {"content": "not json"}}]}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://alice:hunter2secret@127.0.0.1:{server.server_address[1]}/v1"
    settings = LLMSettings.from_env(base_url=url, model="m", api_key="sk-topsecret", max_retries=0)
    assert "hunter2secret" not in repr(settings) and "sk-topsecret" not in repr(settings)
    assert redact_url(url).startswith("http://***@127.0.0.1")
    out = tmp_path / "data"
    try:
        with pytest.raises(ValueError, match="no sentence was kept"), caplog.at_level("DEBUG"):
            build_bmg_dataset(out, kg="table", kg_options={"nodes": str(FIXTURES / "tiny_nodes.tsv"),
                                                           "edges": str(FIXTURES / "tiny_edges.tsv")},
                              generator="llm", llm_settings=settings, per_relation=2)
    finally:
        server.shutdown()
        server.server_close()
    written = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".sqlite"]
    assert any(p.name == "progress_meta.json" for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        assert "hunter2secret" not in text and "sk-topsecret" not in text and "alice" not in text, path
    assert "hunter2secret" not in caplog.text and "sk-topsecret" not in caplog.text
