"""The model card (README.md) of a trained KoGNER model, filled from a template."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kogner.evaluation.evaluate import markdown_table

CARD_HYPERPARAMETERS = (
    "max_steps", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
    "lr_scheduler_type", "warmup_steps", "weight_decay", "seed", "bf16", "fp16",
)


def _teacher_section(teacher: dict[str, Any] | None) -> str:
    if not teacher:
        return "No teacher: trained without knowledge-graph distillation (`dist_weight` 0 or no `kge` links)."
    rows = [f"| {key} | {value} |" for key, value in teacher.items()]
    return "\n".join(["| | |", "|---|---|", *rows])


def _data_section(data: dict[str, Any] | None) -> str:
    if not data:
        return "Not recorded."
    return "\n".join(f"- **{key}**: {value}" for key, value in data.items())


def render_model_card(
    model: Any, args: Any, eval_results: dict[str, dict[str, Any]], info: dict[str, Any] | None = None
) -> str:
    """The card's text: metadata block, model settings, teacher, data, hyperparameters, metrics, usage, citation."""
    info = dict(info or {})
    config = model.config
    model_name = info.get("model_name") or getattr(args, "hub_model_id", None) or Path(args.output_dir).name
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "token-classification",
        "license": info.get("license", "apache-2.0"),
        "language": ["en"],
        "tags": ["kogner", "ner", "biomedical", "knowledge-graph", "gliner", "knowledge-distillation"],
        "base_model": info.get("base_encoder"),
    }
    metadata = {key: value for key, value in metadata.items() if value}
    hyperparameters = "\n".join(
        f"| {name} | {getattr(args, name)} |" for name in CARD_HYPERPARAMETERS if hasattr(args, name)
    )
    if info.get("encoder_learning_rate") is not None:
        hyperparameters += f"\n| encoder_learning_rate | {info['encoder_learning_rate']} |"
    template = resources.files("kogner.training").joinpath("templates/model_card.md").read_text(encoding="utf-8")
    return template.format(
        metadata=yaml.safe_dump(metadata, sort_keys=False).strip(),
        model_name=model_name,
        base_encoder=info.get("base_encoder", "unknown"),
        label_encoder=config.label_encoder,
        max_width=config.max_width,
        hidden_size=config.hidden_size,
        dropout=config.dropout,
        teacher_dim=config.teacher_dim or "none",
        lang_weight=config.lang_weight,
        dist_weight=config.dist_weight,
        threshold=config.threshold,
        teacher_section=_teacher_section(info.get("teacher")),
        data_section=_data_section(info.get("data")),
        hyperparameters=hyperparameters,
        eval_table=markdown_table(eval_results) if eval_results else "Not evaluated.",
        usage_id=getattr(args, "hub_model_id", None) or "path/to/this/model",
        training_scale=info.get("training_scale", "the data listed above"),
    )


def write_model_card(
    output_dir: str | Path, model: Any, args: Any, eval_results: dict[str, dict[str, Any]], info: dict | None = None
) -> Path:
    """Render the card and write it to ``output_dir/README.md``."""
    path = Path(output_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(model, args, eval_results, info), encoding="utf-8")
    return path
