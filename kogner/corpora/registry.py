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
biored (PubTator)       GeneOrGeneProduct -> gene, DiseaseOrPhenotypicFeature -> disease, ChemicalEntity ->
                        chemical, OrganismTaxon -> organism, SequenceVariant -> sequence variant,
                        CellLine -> cell line
======================  ======================================================================================

BioRED is a PubTator corpus (`PUBTATOR_CORPORA`, read by `kogner.corpora.pubtator`): files
``biored/{train,devel,test}.pubtator`` in ``data_dir`` or beside it (``../shared/data/biored``). Its mention
identifiers become ``kge`` links with the namespaces of `PUBTATOR_CORPORA` (``NCBIGene:3175``). It re-annotates
abstracts of BC5CDR and NCBI-disease: `kogner.corpora.mix` drops its documents that share a sentence with the
evaluated corpora before training on it (`kogner.corpora.overlap`).

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
from .pubtator import PubTatorDocument, pubtator_dataset, read_pubtator

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
    "biored": {"GeneOrGeneProduct": "gene", "DiseaseOrPhenotypicFeature": "disease", "ChemicalEntity": "chemical",
               "OrganismTaxon": "organism", "SequenceVariant": "sequence variant", "CellLine": "cell line"},
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

EVALUATION_CORPUS_TAGS: dict[str, list[str]] = {corpus: list(CORPUS_TAGS[corpus]) for corpus in EVALUATION_CORPORA}
EVALUATION_CORPUS_LABELS: dict[str, list[str]] = {corpus: CORPUS_LABELS[corpus] for corpus in EVALUATION_CORPORA}
"""Evaluation corpus -> the labels (prompts) a model is asked for when evaluating on it."""

TAG_TO_LABEL: dict[str, str] = {tag: label for corpus in EVALUATION_CORPORA for tag, label in CORPUS_TAGS[corpus].items()}
"""Tag -> prompt for folders that are not registered (a corpus path): unlisted tags get ``_`` -> space."""

PUBTATOR_CORPORA: dict[str, dict[str, str]] = {
    "biored": {"GeneOrGeneProduct": "NCBIGene", "DiseaseOrPhenotypicFeature": "MESH", "ChemicalEntity": "MESH",
               "OrganismTaxon": "NCBITaxon"},
}
"""Registered PubTator corpora -> {type -> namespace of its ids in ``kge``} (types absent keep their ids as
written: BioRED's cell lines are ``CVCL_...`` as in the KG, its variants rs ids or HGVS-like strings)."""
PUBTATOR_SPLIT_FILES: dict[str, str] = {"train": "train.pubtator", "validation": "devel.pubtator",
                                        "test": "test.pubtator"}

PUBTATOR_TYPE_LABELS: dict[str, str] = {
    **CORPUS_TAGS["biored"], "Gene": "gene", "Disease": "disease", "Chemical": "chemical", "Species": "organism",
    "CellLine": "cell line", "Mutation": "sequence variant", "DNAMutation": "sequence variant",
    "ProteinMutation": "sequence variant", "SNP": "sequence variant",
}
"""Type -> prompt of an unregistered PubTator file (BioRED's and PubTator Central's types); others as `tag_label`."""
PUBTATOR_TYPE_NAMESPACES: dict[str, str] = {**PUBTATOR_CORPORA["biored"], "Gene": "NCBIGene", "Species": "NCBITaxon"}

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


def corpus_folder(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of a registered corpus: ``<data_dir>/<name>``; a PubTator corpus (`PUBTATOR_CORPORA`) not there
    is looked for beside ``data_dir`` (``../shared/data/biored`` next to ``../shared/data/benchmarks``)."""
    root = resolve_data_dir(data_dir)
    if name in PUBTATOR_CORPORA and not (root / name).is_dir():
        return root.parent / name
    return root / name


def split_file(name: str, split: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The file of one split of a registered corpus (``devel.tsv``, or ``devel.pubtator`` for a PubTator corpus)."""
    files = PUBTATOR_SPLIT_FILES if name in PUBTATOR_CORPORA else SPLIT_FILES
    return corpus_folder(name, data_dir) / files[canonical_split(split)]


def pubtator_documents(name: str, split: str, data_dir: str | os.PathLike[str] | None = None
                       ) -> list[PubTatorDocument]:
    """The documents of one split of a registered PubTator corpus; `FileNotFoundError` says where it goes."""
    path = split_file(name, split, data_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"corpus {name!r} split {canonical_split(split)!r} not found: expected the PubTator file {path} "
            f"(files {', '.join(PUBTATOR_SPLIT_FILES.values())} in <data_dir>/{name} or beside <data_dir>)")
    return list(read_pubtator(path))


def pubtator_corpus_dataset(name: str, documents: Sequence[PubTatorDocument],
                            label_map: Mapping[str, str] | None = None, where: str = "") -> Dataset:
    """PubTator documents as a schema `Dataset`, with the prompts and id namespaces of registered corpus ``name``
    (an unregistered name: `PUBTATOR_TYPE_LABELS`, unknown types as `tag_label`)."""
    if name in PUBTATOR_CORPORA:
        return pubtator_dataset(documents, corpus_tag_label(name, label_map), PUBTATOR_CORPORA[name], where or name)
    mapping = {**PUBTATOR_TYPE_LABELS, **(label_map or {})}
    return pubtator_dataset(documents, lambda tag: tag_label(tag, mapping), PUBTATOR_TYPE_NAMESPACES, where or name)


def _is_hub_id(name: str) -> bool:
    return "/" in name and not Path(name).exists()


def load_corpus_split(
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
    if name in PUBTATOR_CORPORA:
        return pubtator_corpus_dataset(name, pubtator_documents(name, split, data_dir), label_map, f"{name}:{split}")
    corpus_dir = Path(name) if Path(name).is_dir() else resolve_data_dir(data_dir) / name
    path = corpus_dir / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(
            f"corpus {name!r} split {split!r} not found: expected the IOB file {path} "
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
    dataset = load_corpus_split(name, split, data_dir, label_map)
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
        if not corpus_folder(name, root).is_dir():
            logger.warning("corpus %s: folder %s is missing, skipped", name, corpus_folder(name, root))
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
        splits = [split for split in SPLIT_FILES if split_file(corpus, split, root).is_file()]
        if splits:
            found[corpus] = splits
    return found


def available_evaluation_corpora(data_dir: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """The evaluation corpora (`EVALUATION_CORPORA`) present under ``data_dir`` -> their split files."""
    return available_corpora(data_dir, EVALUATION_CORPORA)


def corpus_stats(dataset: Dataset) -> dict[str, Any]:
    """Sentences, entities and entities per label of a schema dataset."""
    per_label: Counter[str] = Counter()
    for spans in dataset["ner"]:
        per_label.update(span["label"] for span in spans)
    return {"sentences": len(dataset), "entities": sum(per_label.values()), "per_label": dict(sorted(per_label.items()))}
