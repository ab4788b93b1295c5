"""The model card (README.md) of a trained KoGNER model, through ``huggingface_hub.ModelCard``.

Metadata (`ModelCardData`): library, pipeline tag, licence, base model (a Hub id), training datasets (Hub ids) and
``eval_results`` -> a ``model-index`` with one entry per evaluated corpus (task ``token-classification``, the
corpus' name, config and split, metrics F1 / precision / recall in percent). The body comes from
``templates/model_card.md`` (jinja): model settings, intended use, training data with sources and licences,
teacher, distillation settings, hyperparameters, evaluation table, usage, limitations, citation.
"""

from __future__ import annotations

import enum
import json
import math
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from huggingface_hub import DatasetCard, EvalResult, ModelCard, ModelCardData

from kogner.atomic import atomic_write_json
from kogner.corpora.mix import split_source
from kogner.corpora.registry import resolve_data_dir
from kogner.datagen.sources import Source, corpus_sources, kg_sources
from kogner.evaluation.evaluate import markdown_table
from modeling_kogner import KoGNERConfig
from modeling_kogner.losses_kogner import LossSettings

from .arguments import saved_loss_settings

CARD_HYPERPARAMETERS = (
    "max_steps", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
    "lr_scheduler_type", "warmup_steps", "weight_decay", "seed", "bf16", "fp16", "loss_balance",
)
GENERIC_DIRECTORY_NAMES = {"model", "models", "output", "outputs", "final", "best", "checkpoint", "."}
TAGS = ["kogner", "ner", "biomedical", "knowledge-graph", "gliner", "knowledge-distillation", "token-classification"]


def _rounded(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    return value


def format_value(value: Any) -> str:
    """A table cell: enums by their value, floats to 4 significant digits (inside containers too), containers as
    JSON (also JSON that arrives as text, e.g. the teacher's counts)."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    value = _rounded(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _rows(pairs: dict[str, Any]) -> str:
    return "\n".join(f"| {key} | {format_value(value)} |" for key, value in pairs.items())


def is_hub_id(name: str | None) -> bool:
    """``org/name`` that is not a local path (only those may go into ``base_model``/``datasets``)."""
    return bool(name) and name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def card_model_name(args: Any, info: dict[str, Any]) -> str:
    """The card's title: ``info["model_name"]``, the Hub id, the output folder's name unless generic
    (``model``, ``output``, ...), else ``kogner-<base encoder>``."""
    if info.get("model_name"):
        return str(info["model_name"])
    if getattr(args, "hub_model_id", None):
        return args.hub_model_id
    folder = Path(args.output_dir).resolve().name
    if folder.lower() not in GENERIC_DIRECTORY_NAMES and not folder.startswith("checkpoint-"):
        return folder
    return f"kogner-{Path(str(info.get('base_encoder') or 'encoder')).name}"


# --------------------------------------------------------------------------------------------------- datasets
def _saved_card(path: Path) -> Any:
    card_path = path / "README.md" if path.is_dir() else None
    return DatasetCard.load(card_path).data if card_path is not None and card_path.is_file() else None


def describe_source(source: str, corpora: dict[str, Source]) -> tuple[dict[str, str], list[Source]]:
    """``({type, name, config, split-free description}, data sources)`` of a training/evaluation source."""
    name, _ = split_source(source, "")
    if name in corpora:
        corpus = corpora[name]
        return {"type": name, "name": corpus.name, "config": name, "license": corpus.license,
                "reference": corpus.reference, "license_from": corpus.license_from}, []
    path = Path(name)
    saved = _saved_card(path)
    if saved is not None:
        kg = [Source(**{k: v for k, v in entry.items() if k in Source.__dataclass_fields__})
              for entry in getattr(saved, "kg_sources", None) or []]
        license_ = saved.license if isinstance(saved.license, str) else ", ".join(saved.license or [])
        return {"type": path.name, "name": saved.pretty_name or path.name, "license": license_ or "not stated"}, kg
    if path.is_file():
        return {"type": path.name, "name": f"{path.name} (GLiNER-format file)", "license": "not recorded"}, []
    return {"type": name, "name": name, "license": "see the dataset's card" if is_hub_id(name) else "not recorded"}, []


def _source_of_set(set_name: str, info: dict[str, Any]) -> str:
    """The command-line source behind an evaluation set's display name (``data:test`` -> ``runs/data:test``)."""
    name, separator, split = set_name.rpartition(":")
    if not separator:  # a single set named by the Trainer ("eval"): the only evaluation source, if there is one
        candidates = info.get("eval_data") or []
        return candidates[0] if len(candidates) == 1 else set_name
    for source in info.get("sources") or []:
        source_name, _ = split_source(source, split)
        if Path(source_name).name == name:
            return f"{source_name}:{split}"
    return set_name


def eval_results(
    results: dict[str, dict[str, Any]], info: dict[str, Any], corpora: dict[str, Source]
) -> list[EvalResult]:
    """One ``model-index`` entry per evaluated set: F1, precision and recall in percent, rounded to 0.1."""
    entries = []
    for set_name, scores in results.items():
        source = _source_of_set(set_name, info)
        dataset, _ = describe_source(source, corpora)
        _, split = split_source(source, "")
        for metric, label in (("f1", "F1"), ("precision", "Precision"), ("recall", "Recall")):
            entries.append(EvalResult(
                task_type="token-classification", task_name="Named entity recognition (strict span match)",
                dataset_type=dataset["type"], dataset_name=dataset["name"], dataset_config=dataset.get("config"),
                dataset_split=split or None, metric_type=metric, metric_name=f"{label} (strict, micro, %)",
                metric_value=round(float(scores[metric]) * 100, 1),
            ))
    return entries


def training_data_section(info: dict[str, Any], corpora: dict[str, Source]) -> tuple[str, list[Source]]:
    """Markdown for the training sources (names, licences, KG sources) and the data sources found on the way."""
    lines, data_sources = [], []
    for source in info.get("train_data") or []:
        dataset, kg = describe_source(source, corpora)
        reference = f" ({dataset['reference']})" if dataset.get("reference") else ""
        lines.append(f"- **{dataset['name']}**{reference} — `{source}`; licence: {dataset['license']}")
        lines += [f"  - {s.name}{' ' + s.version if s.version else ''}: licence {s.license}"
                  f"{' (' + s.license_from + ')' if s.license_from else ''}" for s in kg]
        data_sources += kg
    facts = info.get("data") or {}
    lines += [f"- {key}: {format_value(value)}" for key, value in facts.items() if key != "training sources"]
    return ("\n".join(lines) or "Not recorded."), data_sources


def teacher_section(teacher: dict[str, Any] | None) -> str:
    if not teacher:
        return "No teacher: trained without knowledge-graph distillation (`dist_weight` 0 or no teacher given)."
    table = "| | |\n|---|---|\n" + _rows(teacher)
    kg = str(teacher.get("knowledge graph", ""))
    if kg == "biokg-lite":
        rows = "\n".join(f"| {s.name} | {s.version or '-'} | {s.license} | {s.license_from} |" for s in kg_sources(kg))
        table += ("\n\nSources of the knowledge graph (versions and licences read from the packages' own files):\n\n"
                  "| source | version | licence | stated in |\n|---|---|---|---|\n" + rows)
    return table


class CardMismatchError(ValueError):
    """A card was asked to state something its model is not (another threshold, another model's scores)."""


def check_card_facts(threshold: float, results: dict[str, dict[str, Any]], info: dict[str, Any]) -> None:
    """Refuse a threshold choice or scores that do not belong to a model whose config holds ``threshold``: each
    result records the threshold it was scored at (KoGNERTrainer does), the choice the threshold it chose."""
    choice = info.get("threshold_choice")
    if choice is not None and not math.isclose(float(choice["threshold"]), threshold, abs_tol=1e-9):
        raise CardMismatchError(f"the card would state threshold {choice['threshold']} chosen on dev, but the "
                                f"model's config holds {threshold}: write the choice into the config first")
    for name, scores in results.items():
        scored_at = scores.get("threshold")
        if scored_at is None:
            raise CardMismatchError(f"the scores of {name!r} do not say at which threshold they were made: only "
                                    "scores of this model at its own threshold go on its card")
        if not math.isclose(float(scored_at), threshold, abs_tol=1e-9):
            raise CardMismatchError(f"the scores of {name!r} were made at threshold {scored_at}, but the model's "
                                    f"config holds {threshold}: they are another model's scores")


def threshold_statement(threshold: float, info: dict[str, Any]) -> str:
    """The threshold and how it was chosen, for the card's model table."""
    choice = info.get("threshold_choice")
    if choice is None:
        return f"{threshold:g} (set in the training options; not chosen on dev data)"
    return (f"{threshold:g}, chosen after training: best mean F1 ({100 * choice['mean_f1']:.1f}) over the dev sets "
            f"{', '.join(choice['dev_sets'])} on the grid {min(map(float, choice['curve']))}-"
            f"{max(map(float, choice['curve']))}")


def build_model_card(
    model: Any, args: Any, results: dict[str, dict[str, Any]], info: dict[str, Any] | None = None
) -> ModelCard:
    """The card as a `huggingface_hub.ModelCard` (``card.data.eval_results`` holds the evaluations)."""
    info = dict(info or {})
    config = model.config
    check_card_facts(config.threshold, results, info)
    corpora = corpus_sources(resolve_data_dir(info.get("data_dir")))
    model_name = card_model_name(args, info)
    train_datasets = [split_source(s, "")[0] for s in info.get("train_data") or []]
    card_data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag="token-classification",
        license=info.get("license", "apache-2.0"),
        language=["en"],
        tags=TAGS,
        base_model=info.get("base_encoder") if is_hub_id(info.get("base_encoder")) else None,
        datasets=[name for name in train_datasets if is_hub_id(name)] or None,
        metrics=["f1", "precision", "recall"],
        eval_results=eval_results(results, info, corpora) or None,
    )
    training_data, _ = training_data_section(info, corpora)
    used = {split_source(_source_of_set(name, info), "")[0] for name in results} | set(train_datasets)
    references = sorted(f"{corpora[name].name} ({corpora[name].reference})" for name in used
                        if name in corpora and corpora[name].reference)
    hyperparameters = {name: getattr(args, name) for name in CARD_HYPERPARAMETERS if hasattr(args, name)}
    if info.get("encoder_learning_rate") is not None:
        hyperparameters["encoder_learning_rate"] = info["encoder_learning_rate"]
    teacher = info.get("teacher")
    loss = model.loss_settings
    distillation = {
        "distillation": "on" if teacher and config.teacher_dim and loss.dist_weight > 0 else "off",
        "teacher vector size r (H = [Z, Z', Z''])": config.teacher_dim or "none",
        "distillation space size": config.distillation_dim,
        "teacher projection MLP_dist frozen": loss.freeze_teacher_projection,
        "distillation loss": (loss.distillation_loss if loss.distillation_loss == "mse" else
                              f"{loss.distillation_loss} (temperature {loss.distillation_temperature:g})"),
        "loss = a * language BCE + b * distillation: a / b": f"{loss.lang_weight:g} / {loss.dist_weight:g}",
        "focal loss alpha / gamma": f"{loss.focal_alpha:g} / {loss.focal_gamma:g}",
        "kge links known to the teacher": (info.get("data") or {}).get("kge links known to the teacher", "n/a"),
    }
    fit = info.get("linking_fit")
    if fit:
        distillation["linking heads fitted after training (query; links, steps; held-out seen acc@1 before -> "
                     "after)"] = (
            f"{config.linking_query}; {fit['links']}, {fit['steps']}; {fit['held_out_seen_acc_at_1_before']} -> "
            f"{fit['held_out_seen_acc_at_1_after']}")
        scope = config.linking_name_candidates
        distillation["link=True: same-name entities first, from (linking_name_candidates)"] = (
            "the whole entity index" if scope == "all" else f"the {scope} nearest" if scope else "none (vectors alone)")
    model_rows = {
        "base encoder": f"`{info.get('base_encoder', 'unknown')}`",
        "label encoder": config.label_encoder,
        "max span width (words)": config.max_width,
        "span/label hidden size": config.hidden_size,
        "dropout": config.dropout,
        "decision threshold (`threshold` in config.json)": threshold_statement(config.threshold, info),
    }
    evaluation = (
        "Strict span-level matching (start, end and type must all match), micro-averaged, in percent.\n\n"
        + markdown_table(results) if results else "Not evaluated."
    )
    template = resources.files("kogner.training").joinpath("templates/model_card.md").read_text(encoding="utf-8")
    return ModelCard.from_template(
        card_data,
        template_str=template,
        model_name=model_name,
        model_table=_rows(model_rows),
        training_data=training_data,
        teacher_section=teacher_section(teacher),
        distillation_table=_rows(distillation),
        hyperparameters=_rows(hyperparameters),
        evaluation=evaluation,
        usage_id=getattr(args, "hub_model_id", None) or "path/to/this/model",
        training_scale=info.get("training_scale", "the data listed above"),
        max_width=config.max_width,
        corpus_citations=("Corpora: " + "; ".join(references) + ".") if references else "",
    )


def render_model_card(
    model: Any, args: Any, eval_results: dict[str, dict[str, Any]], info: dict[str, Any] | None = None
) -> str:
    """The card's text (YAML metadata with ``model-index`` + Markdown)."""
    return build_model_card(model, args, eval_results, info).content


def write_model_card(
    output_dir: str | Path, model: Any, args: Any, eval_results: dict[str, dict[str, Any]], info: dict | None = None
) -> Path:
    """Render the card and write it to ``output_dir/README.md``."""
    path = Path(output_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    build_model_card(model, args, eval_results, info).save(path)
    return path


def card_arguments(args: Any) -> dict[str, Any]:
    """The training arguments a card shows, as JSON values (saved in ``training_log.json`` for `restate_model`)."""
    names = ("output_dir", "hub_model_id", *CARD_HYPERPARAMETERS, *LossSettings.names())
    return {name: _rounded(getattr(args, name)) for name in names if hasattr(args, name)}


def restate_model(model_dir: str | Path, results: dict[str, dict[str, Any]],
                  threshold_choice: dict[str, Any] | None = None, sources: list[str] | None = None) -> Path:
    """After a threshold chosen and test sets scored outside training (the benchmark protocols): check that the saved
    config holds the chosen threshold, then rewrite ``eval_results.json`` and the card from the facts the training
    run saved in ``training_log.json``. Raises `CardMismatchError` when the config, choice and scores disagree."""
    model_dir = Path(model_dir)
    saved = json.loads((model_dir / "training_log.json").read_text(encoding="utf-8")).get("card")
    if not saved:
        raise ValueError(f"{model_dir}/training_log.json holds no card facts (trained before they were saved)")
    info = dict(saved["info"])
    info["sources"] = [*info.get("sources", []), *(sources or [])]
    if threshold_choice is not None:
        info["threshold_choice"] = threshold_choice
    config = KoGNERConfig.from_pretrained(model_dir)
    model = SimpleNamespace(config=config, loss_settings=saved_loss_settings(model_dir))
    card = build_model_card(model, SimpleNamespace(**saved["args"]), results, info)  # checks before writing
    atomic_write_json(model_dir / "eval_results.json", results)
    card.save(model_dir / "README.md")
    return model_dir / "README.md"

