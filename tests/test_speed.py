"""benchmarks.speed's training arms: the bare-encoder floor sees the Trainer's batches, and the report carries its
row and the KoGNER / bare encoder ratio; ``--link``: link=False vs link=True rates, their time ratio, the entity
index's size, load time and entity count, and whether each target is met."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from benchmarks import speed
from benchmarks.speed_setup import synthetic_sentences
from benchmarks.speed_training import BARE_ARM, trainer_batches


class _Scalar(torch.nn.Module):
    """The smallest model a Trainer accepts: the batch's sum times one parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": (self.weight * x.float()).sum()}


def test_speed_trainer_batches_are_the_batches_the_trainer_draws(tmp_path: Path) -> None:
    from transformers import Trainer, TrainingArguments

    seen: list[list[int]] = []

    def collate(rows: list[dict[str, int]]) -> dict[str, torch.Tensor]:
        seen.append([row["i"] for row in rows])
        return {"x": torch.tensor([row["i"] for row in rows])}

    torch.manual_seed(123)  # the global state before the Trainer must not matter
    data = [{"i": index} for index in range(10)]
    arguments = TrainingArguments(
        output_dir=str(tmp_path), max_steps=7, per_device_train_batch_size=4, save_strategy="no", report_to="none",
        disable_tqdm=True, use_cpu=True, seed=0, remove_unused_columns=False, dataloader_num_workers=0,
        logging_steps=1000,
    )
    Trainer(model=_Scalar(), args=arguments, train_dataset=data, data_collator=collate).train()
    expected = [[row["i"] for row in batch] for batch in trainer_batches(data, 4, 7)]
    assert len(expected) == 7 and [len(batch) for batch in expected[:3]] == [4, 4, 2]  # epochs end in a short batch
    assert seen[:7] == expected  # the Trainer's loader may collate one batch ahead
    with pytest.raises(ValueError, match="no training examples"):
        next(trainer_batches([], 4, 1))


def test_speed_training_arms_report_the_bare_encoder_floor(tiny_encoder_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sentences = synthetic_sentences(4)
    sentences_file = tmp_path / "sentences.json"
    payload = {"sentences": sentences, "labels": ["chemical", "disease"], "train": synthetic_sentences(12, seed=1)}
    sentences_file.write_text(json.dumps(payload))
    output = tmp_path / "speed.json"
    monkeypatch.setitem(sys.modules, "gliner", sys.modules.get("gliner"))  # --no-gliner blocks it; undone here
    assert speed.main([
        "--encoder", str(tiny_encoder_dir), "--sentences-file", str(sentences_file), "--sentences", "4",
        "--no-gliner", "--train-steps", "3", "--train-batch", "2", "--output", str(output),
    ]) == 0
    report: dict[str, Any] = json.loads(output.read_text())
    rows = {row["arm"]: row for row in report["training"]}
    assert report["training"][0]["arm"] == BARE_ARM  # the floor runs first
    kogner = next(row for arm, row in rows.items() if arm.startswith("KoGNER"))
    bare = rows[BARE_ARM]
    assert bare["steps"] == 3 and bare["batch_size"] == 2 and bare["samples_per_s"] > 0
    assert kogner["samples_per_s"] > 0
    ratio = report["ratios"]["KoGNER / bare encoder, training samples/s"]
    assert ratio == pytest.approx(kogner["samples_per_s"] / bare["samples_per_s"], rel=1e-3, abs=5e-4)
    assert "KoGNER / gliner, training samples/s" not in report["ratios"]
    assert f"| {BARE_ARM} | 3 | 2 |" in report["markdown"]


def test_speed_link_reports_the_linking_cost_and_the_index_size_and_load_time(
        tiny_encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_linking import lexicon_index, train_linker

    from modeling_kogner.index_kogner import ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS

    model = train_linker(tiny_encoder_dir, steps=0, linking_query="span")  # links without a fitted linking head
    model.entity_index = lexicon_index(model.entity_index)  # with synonyms and name-only entities
    model.save_pretrained(tmp_path / "model")
    sentences_file = tmp_path / "sentences.json"
    sentences_file.write_text(json.dumps({"sentences": synthetic_sentences(6), "labels": ["drug", "disease"]}))
    output = tmp_path / "speed.json"
    monkeypatch.setitem(sys.modules, "gliner", sys.modules.get("gliner"))  # --no-gliner blocks it; undone here
    assert speed.main([
        "--link", "--model", str(tmp_path / "model"), "--encoder", str(tiny_encoder_dir), "--sentences-file",
        str(sentences_file), "--sentences", "6", "--threshold", "0.0", "--no-gliner", "--train-steps", "0",
        "--output", str(output),
    ]) == 0
    linking: dict[str, Any] = json.loads(output.read_text())["linking"]
    plain, linked = linking["link_false"], linking["link_true"]
    assert linking["batch_size"] == 32 and linking["sentences"] == 6
    assert plain["sentences_per_s"] > 0 and linked["sentences_per_s"] > 0
    assert plain["entities_found"] == linked["entities_found"] > 0  # linking adds links, never spans
    assert linking["time_ratio"] == pytest.approx(linked["seconds"] / plain["seconds"], abs=1e-4)
    sizes = {name: (tmp_path / "model" / name).stat().st_size for name in (ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS)}
    assert linking["index_files"] == sizes and linking["index_bytes"] == sum(sizes.values())
    assert linking["index_mb"] == pytest.approx(sum(sizes.values()) / 1e6, abs=1e-3)
    assert linking["index_load_s"] > 0
    assert linking["index_entities"] == len(model.entity_index) and linking["index_entities_with_synonyms"] == 2
    assert linking["targets"] == {"time_ratio <= 1.25": linking["time_ratio"] <= 1.25,
                                  "index_mb < 300": linking["index_mb"] < 300,
                                  "index_load_s < 10": linking["index_load_s"] < 10}
    report = json.loads(output.read_text())
    assert "| link=True time / link=False time |" in report["markdown"] and "| link=False |" in report["markdown"]


def test_speed_link_needs_a_model_with_an_entity_index(tiny_encoder_dir: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    for argv, message in ((["--link"], "--link needs --model"),
                          (["--link", "--model", str(tiny_encoder_dir)], "missing entity_index.json")):
        with pytest.raises(SystemExit) as raised:
            speed.parse_args(argv)
        assert raised.value.code == 2 and message in capsys.readouterr().err
