"""The `train.py` / ``kogner-train`` command line: YAML config + command-line overrides -> `run_training`.

``--config FILE`` (or ``--config=FILE``) names a flat YAML mapping of option names to values; it sets the
defaults, and any option given on the command line overrides it. A YAML key that is not an option is an
error naming the key. Run ``python train.py --help`` for every option.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml
from transformers import HfArgumentParser

from .arguments import DataArguments, KoGNERTrainingArguments, ModelArguments

ArgumentTuple = tuple[ModelArguments, DataArguments, KoGNERTrainingArguments]


def read_config(path: str, known: set[str]) -> dict[str, Any]:
    """The YAML mapping in ``path``; an unknown key raises ``ValueError`` naming it and the file."""
    config_path = Path(path)
    if not config_path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    values = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values, found {type(values).__name__}")
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown option(s) {', '.join(unknown)} (see `python train.py --help`)")
    return {key: value for key, value in values.items() if value is not None}


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser((ModelArguments, DataArguments, KoGNERTrainingArguments), description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML file with any of the options below (the command line overrides it)")
    return parser


def parse_arguments(argv: Sequence[str]) -> ArgumentTuple:
    """Parse ``--config`` (either form) and the command line, which overrides the file."""
    parser = build_parser()
    config_reader = argparse.ArgumentParser(add_help=False)
    config_reader.add_argument("--config")
    config, _ = config_reader.parse_known_args(list(argv))
    if config.config:
        known = {action.dest for action in parser._actions} - {"help", "config"}
        try:
            parser.set_defaults(**read_config(config.config, known))
        except (OSError, ValueError) as error:
            parser.error(str(error))
    model_args, data_args, training_args, _ = parser.parse_args_into_dataclasses(args=list(argv))
    return model_args, data_args, training_args


def train(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train, evaluate and save with the command-line options ``argv`` (`run_training`); the test results per set."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    model_args, data_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    from .pipeline import run_training

    return run_training(model_args, data_args, training_args)


def main(argv: Sequence[str] | None = None) -> int:
    """``kogner-train`` / ``train.py``: `train`, then the exit status 0 (the console script passes it to
    ``sys.exit``, which would print any other value and exit with status 1)."""
    train(argv)
    return 0
