"""Resolve the datasets named on the command line (benchmarks, generated KG data, Hub ids) in the one schema.

A source is ``NAME[:SPLIT]`` where NAME is a benchmark corpus (``ncbi_disease``, ``bc5cdr``, ``bc2gm``,
``jnlpba``, ``bc4chemd``), a directory written by ``make_bmg_dataset.py`` (``DatasetDict.save_to_disk``), or a
Hub dataset id in the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk

from kogner.schema import NER_FEATURES, SCHEMA_DESCRIPTION, dataset_labels, validate_dataset

from .registry import BENCHMARK_LABELS, available_benchmarks, load_benchmark

BENCHMARKS_KEYWORD = "benchmarks"


def split_source(source: str, default_split: str) -> tuple[str, str]:
    """``"bc5cdr:test"`` -> ``("bc5cdr", "test")``; no suffix gives ``default_split``."""
    name, separator, split = source.rpartition(":")
    return (name, split) if separator and name and split else (source, default_split)


def _saved_dataset(path: Path, split: str) -> Dataset:
    loaded = load_from_disk(str(path))
    if isinstance(loaded, DatasetDict):
        if split not in loaded:
            raise ValueError(f"{path} has splits {sorted(loaded)}, not {split!r}")
        return loaded[split]
    return loaded


def load_source(source: str, default_split: str, data_dir: str | None = None) -> tuple[Dataset, list[str]]:
    """Load one source as a schema dataset, with the labels to prompt for when evaluating on it."""
    name, split = split_source(source, default_split)
    if name in BENCHMARK_LABELS:
        return load_benchmark(name, split, data_dir=data_dir), list(BENCHMARK_LABELS[name])
    path = Path(name)
    dataset = _saved_dataset(path, split) if path.exists() else load_benchmark(name, split, data_dir=data_dir)
    return conform(dataset, source), dataset_labels(dataset)


def conform(dataset: Dataset, source: str) -> Dataset:
    """Check the schema columns (adding an empty ``kge`` when missing) and keep only the schema's columns."""
    missing = [column for column in ("tokens", "ner") if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"dataset {source!r} lacks the column(s) {missing}; expected {SCHEMA_DESCRIPTION}"
        )
    if "kge" not in dataset.column_names:
        dataset = dataset.add_column("kge", [[] for _ in range(len(dataset))])
    dataset = dataset.select_columns(list(NER_FEATURES))
    try:
        dataset = dataset.cast(NER_FEATURES)  # e.g. int64 word indices from another tool
    except (TypeError, ValueError) as error:
        raise ValueError(f"dataset {source!r} does not fit the schema ({error}); expected {SCHEMA_DESCRIPTION}") from error
    validate_dataset(dataset)
    return dataset


def load_training_mix(sources: Sequence[str], data_dir: str | None = None, seed: int = 0) -> Dataset:
    """Concatenate the train splits of several sources and shuffle them with ``seed``."""
    if not sources:
        raise ValueError("no training data: pass --train_data with at least one source")
    parts = [conform(load_source(source, "train", data_dir)[0], source) for source in sources]
    return concatenate_datasets(parts).shuffle(seed=seed)


def resolve_eval_sets(
    sources: Sequence[str] | None, data_dir: str | None = None, default_split: str = "test"
) -> dict[str, tuple[Dataset, list[str]]]:
    """Evaluation sets by display name.

    ``None``, or the word ``benchmarks`` among the sources, stands for every benchmark corpus present in
    ``data_dir`` that has ``default_split``.
    """
    present = [name for name, splits in available_benchmarks(data_dir).items() if default_split in splits]
    expanded: list[str] = []
    for source in [BENCHMARKS_KEYWORD] if sources is None else sources:
        expanded.extend(present if source == BENCHMARKS_KEYWORD else [source])
    eval_sets: dict[str, tuple[Dataset, list[str]]] = {}
    for source in expanded:
        name, split = split_source(source, default_split)
        dataset, labels = load_source(source, default_split, data_dir)
        eval_sets[f"{Path(name).name}:{split}"] = (dataset, labels)
    return eval_sets


def label_pool(datasets: Sequence[Any]) -> list[str]:
    """Every entity type found in the given schema datasets, sorted (the pool for negative labels)."""
    labels: set[str] = set()
    for dataset in datasets:
        labels.update(dataset_labels(dataset))
    return sorted(labels)
