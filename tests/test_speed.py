"""benchmarks.speed's training arms: the bare-encoder floor sees the Trainer's batches, and the report carries its
row and the KoGNER / bare encoder ratio."""

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
