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

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, load_dataset

if __package__ in (None, ""):  # run as `python data_scripts/benchmarks.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_scripts.kg_types import KnowledgeGraph
from data_scripts.schema import NER_FEATURES, validate_dataset
from data_scripts.words import normalize_mention

REPO_ROOT = Path(__file__).resolve().parents[1]
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
DOCSTART = "-DOCSTART-"


class IOBFormatError(ValueError):
    """An IOB file line that cannot be read; the message names file:line and the reason."""


@dataclass
class IOBSentence:
    tokens: list[str]
    tags: list[str]
    first_line: int


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


def read_iob_sentences(path: str | os.PathLike[str]) -> Iterator[IOBSentence]:
    """Sentences of an IOB file; raises `IOBFormatError` with file:line on malformed lines."""
    path = Path(path)
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for line_number, raw_line in enumerate(handle, start=1):
            line = raw_line.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    yield IOBSentence(tokens, tags, first_line)
                    tokens, tags = [], []
                continue
            columns = line.split("\t")
            if len(columns) != 2:
                raise IOBFormatError(
                    f"{path}:{line_number}: expected 2 tab-separated columns (token<TAB>tag), "
                    f"found {len(columns)}: {line!r:.120}"
                )
            token, tag = columns[0].strip(), columns[1].strip()
            if token == DOCSTART:
                if tokens:  # a document start also ends the sentence before it
                    yield IOBSentence(tokens, tags, first_line)
                    tokens, tags = [], []
                continue
            if not token:
                raise IOBFormatError(f"{path}:{line_number}: empty token before the tab")
            if tag != "O" and not (len(tag) > 2 and tag[:2] in ("B-", "I-")):
                raise IOBFormatError(f"{path}:{line_number}: tag {tag!r} is not O, B-<type> or I-<type>")
            if not tokens:
                first_line = line_number
            tokens.append(token)
            tags.append(tag)
    if tokens:  # last sentence without a closing blank line
        yield IOBSentence(tokens, tags, first_line)


def iob_to_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end inclusive, type) spans; ``I-X`` after ``O`` or another type starts an entity (conlleval)."""
    spans: list[tuple[int, int, str]] = []
    current: list[Any] | None = None  # [start, end, type]
    for position, tag in enumerate(tags):
        if tag == "O":
            current = None
            continue
        prefix, tag_type = tag[:2], tag[2:]
        if prefix == "I-" and current is not None and current[2] == tag_type:
            current[1] = position
            continue
        current = [position, position, tag_type]
        spans.append(current)  # type: ignore[arg-type]
    return [(start, end, tag_type) for start, end, tag_type in spans]


def read_iob_file(path: str | os.PathLike[str], label_map: Mapping[str, str] | None = None) -> Dataset:
    """An IOB file as a `Dataset` in the KoGNER schema (``kge`` empty)."""
    records = []
    for sentence in read_iob_sentences(path):
        ner = [
            {"start": start, "end": end, "label": tag_label(tag_type, label_map)}
            for start, end, tag_type in iob_to_spans(sentence.tags)
        ]
        records.append({"tokens": sentence.tokens, "ner": ner, "kge": []})
    return Dataset.from_list(records, features=NER_FEATURES)


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
    return read_iob_file(path, label_map)


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


def link_mentions(
    dataset: Dataset, kg: KnowledgeGraph, require_type_match: bool = False
) -> tuple[Dataset, dict[str, Any]]:
    """Attach ``kge`` links to ``ner`` mentions whose normalized text equals a KG name or synonym.

    Normalization: the project's word splitting, case-folded, words joined by spaces. When several
    nodes match, a node whose type equals the mention's label wins, then a name match beats a
    synonym match, then the lower node row. With ``require_type_match`` only same-type nodes link.
    Existing ``kge`` entries are replaced. Returns the new dataset and a report with the share linked.
    """
    lookup: dict[str, list[tuple[int, int]]] = {}  # normalized text -> [(is_synonym, row)]
    for row in range(kg.num_nodes):
        for is_synonym, text in [(0, kg.names[row])] + [(1, synonym) for synonym in kg.synonyms[row]]:
            key = normalize_mention(text)
            if key:
                lookup.setdefault(key, []).append((is_synonym, row))

    mentions = linked = ambiguous = 0
    per_label_total: Counter[str] = Counter()
    per_label_linked: Counter[str] = Counter()
    records = []
    for example in dataset.select_columns(list(NER_FEATURES)).to_list():
        links = []
        for span in example["ner"]:
            mentions += 1
            per_label_total[span["label"]] += 1
            candidates = lookup.get(normalize_mention(" ".join(example["tokens"][span["start"] : span["end"] + 1])), [])
            if require_type_match:
                candidates = [c for c in candidates if kg.types[c[1]] == span["label"]]
            if not candidates:
                continue
            if len({row for _, row in candidates}) > 1:
                ambiguous += 1
            _, _, best_row = min((kg.types[row] != span["label"], is_synonym, row) for is_synonym, row in candidates)
            links.append({"start": span["start"], "end": span["end"], "kg_id": kg.node_ids[best_row]})
            linked += 1
            per_label_linked[span["label"]] += 1
        records.append({**example, "kge": links})
    report = {
        "mentions": mentions,
        "linked": linked,
        "share_linked": linked / mentions if mentions else 0.0,
        "ambiguous": ambiguous,
        "per_label": {
            label: {"mentions": total, "linked": per_label_linked[label], "share_linked": per_label_linked[label] / total}
            for label, total in sorted(per_label_total.items())
        },
    }
    return Dataset.from_list(records, features=NER_FEATURES), report


def _print_stats(data_dir: str | None) -> int:
    root = resolve_data_dir(data_dir)
    print(f"benchmark corpora under {root}")
    present = available_benchmarks(root)
    for corpus in BENCHMARK_TAGS:
        if corpus not in present:
            print(f"\n{corpus}: absent (put train.tsv/devel.tsv/test.tsv in {root / corpus})")
            continue
        print(f"\n{corpus} (labels: {', '.join(BENCHMARK_LABELS[corpus])})")
        for split in SPLIT_FILES:
            if split not in present[corpus]:
                print(f"  {split:<10} absent ({root / corpus / SPLIT_FILES[split]})")
                continue
            stats = benchmark_stats(load_benchmark(corpus, split, data_dir=root))
            per_label = ", ".join(f"{label} {count}" for label, count in stats["per_label"].items())
            print(f"  {split:<10} {stats['sentences']:>6} sentences {stats['entities']:>6} entities  ({per_label})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stats", action="store_true", help="print sentences and entities per split and per type")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder with one sub-folder per corpus (default: $KOGNER_DATA_DIR, else ../shared/data/benchmarks)",
    )
    args = parser.parse_args(argv)
    if not args.stats:
        parser.print_help()
        return 2
    return _print_stats(args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
