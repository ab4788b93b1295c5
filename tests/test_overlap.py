"""No leakage through shared documents: PubTator documents sharing a sentence with given corpora are dropped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kogner.corpora.mix import load_training_mix, resolve_eval_sets
from kogner.corpora.overlap import (
    MIN_KEY_CHARS, check_references, document_keys, drop_overlapping, reference_keys, sentence_key,
)
from kogner.corpora.pubtator import PubTatorDocument
from kogner.corpora.registry import pubtator_documents
from kogner.training.cli import parse_arguments
from kogner.training.pipeline import TrainingRun, load_training_data
from kogner.words import word_list

from conftest import REPO_ROOT

SHARED = "Mutations in the hepatocyte nuclear factor 6 gene were not associated with type II diabetes."
SHORT = "Results were negative."
LONG = "Another sentence, from another corpus, that is long enough to count as a key of its own."
BIORED = REPO_ROOT.parent / "shared" / "data" / "biored"


def document(pmid: str, *sentences: str) -> PubTatorDocument:
    return PubTatorDocument(pmid, sentences[0], " ".join(sentences[1:]), ())


def write_iob(path: Path, *sentences: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = ["\n".join(f"{word}\tO" for word in word_list(sentence)) for sentence in sentences]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def pubtator_block(pmid: str, title: str, abstract: str) -> str:
    return f"{pmid}|t|{title}\n{pmid}|a|{abstract}\n"


def test_sentence_key_keeps_lower_case_letters_and_digits() -> None:
    assert sentence_key("The HNF-6 gene (n = 54).") == "thehnf6genen54"
    assert len(sentence_key(SHARED)) > MIN_KEY_CHARS >= len(sentence_key(SHORT))
    assert document_keys(f"A title. {SHARED} {SHORT}") == {sentence_key(SHARED)}  # short sentences never count


def test_documents_sharing_a_sentence_are_dropped_and_counted(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    write_iob(tmp_path / "bc5cdr" / "test.tsv", SHARED.upper(), SHORT)  # tokenised, other case: same key
    write_iob(tmp_path / "ncbi_disease" / "train.tsv", LONG)
    documents = [document("1", "Title one.", SHARED), document("2", "Title two.", SHORT, "Nothing shared here."),
                 document("3", LONG)]
    with caplog.at_level(logging.WARNING):
        kept, report = drop_overlapping(documents, ["bc5cdr:test"], tmp_path, where="fixture")
    assert [item.pmid for item in kept] == ["2", "3"] and report.dropped == ("1",)
    assert "fixture: dropped 1 of 3 documents sharing a sentence with bc5cdr:test" in caplog.text
    kept, report = drop_overlapping(documents, ["bc5cdr", "ncbi_disease"], tmp_path)  # every split
    assert [item.pmid for item in kept] == ["2"] and report.dropped == ("1", "3")
    keys = reference_keys(["bc5cdr", "ncbi_disease"], tmp_path)
    assert all(keys.isdisjoint(document_keys(item.text)) for item in kept)  # none is left


def test_training_mix_drops_biored_documents_shared_with_the_references(tmp_path: Path) -> None:
    write_iob(tmp_path / "bc5cdr" / "test.tsv", SHARED)
    folder = tmp_path / "biored"
    folder.mkdir()
    (folder / "train.pubtator").write_text(
        pubtator_block("1", "Shared.", SHARED) + "\n" + pubtator_block("2", "Kept title.", "Kept abstract."),
        encoding="utf-8")
    by_default = load_training_mix(["biored"], data_dir=str(tmp_path))  # test splits of evaluation corpora
    assert sorted(by_default["tokens"]) == [["Kept", "abstract", "."], ["Kept", "title", "."]]
    assert len(load_training_mix(["biored"], data_dir=str(tmp_path), overlap_with=[])) == 4  # asked: no filter


def test_training_run_drops_documents_shared_with_any_split_of_the_named_corpora(tmp_path: Path) -> None:
    write_iob(tmp_path / "ncbi_disease" / "train.tsv", SHARED)  # a train split: the default filter keeps it
    folder = tmp_path / "biored"
    folder.mkdir()
    (folder / "train.pubtator").write_text(
        pubtator_block("1", "Shared.", SHARED) + "\n" + pubtator_block("2", "Kept title.", "Kept abstract."),
        encoding="utf-8")
    common = ["--train_data", "biored", "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")]
    for extra, documents in (([], 2), (["--drop_documents_shared_with", "ncbi_disease"], 1)):
        _, data_args, _ = parse_arguments(common + extra)
        run = TrainingRun(model=None, base_encoder="none")
        load_training_data(run, data_args, seed=0)
        assert len(run.train_dataset) == 2 * documents  # a title and an abstract sentence per document


def test_protocols_train_on_biored_without_documents_shared_with_what_they_evaluate(tmp_path: Path) -> None:
    from benchmarks.protocols import PROTOCOLS, parse_args, resolve_sources

    corpora = tmp_path / "corpora"
    write_iob(corpora / "ncbi_disease" / "train.tsv", SHARED)  # evaluated by both protocols; only its test is secret
    for split in ("train", "devel", "test"):
        write_iob(corpora / "bionlp09" / f"{split}.tsv", LONG)
        write_iob(corpora / "ncbi_disease" / f"{split}.tsv", SHARED if split == "train" else SHORT)
    (tmp_path / "biored").mkdir()
    for split in ("train", "devel"):
        (tmp_path / "biored" / f"{split}.pubtator").write_text(
            pubtator_block("1", "Shared.", SHARED) + "\n" + pubtator_block("2", "Kept title.", "Kept abstract."),
            encoding="utf-8")
    kept_documents = {}
    for name in ("zero_shot", "supervised"):
        args = parse_args(PROTOCOLS[name], ["--data-dir", str(corpora), "--kg-data", "none", "--teacher", "none"])
        sources = resolve_sources(PROTOCOLS[name], args)
        assert "biored" in sources["train"] and "biored:validation" in sources["dev"]
        mix = load_training_mix(["biored"], str(corpora), overlap_with=args.shared_document_filter)
        dev = resolve_eval_sets(["biored:validation"], str(corpora), "validation", args.shared_document_filter)
        kept_documents[name] = (len(mix) // 2, len(dev["biored:validation"][0]) // 2)  # a title and an abstract
    assert kept_documents == {"zero_shot": (1, 1), "supervised": (2, 2)}  # zero-shot: no split of an evaluated corpus
    without = parse_args(PROTOCOLS["zero_shot"], ["--data-dir", str(corpora), "--kg-data", "none", "--teacher", "none",
                                                  "--real-text"])
    sources = resolve_sources(PROTOCOLS["zero_shot"], without)
    assert "biored" not in sources["train"] and "biored:validation" in sources["dev"]  # the same dev sets


@pytest.mark.parametrize("reference, problem", [
    ("ncbi", "not a registered IOB corpus"), ("biored", "not a registered IOB corpus"), ("bc5cdr:tset", "unknown split"),
])
def test_misspelt_overlap_references_are_refused(reference: str, problem: str) -> None:
    check_references(["ncbi_disease", "bc5cdr:test", "craft:dev"])  # names, splits and split aliases pass
    with pytest.raises(ValueError, match=problem):
        check_references([reference])
    with pytest.raises(ValueError, match="--drop_documents_shared_with"):  # at parse time, before anything loads
        parse_arguments(["--train_data", "biored", "--drop_documents_shared_with", reference])


@pytest.mark.slow
@pytest.mark.skipif(not BIORED.is_dir(), reason=f"no BioRED at {BIORED}")
def test_real_biored_overlap_matches_the_measured_counts() -> None:
    """The README of ../shared/data/biored: 144 / 36 / 35 documents overlap any split of the four corpora."""
    evaluated = ["ncbi_disease", "bc5cdr", "bc2gm", "jnlpba"]
    counts = {}
    keys = reference_keys(evaluated)
    for split in ("train", "validation", "test"):
        kept, report = drop_overlapping(pubtator_documents("biored", split), evaluated, keys=keys)
        assert all(keys.isdisjoint(document_keys(item.text)) for item in kept)
        counts[split] = len(report.dropped)
    assert counts == {"train": 144, "validation": 36, "test": 35}
