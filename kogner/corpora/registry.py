"""Biomedical NER benchmark corpora (IOB files) as `datasets.Dataset` in the KoGNER schema.

File layout: ``<data_dir>/<corpus>/{train,devel,test}.tsv``, one ``token<TAB>tag`` per line (IOB2),
a blank line between sentences, ``-DOCSTART-`` lines dropped. ``data_dir`` defaults to
``$KOGNER_DATA_DIR``, else ``../shared/data/benchmarks`` next to the repository.

IOB repair rule (as conlleval): an ``I-X`` tag after ``O``, at a sentence start, or after a tag of
another type starts a new entity of type ``X``. Anything else malformed (wrong column count,
unknown tag) stops with ``file:line`` and the reason. CRLF line ends and a last sentence without a
closing blank line are accepted.

Run ``python data_scripts/benchmarks.py --stats`` to print sentence/entity counts per split and type.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset, load_dataset

from kogner.schema import NER_FEATURES, validate_dataset
from .iob import read_iob_file

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "benchmarks"

TAG_TO_LABEL: dict[str, str] = {
    "Disease": "disease",
    "Chemical": "chemical",
    "GENE": "gene",
    "protein": "protein",
    "DNA": "DNA",
    "RNA": "RNA",
    "cell_line": "cell line",
    "cell_type": "cell type",
}
"""IOB tag suffix -> natural-language label used as the prompt. Unlisted tags: ``_`` becomes a space."""

BENCHMARK_TAGS: dict[str, list[str]] = {
    "ncbi_disease": ["Disease"],
    "bc5cdr": ["Chemical", "Disease"],
    "bc2gm": ["GENE"],
    "jnlpba": ["protein", "DNA", "RNA", "cell_line", "cell_type"],
    "bc4chemd": ["Chemical"],
}
BENCHMARK_LABELS: dict[str, list[str]] = {
    corpus: [TAG_TO_LABEL[tag] for tag in tags] for corpus, tags in BENCHMARK_TAGS.items()
}
"""Corpus -> the labels (prompts) a model is asked for when evaluating on it."""

SPLIT_FILES: dict[str, str] = {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}
_SPLIT_ALIASES = {"dev": "validation", "devel": "validation", "valid": "validation"}
def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir``, else ``$KOGNER_DATA_DIR``, else ``../shared/data/benchmarks`` beside the repository."""
    if data_dir is not None:
        return Path(data_dir)
    from_env = os.environ.get("KOGNER_DATA_DIR")
    return Path(from_env) if from_env else DEFAULT_DATA_DIR


def tag_label(tag_type: str, label_map: Mapping[str, str] | None = None) -> str:
    """Natural-language label of an IOB tag type (``cell_line`` -> ``cell line``)."""
    mapping = TAG_TO_LABEL if label_map is None else {**TAG_TO_LABEL, **label_map}
    return mapping.get(tag_type, tag_type.replace("_", " "))


def _canonical_split(split: str) -> str:
    split = _SPLIT_ALIASES.get(split, split)
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}: expected one of {sorted(SPLIT_FILES)} (or 'dev'/'devel')")
    return split


def _is_hub_id(name: str) -> bool:
    return "/" in name and not Path(name).exists()


def load_benchmark(
    name: str,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    label_map: Mapping[str, str] | None = None,
) -> Dataset:
    """One split of a benchmark corpus in the KoGNER schema.

    Args:
        name: a corpus folder name (``ncbi_disease``, ``bc5cdr``, ``bc2gm``, ``jnlpba``, ``bc4chemd``
            or any folder under ``data_dir`` with the same files), a local corpus folder path, or a
            Hugging Face Hub dataset id (``user/repo``) already in the KoGNER schema.
        split: ``train``, ``validation`` (file ``devel.tsv``) or ``test``.
        data_dir: folder holding one sub-folder per corpus; see `resolve_data_dir`.
        label_map: overrides of `TAG_TO_LABEL` (tag suffix -> label).
    """
    split = _canonical_split(split)
    if _is_hub_id(name):
        dataset = load_dataset(name, split=split)
        validate_dataset(dataset)
        return dataset.select_columns(list(NER_FEATURES)).cast(NER_FEATURES)
    corpus_dir = Path(name) if Path(name).is_dir() else resolve_data_dir(data_dir) / name
    path = corpus_dir / SPLIT_FILES[split]
    if not path.is_file():
        known = ", ".join(BENCHMARK_TAGS)
        raise FileNotFoundError(
            f"benchmark {name!r} split {split!r} not found: expected the IOB file {path} "
            f"(token<TAB>tag per line, blank line between sentences; files train.tsv, devel.tsv, test.tsv "
            f"in {corpus_dir}). Set the folder with data_dir=/--data-dir or KOGNER_DATA_DIR (known corpora: "
            f"{known}), or pass a Hub dataset id ('user/repo') in the KoGNER schema instead."
        )
    return read_iob_file(path, lambda tag_type: tag_label(tag_type, label_map))


def available_benchmarks(data_dir: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Known corpora present under ``data_dir`` -> the splits whose files exist (absent corpora left out)."""
    root = resolve_data_dir(data_dir)
    found: dict[str, list[str]] = {}
    for corpus in BENCHMARK_TAGS:
        splits = [split for split, file_name in SPLIT_FILES.items() if (root / corpus / file_name).is_file()]
        if splits:
            found[corpus] = splits
    return found


def benchmark_stats(dataset: Dataset) -> dict[str, Any]:
    """Sentences, entities and entities per label of a schema dataset."""
    per_label: Counter[str] = Counter()
    for spans in dataset["ner"]:
        per_label.update(span["label"] for span in spans)
    return {"sentences": len(dataset), "entities": sum(per_label.values()), "per_label": dict(sorted(per_label.items()))}


