"""Resolve the datasets named on the command line (corpora, generated KG data, Hub ids) in the one schema.

A source is ``NAME[:SPLIT]`` where NAME is a registered corpus (``ncbi_disease``, ``bc5cdr``, ``craft``, ``biored``,
... see `kogner.corpora.registry`), a directory written by ``make_bmg_dataset.py`` (``DatasetDict.save_to_disk``), a
GLiNER ``.json``/``.jsonl`` file, a PubTator file (``*.pubtator``, one split per file), or a Hub dataset id in the
schema. A registered corpus whose folder is missing is skipped with one warning line.

PubTator sources (BioRED, a ``.pubtator`` file) are filtered by document before training or tuning on them:
documents that share a sentence with the ``overlap_with`` corpora are dropped and counted
(`kogner.corpora.overlap`); by default, for any split but ``test``, the test splits of the evaluation corpora.

Training mixes carry each example's source (`SOURCE_FEATURES`): ``corpus`` and ``annotated_labels``, the types
that source annotates. For a corpus these are its registered prompts; for a saved or Hub dataset, every type
found in any of its splits (a generated KG dataset: the KG's entity types).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from datasets import Dataset, DatasetDict, concatenate_datasets, interleave_datasets, load_from_disk

from kogner.schema import NER_FEATURES, SCHEMA_DESCRIPTION, dataset_labels, validate_dataset

from .gliner_format import is_gliner_file, load_gliner
from .overlap import DEFAULT_REFERENCES, drop_overlapping
from .pubtator import is_pubtator_file, read_pubtator
from .registry import (
    CORPUS_LABELS, PUBTATOR_CORPORA, SOURCE_FEATURES, available_evaluation_corpora, canonical_split, corpus_folder,
    load_corpus_split, pubtator_corpus_dataset, pubtator_documents, resolve_data_dir, with_source,
)

logger = logging.getLogger(__name__)
BENCHMARKS_KEYWORD = "benchmarks"


def split_source(source: str, default_split: str) -> tuple[str, str]:
    """``"bc5cdr:test"`` -> ``("bc5cdr", "test")``; no suffix gives ``default_split``."""
    name, separator, split = source.rpartition(":")
    return (name, split) if separator and name and split else (source, default_split)


def _saved_dataset(path: Path, split: str) -> Dataset:
    if is_gliner_file(path):  # GLiNER's JSON (tokenized_text + ner), one split per file: taken as is
        return load_gliner(path)
    loaded = load_from_disk(str(path))
    if isinstance(loaded, DatasetDict):
        if split not in loaded:
            raise ValueError(f"{path} has splits {sorted(loaded)}, not {split!r}")
        return loaded[split]
    return loaded


def load_pubtator_source(
    name: str, split: str, data_dir: str | None = None, overlap_with: Sequence[str] | None = None
) -> Dataset:
    """A registered PubTator corpus or a PubTator file as a schema dataset, without the documents that share a
    sentence with ``overlap_with`` (``NAME`` = every split, ``NAME:SPLIT``; ``None``: `DEFAULT_REFERENCES` unless
    ``split`` is ``test``, where nothing is dropped; ``[]``: nothing)."""
    if overlap_with is None:
        overlap_with = () if canonical_split(split) == "test" else DEFAULT_REFERENCES
    where = f"{name}:{split}"
    documents = pubtator_documents(name, split, data_dir) if name in PUBTATOR_CORPORA else list(read_pubtator(name))
    if overlap_with:
        documents, _ = drop_overlapping(documents, overlap_with, data_dir, where)
    return pubtator_corpus_dataset(name if name in PUBTATOR_CORPORA else Path(name).name, documents, where=where)


def load_source(
    source: str, default_split: str, data_dir: str | None = None, overlap_with: Sequence[str] | None = None
) -> tuple[Dataset, list[str]]:
    """Load one source as a schema dataset, with the labels to prompt for when evaluating on it.

    ``overlap_with``: for a PubTator source, see `load_pubtator_source`; ignored for the others.
    """
    name, split = split_source(source, default_split)
    if name in PUBTATOR_CORPORA or is_pubtator_file(name):
        dataset = load_pubtator_source(name, split, data_dir, overlap_with)
        labels = list(CORPUS_LABELS[name]) if name in PUBTATOR_CORPORA else dataset_labels(dataset)
        return dataset, labels
    if name in CORPUS_LABELS:
        return load_corpus_split(name, split, data_dir=data_dir), list(CORPUS_LABELS[name])
    path = Path(name)
    dataset = _saved_dataset(path, split) if path.exists() else load_corpus_split(name, split, data_dir=data_dir)
    return conform(dataset, source), dataset_labels(dataset)


def missing_corpus(source: str, data_dir: str | None = None) -> bool:
    """True (after one warning line naming it) when ``source`` is a registered corpus whose folder is missing."""
    name, _ = split_source(source, "train")
    folder = corpus_folder(name, data_dir)
    if name in CORPUS_LABELS and not Path(name).exists() and not folder.is_dir():
        logger.warning("corpus %s: folder %s is missing, skipped", name, folder)
        return True
    return False


def source_annotations(source: str, loaded: Dataset) -> tuple[str, list[str]]:
    """``(corpus name, annotated labels)`` of a source: a corpus' registered prompts, else every type in any split
    of a saved dataset (a generated KG dataset: its entity types), else the types in ``loaded``."""
    name, _ = split_source(source, "train")
    if name in CORPUS_LABELS:
        return name, list(CORPUS_LABELS[name])
    path = Path(name)
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        splits = load_from_disk(str(path))
        return path.name, sorted({label for part in splits.values() for label in dataset_labels(part)})
    return (path.name if path.exists() else name), dataset_labels(loaded)


def load_source_with_annotations(
    source: str, default_split: str, data_dir: str | None = None, overlap_with: Sequence[str] | None = None
) -> Dataset:
    """One source with its ``corpus`` and ``annotated_labels`` columns (`SOURCE_FEATURES`); a dataset that already
    has them (a saved mix) keeps its own. ``overlap_with``: as `load_source`."""
    name, split = split_source(source, default_split)
    path = Path(name)
    if name not in CORPUS_LABELS and path.exists() and not is_pubtator_file(path):
        raw = _saved_dataset(path, split)
        if {"corpus", "annotated_labels"} <= set(raw.column_names):
            conform(raw, source)  # checks the schema columns
            return raw.select_columns(list(SOURCE_FEATURES)).cast(SOURCE_FEATURES)
    dataset = conform(load_source(source, default_split, data_dir, overlap_with)[0], source)
    return with_source(dataset, *source_annotations(source, dataset))


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


def parse_source_weights(items: Sequence[str]) -> dict[str, float]:
    """``["runs/data-disjoint=3", ...]`` -> ``{"runs/data-disjoint": 3.0}``; a malformed item raises naming it."""
    weights: dict[str, float] = {}
    for item in items:
        source, separator, value = item.rpartition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not separator or not source or not weight > 0:
            raise ValueError(f"--train_weights item {item!r}: expected SOURCE=WEIGHT with a weight > 0, "
                             "e.g. runs/data-disjoint=3")
        weights[source] = weight
    return weights


def load_training_mix(
    sources: Sequence[str], data_dir: str | None = None, seed: int = 0, weights: Mapping[str, float] | None = None,
    overlap_with: Sequence[str] | None = None,
) -> Dataset:
    """The train splits of several sources, with their ``corpus`` and ``annotated_labels`` columns, shuffled with
    ``seed``. Registered corpora whose folder is missing are skipped (one line each).

    Without ``weights`` the sources are concatenated, so each is sampled in proportion to its size. With
    ``weights`` ({source: w}, default 1) a source is sampled with probability proportional to ``w x its size``
    (`datasets.interleave_datasets`, until every source has been seen whole): ``runs/data-disjoint=3`` makes the
    generated KG data, the only source of some entity types, three times as frequent as its size alone would.

    ``overlap_with``: the corpora no PubTator training document may share a sentence with (`load_pubtator_source`;
    train.py's ``--drop_documents_shared_with``): a zero-shot run names every split of its evaluated corpora
    (``["ncbi_disease", "bc5cdr", ...]``); the default (``None``) is the test splits of the evaluation corpora
    (supervised protocol, release model).
    """
    if not sources:
        raise ValueError("no training data: pass --train_data with at least one source")
    unknown = sorted(set(weights or {}) - set(sources))
    if unknown:
        raise ValueError(f"--train_weights names source(s) not in --train_data: {', '.join(unknown)} "
                         f"(train_data: {', '.join(sources)})")
    present = [source for source in sources if not missing_corpus(source, data_dir)]
    parts = [load_source_with_annotations(source, "train", data_dir, overlap_with) for source in present]
    if not parts:
        raise ValueError(f"no training data: every source of --train_data ({', '.join(sources)}) is missing; "
                         f"corpora are read from {resolve_data_dir(data_dir)} (--data_dir or KOGNER_DATA_DIR)")
    if not weights:
        return concatenate_datasets(parts).shuffle(seed=seed)
    masses = [weights.get(source, 1.0) * len(part) for source, part in zip(present, parts)]
    probabilities = [mass / sum(masses) for mass in masses]
    logger.info("training mix sampled by weight: %s", ", ".join(
        f"{source} {100 * probability:.1f}%" for source, probability in zip(present, probabilities)))
    shuffled = [part.shuffle(seed=seed + number) for number, part in enumerate(parts)]
    return interleave_datasets(shuffled, probabilities=probabilities, seed=seed, stopping_strategy="all_exhausted")


def resolve_eval_sets(
    sources: Sequence[str] | None, data_dir: str | None = None, default_split: str = "test",
    overlap_with: Sequence[str] | None = None,
) -> dict[str, tuple[Dataset, list[str]]]:
    """Evaluation sets by display name.

    ``None``, or the word ``benchmarks`` among the sources, stands for every evaluation corpus
    (`kogner.corpora.registry.EVALUATION_CORPORA`) present in ``data_dir`` that has ``default_split``. A named
    registered corpus whose folder is missing is skipped with one warning line. ``overlap_with``: the document
    filter of PubTator sources (`load_pubtator_source`), e.g. a zero-shot protocol's evaluated corpora for its
    BioRED dev set.
    """
    present = [name for name, splits in available_evaluation_corpora(data_dir).items() if default_split in splits]
    expanded: list[str] = []
    for source in [BENCHMARKS_KEYWORD] if sources is None else sources:
        expanded.extend(present if source == BENCHMARKS_KEYWORD else [source])
    eval_sets: dict[str, tuple[Dataset, list[str]]] = {}
    for source in expanded:
        if missing_corpus(source, data_dir):
            continue
        name, split = split_source(source, default_split)
        dataset, labels = load_source(source, default_split, data_dir, overlap_with)
        eval_sets[f"{Path(name).name}:{split}"] = (dataset, labels)
    return eval_sets


def label_pool(datasets: Sequence[Any]) -> list[str]:
    """Every entity type found in the given schema datasets, sorted (the pool for negative labels)."""
    labels: set[str] = set()
    for dataset in datasets:
        labels.update(dataset_labels(dataset))
    return sorted(labels)
