"""IOB reading, benchmark loading, schema validation and mention linking."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset

from conftest import SHARED_BENCHMARKS
from data_scripts.benchmarks import main
from kogner.corpora.iob import IOBFormatError, iob_to_spans, read_iob_file
from kogner.corpora.linking import link_mentions
from kogner.corpora.registry import BENCHMARK_LABELS, available_benchmarks, load_benchmark, tag_label
from kogner.kg.graph import KnowledgeGraph
from kogner.schema import NER_FEATURES, SchemaError, validate_dataset, validate_example


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def test_iob_repair_rule_follows_conlleval() -> None:
    tags = ["I-Disease", "I-Disease", "O", "I-Chemical", "B-Chemical", "I-Chemical", "I-Disease", "B-Disease"]
    assert iob_to_spans(tags) == [(0, 1, "Disease"), (3, 3, "Chemical"), (4, 5, "Chemical"), (6, 6, "Disease"), (7, 7, "Disease")]


def test_crlf_docstart_and_trailing_sentence_without_blank_line(tmp_path: Path) -> None:
    text = "-DOCSTART-\tO\n\nIL\tB-protein\n-\tI-protein\n2\tI-protein\nbinds\tO\n\nT\tB-cell_type\ncells\tI-cell_type"
    dataset = read_iob_file(write(tmp_path / "x.tsv", text, newline="\r\n"), tag_label)
    assert dataset.to_list() == [
        {"tokens": ["IL", "-", "2", "binds"], "ner": [{"start": 0, "end": 2, "label": "protein"}], "kge": []},
        {"tokens": ["T", "cells"], "ner": [{"start": 0, "end": 1, "label": "cell type"}], "kge": []},
    ]
    assert dataset.features == NER_FEATURES


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a\tO\nb\tO\textra\n", "expected 2 tab-separated columns"),
        ("a\tO\nb O\n", "found 1"),
        ("a\tO\n\nb\tX-Disease\n", "is not O, B-<type> or I-<type>"),
        ("\tB-Disease\n", "empty token"),
    ],
)
def test_malformed_lines_name_file_line_and_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path / "bad.tsv", text)
    with pytest.raises(IOBFormatError, match=reason) as error:
        read_iob_file(path)
    bad_line = 2 if text.startswith("a\tO\nb") else (3 if text.startswith("a\tO\n\n") else 1)
    assert f"{path}:{bad_line}:" in str(error.value)


def test_label_map_override_and_unknown_tags(tmp_path: Path) -> None:
    write(tmp_path / "corpus" / "test.tsv", "x\tB-Disease\ny\tB-cell_component\n")
    dataset = load_benchmark(str(tmp_path / "corpus"), "test", label_map={"Disease": "illness"})
    assert [span["label"] for span in dataset[0]["ner"]] == ["illness", "cell component"]


def test_absent_corpus_says_where_files_go(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="bc4chemd") as error:
        load_benchmark("bc4chemd", "test", data_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "bc4chemd" / "test.tsv") in message and "Hub dataset id" in message
    with pytest.raises(ValueError, match="unknown split"):
        load_benchmark("bc4chemd", "dev2", data_dir=tmp_path)


def test_data_dir_from_environment_and_available_benchmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "ncbi_disease" / "devel.tsv", "a\tB-Disease\n")
    write(tmp_path / "bc4chemd" / "test.tsv", "b\tB-Chemical\n")
    monkeypatch.setenv("KOGNER_DATA_DIR", str(tmp_path))
    assert available_benchmarks() == {"ncbi_disease": ["validation"], "bc4chemd": ["test"]}
    assert load_benchmark("ncbi_disease", "validation")[0]["ner"] == [{"start": 0, "end": 0, "label": "disease"}]
    assert BENCHMARK_LABELS["jnlpba"] == ["protein", "DNA", "RNA", "cell line", "cell type"]


def test_schema_validation_lists_expectations() -> None:
    good = {"tokens": ["a", "b"], "ner": [{"start": 0, "end": 1, "label": "gene"}], "kge": []}
    validate_example(good)
    with pytest.raises(SchemaError, match=r"out of range.*end inclusive"):
        validate_example({**good, "ner": [{"start": 1, "end": 2, "label": "gene"}]}, index=3)
    with pytest.raises(SchemaError, match=r"record 0 lacks \['kge'\]"):
        validate_example({"tokens": ["a"], "ner": []}, index=0)
    with pytest.raises(SchemaError, match="lacks columns"):
        validate_dataset(Dataset.from_list([{"tokens": ["a"]}]))


def tiny_kg() -> KnowledgeGraph:
    return KnowledgeGraph(
        node_ids=["MONDO:1", "HP:1", "HGNC:1"],
        names=["Breast cancer", "breast cancer", "IL-2"],
        types=["disease", "phenotype", "gene"],
        descriptions=["", "", ""],
        synonyms=[[], [], ["interleukin 2"]],
        edge_heads=[0], edge_relations=["r"], edge_tails=[1],
    )


def test_link_mentions_by_normalized_exact_match() -> None:
    dataset = Dataset.from_list(
        [
            {"tokens": ["breast", "cancer", "and", "il", "-", "2"],
             "ner": [{"start": 0, "end": 1, "label": "disease"}, {"start": 3, "end": 5, "label": "gene"}], "kge": []},
            {"tokens": ["Interleukin", "2", "or", "tumour"],
             "ner": [{"start": 0, "end": 1, "label": "gene"}, {"start": 3, "end": 3, "label": "disease"}], "kge": []},
        ],
        features=NER_FEATURES,
    )
    linked, report = link_mentions(dataset, tiny_kg())
    assert linked[0]["kge"] == [{"start": 0, "end": 1, "kg_id": "MONDO:1"}, {"start": 3, "end": 5, "kg_id": "HGNC:1"}]
    assert linked[1]["kge"] == [{"start": 0, "end": 1, "kg_id": "HGNC:1"}]
    assert report["mentions"] == 4 and report["linked"] == 3 and report["share_linked"] == 0.75
    assert report["ambiguous"] == 1  # "breast cancer" names a disease and a phenotype: same type wins
    assert report["per_label"]["disease"] == {"mentions": 2, "linked": 1, "share_linked": 0.5}


needs_shared = pytest.mark.skipif(
    not SHARED_BENCHMARKS.is_dir(), reason=f"benchmark corpora not present at {SHARED_BENCHMARKS}"
)


@needs_shared
@pytest.mark.parametrize(
    ("corpus", "sentences", "entities"),
    [("ncbi_disease", 940, 960), ("bc5cdr", 4797, 9809), ("bc2gm", 5038, 6325), ("jnlpba", 3856, 8662)],
)
def test_benchmark_test_split_counts(corpus: str, sentences: int, entities: int) -> None:
    dataset = load_benchmark(corpus, "test", data_dir=SHARED_BENCHMARKS)
    assert len(dataset) == sentences
    assert sum(len(spans) for spans in dataset["ner"]) == entities
    assert {span["label"] for spans in dataset["ner"] for span in spans} == set(BENCHMARK_LABELS[corpus])


def test_stats_cli_prints_counts_per_split_and_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "bc5cdr" / "test.tsv", "a\tB-Chemical\nb\tO\n\nc\tB-Disease\nd\tI-Disease\ne\tB-Chemical\n")
    assert main(["--stats", "--data-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "2 sentences      3 entities  (chemical 2, disease 1)" in printed
    assert f"bc4chemd: absent (put train.tsv/devel.tsv/test.tsv in {tmp_path / 'bc4chemd'})" in printed
