"""Each setting in one place: the model config holds inference settings, the training arguments the objective."""

from __future__ import annotations

import json
import sys
import inspect
from pathlib import Path

import pytest
import torch

from kogner.training.arguments import LOSS_OPTIONS, MODEL_OPTIONS, KoGNERTrainingArguments, ModelArguments
from kogner.training.cli import parse_arguments
from modeling_kogner import KoGNERConfig, KoGNERModel
from modeling_kogner.losses_kogner import LossSettings

LEGACY_TRAINING_KEYS = {"lang_weight": 0.5, "dist_weight": 0.5, "focal_alpha": 0.25, "focal_gamma": 2.0,
                        "distillation_loss": "contrastive", "distillation_temperature": 0.1,
                        "freeze_teacher_projection": False}


def test_training_settings_in_a_model_config_name_where_they_belong(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dist_weight: training setting.*training arguments"):
        KoGNERConfig(dist_weight=0.5)
    with pytest.raises(ValueError, match="focal_gamma: training setting"):
        KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, focal_gamma=2.0)
    KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32).save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match="lang_weight: training setting"):
        KoGNERModel.from_pretrained(tmp_path / "model", lang_weight=0.5)


def test_an_older_config_with_training_settings_still_loads(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, teacher_dim=8, distillation_dim=16)
    model.save_pretrained(tmp_path / "model")
    config_file = tmp_path / "model" / "config.json"
    saved = json.loads(config_file.read_text())
    assert not set(LEGACY_TRAINING_KEYS) & set(saved)
    config_file.write_text(json.dumps({**saved, **LEGACY_TRAINING_KEYS}))
    for loaded in (KoGNERModel.from_pretrained(tmp_path / "model"),
                   AutoModel.from_pretrained(tmp_path / "model", trust_remote_code=True)):
        assert not any(hasattr(loaded.config, key) for key in LEGACY_TRAINING_KEYS)
        assert loaded.config.hidden_size == 32
        assert loaded.loss_settings == LossSettings()  # the objective is the trainer's, not the file's
        state = loaded.state_dict()
        for name, value in model.state_dict().items():
            torch.testing.assert_close(state[name], value, msg=name)


def test_model_options_are_the_configs_defaults_and_types() -> None:
    parameters = inspect.signature(KoGNERConfig.__init__).parameters
    defaults = ModelArguments()
    for name in MODEL_OPTIONS:
        assert getattr(defaults, name) == parameters[name].default, name
    training = KoGNERTrainingArguments(output_dir="unused", report_to="none", use_cpu=True)
    assert training.loss_settings() == LossSettings()
    assert set(LOSS_OPTIONS) == set(LossSettings.names())
    assert not set(MODEL_OPTIONS) & set(LOSS_OPTIONS)


def test_training_options_set_the_objective_and_are_checked_once(tmp_path: Path) -> None:
    _, _, args = parse_arguments(["--output_dir", str(tmp_path), "--use_cpu", "true", "--dist_weight", "0.3",
                                  "--distillation_loss", "contrastive", "--no_freeze_teacher_projection"])
    assert args.loss_settings() == LossSettings(dist_weight=0.3, distillation_loss="contrastive",
                                                freeze_teacher_projection=False)
    with pytest.raises(ValueError, match="--lang_weight and dist_weight must be >= 0"):
        KoGNERTrainingArguments(output_dir=str(tmp_path), use_cpu=True, lang_weight=-1.0)
    with pytest.raises(ValueError, match="--distillation_temperature must be > 0"):
        KoGNERTrainingArguments(output_dir=str(tmp_path), use_cpu=True, distillation_temperature=0.0)
    with pytest.raises(ValueError, match="--threshold must be a number in \\[0, 1\\]"):
        ModelArguments(threshold=1.5)
    with pytest.raises(ValueError, match="--hidden_size must be a positive integer"):
        ModelArguments(hidden_size=0)


def test_the_weighted_loss_is_combined_in_one_place() -> None:
    lang, dist = torch.tensor(0.5), torch.tensor(2.0)
    settings = LossSettings(lang_weight=0.8, dist_weight=0.2)
    assert settings.combine(lang, dist).item() == pytest.approx(0.8 * 0.5 + 0.2 * 2.0)
    assert settings.combine(lang, dist, 0.5, 4.0).item() == pytest.approx(0.8 * 1.0 + 0.2 * 0.5)
    no_dist = LossSettings(dist_weight=0.0).combine(lang, torch.tensor(float("nan")))
    assert no_dist.item() == pytest.approx(0.4)  # b = 0 leaves the term out


def test_the_frozen_teacher_projection_follows_the_loss_settings(tiny_encoder_dir: Path) -> None:
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, teacher_dim=8, distillation_dim=16)
    projection = model.distillation_head.teacher_projection
    assert not projection.weight.requires_grad
    model.loss_settings = LossSettings(freeze_teacher_projection=False)
    assert projection.weight.requires_grad
    with pytest.raises(TypeError, match="LossSettings"):
        model.loss_settings = {"dist_weight": 0.5}


def test_kogner_train_exits_with_status_zero_after_a_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The console script passes main's value to sys.exit: a finished run must not end with status 1 (it did when
    main returned the results dict, which sys.exit prints and treats as failure)."""
    from importlib.metadata import entry_points

    import kogner.training.pipeline as pipeline

    monkeypatch.setattr(pipeline, "run_training", lambda *arguments: {"ncbi_disease:test": {"f1": 0.5}})
    (script,) = entry_points(group="console_scripts", name="kogner-train")
    with pytest.raises(SystemExit) as exited:
        sys.exit(script.load()(["--train_data", "runs/data", "--output_dir", str(tmp_path)]))
    assert exited.value.code == 0
