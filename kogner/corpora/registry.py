"""The registry of biomedical NER corpora (IOB files) and their label prompts, loaded as `datasets.Dataset`.

File layout: ``<data_dir>/<corpus>/{train,devel,test}.tsv``, one ``token<TAB>tag`` per line (IOB2),
a blank line between sentences, ``-DOCSTART-`` lines dropped. ``data_dir`` defaults to
``$KOGNER_DATA_DIR``, else ``../shared/data/benchmarks`` next to the repository. See `kogner.corpora.iob`
for the IOB repair rule.

Every registered corpus maps each of its tags to a natural-language **label prompt** (`CORPUS_TAGS`): the
model is trained and evaluated on prompts, never on tag names. Where the tag names differ between corpora but
mean the same (``Chemical``, ``CHEBI``, ``Simple_chemical``), they share one prompt. The prompts were written
from the corpus papers and from the tagged words themselves, not tuned on any score:

======================  ======================================================================================
corpus                  tag -> prompt
======================  ======================================================================================
ncbi_disease            Disease -> disease
bc5cdr                  Chemical -> chemical, Disease -> disease
bc2gm                   GENE -> gene
jnlpba                  protein -> protein, DNA -> DNA, RNA -> RNA, cell_line -> cell line, cell_type -> cell type
bc4chemd                Chemical -> chemical
bionlp09, bionlp11epi,  Protein -> protein  (gene and gene-product mentions annotated as proteins)
bionlp13ge, ex_ptm
bionlp11id              Protein -> protein, Organism -> organism, Chemical -> chemical,
                        Regulon-operon -> regulon or operon
bionlp13pc              Gene_or_gene_product -> gene or gene product, Simple_chemical -> chemical,
                        Complex -> protein complex, Cellular_component -> cellular component
craft                   GGP -> gene or gene product, Taxon -> organism, CHEBI -> chemical, CL -> cell type,
                        GO -> cellular component, SO -> sequence feature
======================  ======================================================================================

CRAFT's ``GO`` tag: in this conversion it marks Gene Ontology *cellular components* only (the most frequent
tagged words are antibody, membrane, chromosome, nuclear, mitochondrial, chromatin; process words such as
apoptosis or development are never tagged), hence "cellular component", the same prompt as BioNLP13-PC's
``Cellular_component``.

Every loaded example carries its source: ``corpus`` (the folder name) and ``annotated_labels`` (the prompts
that corpus annotates). A label that a corpus does not annotate is *unknown* for its sentences, not absent;
the training collator masks such span×label pairs out of the loss (see `kogner.training.collator`).

Bad input: a corpus folder that is missing is skipped with one warning line naming it (`load_corpora`);
a tag without a prompt raises `UnmappedTagError` naming the corpus, the tag and this module; an empty split
raises `EmptySplitError` naming the file.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value, load_dataset

from kogner.schema import NER_FEATURES, validate_dataset
from .iob import EmptySplitError, read_iob_file

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "benchmarks"

_PROTEIN = {"Protein": "protein"}
CORPUS_TAGS: dict[str, dict[str, str]] = {
    "ncbi_disease": {"Disease": "disease"},
    "bc5cdr": {"Chemical": "chemical", "Disease": "disease"},
    "bc2gm": {"GENE": "gene"},
    "jnlpba": {"protein": "protein", "DNA": "DNA", "RNA": "RNA", "cell_line": "cell line", "cell_type": "cell type"},
    "bc4chemd": {"Chemical": "chemical"},
    "bionlp09": dict(_PROTEIN),
    "bionlp11epi": dict(_PROTEIN),
    "bionlp11id": {"Protein": "protein", "Organism": "organism", "Chemical": "chemical",
                   "Regulon-operon": "regulon or operon"},
    "bionlp13ge": dict(_PROTEIN),
    "bionlp13pc": {"Gene_or_gene_product": "gene or gene product", "Simple_chemical": "chemical",
                   "Complex": "protein complex", "Cellular_component": "cellular component"},
    "craft": {"GGP": "gene or gene product", "Taxon": "organism", "CHEBI": "chemical", "CL": "cell type",
              "GO": "cellular component", "SO": "sequence feature"},
    "ex_ptm": dict(_PROTEIN),
}
"""Corpus folder -> {IOB tag suffix -> label prompt}. The single place where a corpus' tags get their prompts."""

CORPUS_LABELS: dict[str, list[str]] = {
    corpus: list(dict.fromkeys(tags.values())) for corpus, tags in CORPUS_TAGS.items()
}
"""Corpus -> the label prompts it annotates (its ``annotated_labels``), in tag order."""

EVALUATION_CORPORA = ("ncbi_disease", "bc5cdr", "bc2gm", "jnlpba", "bc4chemd")
"""The corpora of the KoGNER paper's evaluation; the ``benchmarks`` keyword of ``--test_data`` expands to them."""
ADDED_CORPORA = ("bionlp09", "bionlp11epi", "bionlp11id", "bionlp13ge", "bionlp13pc", "craft", "ex_ptm")
"""Further annotated corpora, used as training data by the zero-shot protocol (never evaluated there)."""

BENCHMARK_TAGS: dict[str, list[str]] = {corpus: list(CORPUS_TAGS[corpus]) for corpus in EVALUATION_CORPORA}
BENCHMARK_LABELS: dict[str, list[str]] = {corpus: CORPUS_LABELS[corpus] for corpus in EVALUATION_CORPORA}
"""Evaluation corpus -> the labels (prompts) a model is asked for when evaluating on it."""

TAG_TO_LABEL: dict[str, str] = {tag: label for corpus in EVALUATION_CORPORA for tag, label in CORPUS_TAGS[corpus].items()}
"""Tag -> prompt for folders that are not registered (a corpus path): unlisted tags get ``_`` -> space."""

SOURCE_FEATURES = Features({**NER_FEATURES, "corpus": Value("string"), "annotated_labels": List(Value("string"))})
"""The schema plus each example's source: ``corpus`` and the ``annotated_labels`` of that source."""

SPLIT_FILES: dict[str, str] = {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}
_SPLIT_ALIASES = {"dev": "validation", "devel": "validation", "valid": "validation"}


class UnmappedTagError(ValueError):
    """A registered corpus uses a tag that has no label prompt in `CORPUS_TAGS`."""


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir``, else ``$KOGNER_DATA_DIR``, else ``../shared/data/benchmarks`` beside the repository."""
    if data_dir is not None:
        return Path(data_dir)
    from_env = os.environ.get("KOGNER_DATA_DIR")
    return Path(from_env) if from_env else DEFAULT_DATA_DIR


def tag_label(tag_type: str, label_map: Mapping[str, str] | None = None) -> str:
    """Prompt of a tag of an unregistered folder (``cell_line`` -> ``cell line``); ``label_map`` overrides."""
    mapping = TAG_TO_LABEL if label_map is None else {**TAG_TO_LABEL, **label_map}
    return mapping.get(tag_type, tag_type.replace("_", " "))


def corpus_tag_label(corpus: str, label_map: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """The strict tag -> prompt function of a registered corpus; an unmapped tag raises `UnmappedTagError`."""
    mapping = {**CORPUS_TAGS[corpus], **(label_map or {})}

    def label_of(tag_type: str) -> str:
        if tag_type not in mapping:
            raise UnmappedTagError(
                f"corpus {corpus!r}: tag {tag_type!r} has no label prompt; add it to CORPUS_TAGS[{corpus!r}] in "
                f"{Path(__file__).relative_to(REPO_ROOT)} (known tags: {', '.join(CORPUS_TAGS[corpus])}) or pass "
                "label_map={tag: prompt}"
            )
        return mapping[tag_type]

    return label_of


def canonical_split(split: str) -> str:
    """``dev``/``devel``/``valid`` -> ``validation``; anything but train/validation/test raises ``ValueError``."""
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
    """One split of a corpus in the KoGNER schema (``tokens``, ``ner``, ``kge``).

    Args:
        name: a registered corpus folder name (`CORPUS_TAGS`), a local corpus folder path, or a Hugging Face
            Hub dataset id (``user/repo``) already in the KoGNER schema.
        split: ``train``, ``validation`` (file ``devel.tsv``) or ``test``.
        data_dir: folder holding one sub-folder per corpus; see `resolve_data_dir`.
        label_map: extra or overriding tag -> prompt entries.

    Raises:
        FileNotFoundError: the split file is absent (the message says where it goes).
        UnmappedTagError: a registered corpus uses a tag without a prompt.
        EmptySplitError: the split file holds no sentence.
    """
    split = canonical_split(split)
    if _is_hub_id(name):
        dataset = load_dataset(name, split=split)
        validate_dataset(dataset)
        return dataset.select_columns(list(NER_FEATURES)).cast(NER_FEATURES)
    corpus_dir = Path(name) if Path(name).is_dir() else resolve_data_dir(data_dir) / name
    path = corpus_dir / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(
            f"benchmark {name!r} split {split!r} not found: expected the IOB file {path} "
            f"(token<TAB>tag per line, blank line between sentences; files train.tsv, devel.tsv, test.tsv "
            f"in {corpus_dir}). Set the folder with data_dir=/--data-dir or KOGNER_DATA_DIR (known corpora: "
            f"{', '.join(CORPUS_TAGS)}), or pass a Hub dataset id ('user/repo') in the KoGNER schema instead."
        )
    registered = name if name in CORPUS_TAGS else None
    label_of = corpus_tag_label(registered, label_map) if registered else (lambda tag: tag_label(tag, label_map))
    try:
        return read_iob_file(path, label_of)
    except EmptySplitError as error:
        raise EmptySplitError(f"corpus {name!r} split {split!r}: {error}") from None


def with_source(dataset: Dataset, corpus: str, annotated_labels: Sequence[str]) -> Dataset:
    """``dataset`` (schema columns) plus ``corpus`` and ``annotated_labels`` columns, cast to `SOURCE_FEATURES`.

    The gold labels found in ``dataset`` are added to ``annotated_labels``: a type a source annotates once is
    a type it annotates.
    """
    found = sorted({span["label"] for spans in dataset["ner"] for span in spans} - set(annotated_labels))
    annotated = list(annotated_labels) + found
    dataset = dataset.select_columns(list(NER_FEATURES))
    dataset = dataset.add_column("corpus", [corpus] * len(dataset))
    dataset = dataset.add_column("annotated_labels", [annotated] * len(dataset))
    return dataset.cast(SOURCE_FEATURES)


def load_corpus(
    name: str, split: str, data_dir: str | os.PathLike[str] | None = None, label_map: Mapping[str, str] | None = None
) -> Dataset:
    """One split of a corpus with its source columns ``corpus`` and ``annotated_labels`` (`SOURCE_FEATURES`)."""
    dataset = load_benchmark(name, split, data_dir, label_map)
    labels = CORPUS_LABELS.get(name, [])
    if label_map and name in CORPUS_TAGS:
        labels = list(dict.fromkeys({**CORPUS_TAGS[name], **label_map}.values()))
    return with_source(dataset, name if name in CORPUS_TAGS else Path(name).name, labels)


def load_corpora(
    names: Sequence[str], split: str, data_dir: str | os.PathLike[str] | None = None
) -> dict[str, Dataset]:
    """Several registered corpora (one split each) by name; a corpus whose folder is missing is skipped with one
    warning line naming it. A present folder without the split file raises `FileNotFoundError`."""
    root = resolve_data_dir(data_dir)
    loaded: dict[str, Dataset] = {}
    for name in names:
        if not (root / name).is_dir():
            logger.warning("corpus %s: folder %s is missing, skipped", name, root / name)
            continue
        loaded[name] = load_corpus(name, split, root)
    return loaded


def available_corpora(
    data_dir: str | os.PathLike[str] | None = None, corpora: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """Registered corpora present under ``data_dir`` (all of `CORPUS_TAGS` by default) -> their split files."""
    root = resolve_data_dir(data_dir)
    found: dict[str, list[str]] = {}
    for corpus in CORPUS_TAGS if corpora is None else corpora:
        splits = [split for split, file_name in SPLIT_FILES.items() if (root / corpus / file_name).is_file()]
        if splits:
            found[corpus] = splits
    return found


def available_benchmarks(data_dir: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """The evaluation corpora (`EVALUATION_CORPORA`) present under ``data_dir`` -> their split files."""
    return available_corpora(data_dir, EVALUATION_CORPORA)


def benchmark_stats(dataset: Dataset) -> dict[str, Any]:
    """Sentences, entities and entities per label of a schema dataset."""
    per_label: Counter[str] = Counter()
    for spans in dataset["ner"]:
        per_label.update(span["label"] for span in spans)
    return {"sentences": len(dataset), "entities": sum(per_label.values()), "per_label": dict(sorted(per_label.items()))}
