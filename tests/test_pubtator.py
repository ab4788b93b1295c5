"""The PubTator reader, its conversion into the schema, BioRED's registration and PubTator files as sources."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from kogner.corpora.mix import load_source, load_training_mix, resolve_eval_sets
from kogner.corpora.pubtator import (
    PubTatorFormatError, PubTatorMention, SkippedDocument, pubtator_records, read_pubtator, split_ids,
)
from kogner.corpora.registry import CORPUS_LABELS, UnmappedTagError, load_corpus_split, load_corpus
from kogner.schema import validate_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "pubtator" / "tiny.pubtator"


def test_reader_keeps_offsets_ids_and_skips_bad_documents(caplog: pytest.LogCaptureFixture) -> None:
    skipped: list[SkippedDocument] = []
    with caplog.at_level(logging.WARNING):
        documents = list(read_pubtator(FIXTURE, skipped))
    assert [document.pmid for document in documents] == ["111", "555"]
    first = documents[0]
    assert first.text == first.title + " " + first.abstract
    assert first.mentions[0] == PubTatorMention(0, 4, "MODY", "GeneOrGeneProduct", ("3172", "3651", "6927"))
    assert first.mentions[-1].ids == ()  # "-": no identifier
    assert len(first.mentions) == 5  # the relation line is not a mention
    for mention in first.mentions:
        assert first.text[mention.start:mention.end] == mention.text
    assert [(item.pmid, item.line) for item in skipped] == [("222", 10), ("333", 14), ("444", 18)]
    assert "offsets 20-80 outside the text" in skipped[0].reason
    assert "hold 'Aspirin', the line says 'Ibuprof'" in skipped[1].reason
    assert "integer" in skipped[2].reason
    warning = caplog.records[-1].getMessage()
    assert f"{FIXTURE}: skipped 3 of 5 documents" in warning and "PMID 222" in warning and "20-80" in warning


def test_split_ids() -> None:
    assert split_ids("D001943,D010051") == ("D001943", "D010051")
    assert split_ids("5870; 84084") == ("5870", "84084")
    assert split_ids("-") == () and split_ids("") == ()


def test_missing_and_empty_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.pubtator"):
        read_pubtator(tmp_path / "absent.pubtator")
    empty = tmp_path / "empty.pubtator"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(PubTatorFormatError, match=f"{empty} holds no document"):
        list(read_pubtator(empty))


def test_records_are_sentences_with_word_spans_and_namespaced_links() -> None:
    documents = list(read_pubtator(FIXTURE))
    records = pubtator_records(documents[:1], str.lower, {"GeneOrGeneProduct": "NCBIGene"})
    assert [record["tokens"][0] for record in records] == ["MODY", "Mutations", "Glucose"]  # pysbd sentences
    title, mutations = records[0], records[1]
    assert title["ner"] == [{"start": 0, "end": 0, "label": "geneorgeneproduct"},
                            {"start": 3, "end": 5, "label": "diseaseorphenotypicfeature"}]
    assert [link["kg_id"] for link in title["kge"] if link["start"] == 0] == [
        "NCBIGene:3172", "NCBIGene:3651", "NCBIGene:6927"]
    assert {"start": 3, "end": 5, "kg_id": "D003924"} in title["kge"]  # no namespace for that type: as written
    assert mutations["tokens"][2:5] == ["HNF", "-", "6"]  # split as the model splits words
    assert {"start": 2, "end": 4, "label": "geneorgeneproduct"} in mutations["ner"]
    assert records[2]["kge"] == []  # Glucose had no identifier


def test_biored_is_registered_with_prompts_and_unknown_types_fail(tmp_path: Path) -> None:
    assert CORPUS_LABELS["biored"] == ["gene", "disease", "chemical", "organism", "sequence variant", "cell line"]
    folder = tmp_path / "biored"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / "devel.pubtator")
    dataset = load_corpus("biored", "dev", data_dir=tmp_path)
    assert dataset[0]["corpus"] == "biored"
    assert {span["label"] for spans in dataset["ner"] for span in spans} == {"gene", "disease", "organism", "chemical"}
    assert "NCBIGene:3175" in {link["kg_id"] for links in dataset["kge"] for link in links}
    (folder / "test.pubtator").write_text("9|t|Aspirin helps.\n9\t0\t7\tAspirin\tDrug\tD1\n", encoding="utf-8")
    with pytest.raises(UnmappedTagError) as error:
        load_corpus_split("biored", "test", data_dir=tmp_path)
    assert "'biored'" in str(error.value) and "'Drug'" in str(error.value)
    assert "kogner/corpora/registry.py" in str(error.value)


def test_biored_is_found_beside_the_benchmark_folder(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "biored").mkdir()
    shutil.copy(FIXTURE, tmp_path / "biored" / "train.pubtator")
    assert len(load_corpus_split("biored", "train", data_dir=tmp_path / "benchmarks")) == 5  # 3 + 2 sentences


def test_a_pubtator_file_is_a_training_and_evaluation_source(tmp_path: Path) -> None:
    path = tmp_path / "mine.pubtator"
    shutil.copy(FIXTURE, path)
    dataset, labels = load_source(str(path), "test")
    validate_dataset(dataset)
    assert labels == ["chemical", "disease", "gene", "organism"]  # PubTator types -> the project's prompts
    sets = resolve_eval_sets([str(path)], default_split="test")
    assert list(sets) == ["mine.pubtator:test"] and len(sets["mine.pubtator:test"][0]) == 5
    mix = load_training_mix([str(path)], overlap_with=[])
    assert set(mix["corpus"]) == {"mine.pubtator"} and len(mix) == 5
