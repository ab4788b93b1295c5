"""kogner-annotate: every input and output format, the PubTator round trip, resume after a crash, refusal of another
run's folder, skipped documents, clear errors, and 2 processes under accelerate equal to 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict

from kogner.annotate import AnnotateInputError, AnnotateOptions, OutputFolderError, annotate_corpus, format_summary
from kogner.annotate import run as annotate_run
from kogner.annotate.cli import main
from kogner.corpora.pubtator import read_pubtator
from modeling_kogner import EntityIndex, KoGNERModel
from toy_data import toy_kg_ids

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = ["drug", "disease"]
TEXTS = [
    "Aspirin was given to patients with asthma .",
    "",
    "Cisplatin-induced nephrotoxicity was observed in BRCA1 carriers.",
    "Tamoxifen reduced the recurrence of breast cancer in women .\nA second line: warfarin and gout.",
    "Ünïcode: 5-fluorouracil – toxicity",
    " ".join(["Metformin did not respond to migraine in two cases ."] * 6),  # several windows
    "Heparin",
]


def save_model(encoder_dir: Path, folder: Path, linkable: bool = False) -> Path:
    torch.manual_seed(0)
    extra = {"teacher_dim": 12, "distillation_dim": 16, "linking_query": "span"} if linkable else {}
    model = KoGNERModel.from_encoder(str(encoder_dir), hidden_size=32, max_words_per_window=24, window_stride=16,
                                     **extra)
    if linkable:
        ids = toy_kg_ids()
        model.entity_index = EntityIndex(ids, [i.split(":")[1] for i in ids],
                                         torch.randn(len(ids), 12, generator=torch.Generator().manual_seed(1)))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tiny_encoder_dir, tmp_path_factory.mktemp("annotate") / "model")


@pytest.fixture(scope="module")
def expected(model_dir: Path) -> list[list[dict]]:
    """What batch_predict_entities finds in TEXTS (the annotations must be these)."""
    return KoGNERModel.from_pretrained(model_dir).batch_predict_entities(TEXTS, LABELS, threshold=0.3)


def write_jsonl(path: Path, texts: list[str] = TEXTS) -> Path:
    path.write_text("".join(json.dumps({"id": f"doc{n}", "text": text}) + "\n" for n, text in enumerate(texts)))
    return path


def annotate(model: Path, source: Path | str, output: Path, **options) -> dict:
    settings = {"labels": LABELS, "threshold": 0.3, "shard_size": 2, "batch_size": 4, "progress": False} | options
    return annotate_corpus(AnnotateOptions(model=str(model), input=str(source), output=str(output), **settings))


def read_records(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "annotations.jsonl").read_text().splitlines()]


def spans(entities: list[dict]) -> list[tuple]:
    return [(e["start"], e["end"], e["text"], e["label"]) for e in entities]


def assert_same_records(found: list[dict], wanted: list[dict]) -> None:
    """Same ids, texts and entities; scores within float rounding (never bit-equality)."""
    assert [(r["id"], r["text"], spans(r["entities"])) for r in found] == \
        [(r["id"], r["text"], spans(r["entities"])) for r in wanted]
    for mine, theirs in zip(found, wanted):
        assert [e["score"] for e in mine["entities"]] == pytest.approx([e["score"] for e in theirs["entities"]],
                                                                        abs=1e-4)


# ------------------------------------------------------------------------------------------------ input formats
def test_jsonl_input_gives_the_entities_of_batch_predict_entities(model_dir, expected, tmp_path):
    summary = annotate(model_dir, write_jsonl(tmp_path / "in.jsonl"), tmp_path / "out")
    records = read_records(tmp_path / "out")
    assert [r["id"] for r in records] == [f"doc{n}" for n in range(len(TEXTS))]
    assert sum(map(len, expected)) > 5  # not vacuous
    for record, text, entities in zip(records, TEXTS, expected):
        assert record["text"] == text and spans(record["entities"]) == spans(entities)
        assert all(text[e["start"]:e["end"]] == e["text"] for e in record["entities"])
        assert [e["score"] for e in record["entities"]] == pytest.approx([e["score"] for e in entities], abs=1e-5)
    assert records[1]["entities"] == []  # the empty document: a record with no entities
    assert summary["documents"] == summary["annotated"] == len(TEXTS) and summary["skipped"] == 0
    assert summary["shards"] == 4 and summary["world_size"] == 1
    counts = {label: sum(e["label"] == label for es in expected for e in es) for label in LABELS}
    assert summary["entities_per_label"] == {label: n for label, n in counts.items() if n}
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["entities_per_label"] == \
        summary["entities_per_label"]
    text = format_summary(summary)
    assert f"{len(TEXTS)} of {len(TEXTS)} documents" in text and "documents/s" in text


def test_sentence_splitting_and_an_empty_input(model_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", TEXTS[3:5])
    annotate(model_dir, source, tmp_path / "out", split_sentences=True)
    wanted = KoGNERModel.from_pretrained(model_dir).batch_predict_entities(TEXTS[3:5], LABELS, threshold=0.3,
                                                                           split_sentences=True)
    assert [spans(r["entities"]) for r in read_records(tmp_path / "out")] == [spans(e) for e in wanted]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["options"]["split_sentences"] is True
    (tmp_path / "empty.jsonl").write_text("")
    summary = annotate(model_dir, tmp_path / "empty.jsonl", tmp_path / "none")
    assert summary["documents"] == summary["shards"] == 0 and read_records(tmp_path / "none") == []


def test_text_folder_and_glob_give_one_document_per_file(model_dir, expected, tmp_path):
    corpus = tmp_path / "corpus"
    for n, text in enumerate(TEXTS[:3]):
        (corpus / f"part{n % 2}").mkdir(parents=True, exist_ok=True)
        (corpus / f"part{n % 2}" / f"d{n}.txt").write_text(text, encoding="utf-8")
    annotate(model_dir, corpus, tmp_path / "folder")
    records = read_records(tmp_path / "folder")
    assert [r["id"] for r in records] == ["part0/d0", "part0/d2", "part1/d1"]  # sorted paths, relative ids
    assert [spans(r["entities"]) for r in records] == [spans(expected[0]), spans(expected[2]), []]
    annotate(model_dir, f"{corpus}/**/*.txt", tmp_path / "glob")
    assert_same_records(read_records(tmp_path / "glob"), records)


def test_datasets_folder_with_named_text_and_id_columns(model_dir, expected, tmp_path):
    rows = Dataset.from_dict({"pmid": ["p1", "p2", "p3"], "body": TEXTS[2:5]})
    rows.save_to_disk(str(tmp_path / "saved"))
    annotate(model_dir, tmp_path / "saved", tmp_path / "out", text_column="body", id_column="pmid")
    records = read_records(tmp_path / "out")
    assert [r["id"] for r in records] == ["p1", "p2", "p3"]
    assert [spans(r["entities"]) for r in records] == [spans(e) for e in expected[2:5]]
    with pytest.raises(AnnotateInputError, match="no column 'text'.*--text-column"):
        annotate(model_dir, tmp_path / "saved", tmp_path / "other")
    DatasetDict(train=rows, test=rows).save_to_disk(str(tmp_path / "splits"))
    with pytest.raises(AnnotateInputError, match=r"splits \['test', 'train'\].*--split"):
        annotate(model_dir, tmp_path / "splits", tmp_path / "other", text_column="body")
    annotate(model_dir, tmp_path / "splits", tmp_path / "test", text_column="body", split="test")
    assert [r["id"] for r in read_records(tmp_path / "test")] == ["0", "1", "2"]  # no "id" column: row numbers


PUBTATOR = """\
111|t|Aspirin was given to patients with asthma .
111|a|Tamoxifen reduced the recurrence of breast cancer in women .
111\t0\t7\tAspirin\tChemical\tD001241

222|t|Cisplatin-induced nephrotoxicity.
222|a|
"""


def test_pubtator_round_trip_reads_back_with_the_project_reader(model_dir, tmp_path):
    (tmp_path / "in.pubtator").write_text(PUBTATOR)
    annotate(model_dir, tmp_path / "in.pubtator", tmp_path / "out", output_format="pubtator")
    annotate(model_dir, tmp_path / "in.pubtator", tmp_path / "json")
    originals = list(read_pubtator(tmp_path / "in.pubtator"))
    back = list(read_pubtator(tmp_path / "out" / "annotations.pubtator"))
    records = read_records(tmp_path / "json")
    assert [(d.pmid, d.title, d.abstract) for d in back] == [(d.pmid, d.title, d.abstract) for d in originals]
    assert [r["title"] for r in records] == [d.title for d in originals] and records[0]["text"] == originals[0].text
    model = KoGNERModel.from_pretrained(model_dir)
    predicted = model.batch_predict_entities([d.text for d in originals], LABELS, threshold=0.3)
    assert sum(map(len, predicted)) > 2
    for document, entities in zip(back, predicted):
        assert [(m.start, m.end, m.text, m.type, m.ids) for m in document.mentions] == \
            [(e["start"], e["end"], e["text"], e["label"], ()) for e in entities]


def test_plain_documents_written_as_pubtator_keep_their_offsets(model_dir, expected, tmp_path):
    annotate(model_dir, write_jsonl(tmp_path / "in.jsonl"), tmp_path / "out", output_format="pubtator")
    back = list(read_pubtator(tmp_path / "out" / "annotations.pubtator"))
    assert [d.pmid for d in back] == [f"doc{n}" for n in range(len(TEXTS))]
    assert back[3].title == TEXTS[3].replace("\n", " ")  # a line break becomes a space: offsets unchanged
    assert [[(m.start, m.end, m.type) for m in d.mentions] for d in back] == \
        [[(e["start"], e["end"], e["label"]) for e in entities] for entities in expected]


def test_bioc_output_holds_passages_and_annotations(model_dir, tmp_path):
    from bioc import biocxml

    (tmp_path / "in.pubtator").write_text(PUBTATOR)
    annotate(model_dir, tmp_path / "in.pubtator", tmp_path / "out", output_format="bioc")
    annotate(model_dir, tmp_path / "in.pubtator", tmp_path / "json")
    with open(tmp_path / "out" / "annotations.bioc.xml", encoding="utf-8") as handle:
        collection = biocxml.load(handle)
    records = read_records(tmp_path / "json")
    assert [d.id for d in collection.documents] == ["111", "222"]
    for document, record in zip(collection.documents, records):
        title, abstract = document.passages
        assert (title.infons["type"], title.offset, title.text) == ("title", 0, record["title"])
        assert abstract.offset == len(record["title"]) + 1
        assert record["text"][abstract.offset:] == abstract.text
        annotations = [a for passage in document.passages for a in passage.annotations]
        assert sorted((a.total_span.offset, a.total_span.end, a.text, a.infons["type"]) for a in annotations) == \
            sorted((e["start"], e["end"], e["text"], e["label"]) for e in record["entities"])
    assert sum(len(r["entities"]) for r in records) > 0


def test_link_adds_kg_ids_to_every_format(tiny_encoder_dir, tmp_path):
    linkable = save_model(tiny_encoder_dir, tmp_path / "linkable", linkable=True)
    source = write_jsonl(tmp_path / "in.jsonl", TEXTS[:4])
    annotate(linkable, source, tmp_path / "out", link=True)
    wanted = KoGNERModel.from_pretrained(linkable).batch_predict_entities(TEXTS[:4], LABELS, threshold=0.3, link=True)
    records = read_records(tmp_path / "out")
    assert sum(map(len, wanted)) > 0
    for record, entities in zip(records, wanted):
        assert [(e["start"], e["label"], e["kg_id"], e["kg_name"]) for e in record["entities"]] == \
            [(e["start"], e["label"], e["kg_id"], e["kg_name"]) for e in entities]
        assert [e["link_score"] for e in record["entities"]] == \
            pytest.approx([e["link_score"] for e in entities], abs=1e-4)
    annotate(linkable, source, tmp_path / "pubtator", link=True, output_format="pubtator")
    back = list(read_pubtator(tmp_path / "pubtator" / "annotations.pubtator"))
    assert [[m.ids for m in d.mentions] for d in back] == [[(e["kg_id"],) for e in r["entities"]] for r in records]


# ------------------------------------------------------------------------------------------- resume and refusal
def test_resume_after_a_crash_skips_done_shards_and_equals_a_clean_run(model_dir, tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "in.jsonl")
    annotate(model_dir, source, tmp_path / "clean")
    write_shard = annotate_run.write_shard

    def crash_at_shard_two(output, index, *args, **kwargs):
        if index == 2:
            raise RuntimeError("killed")
        return write_shard(output, index, *args, **kwargs)

    monkeypatch.setattr(annotate_run, "write_shard", crash_at_shard_two)
    with pytest.raises(RuntimeError, match="killed"):
        annotate(model_dir, source, tmp_path / "out")
    done = sorted(path.name for path in (tmp_path / "out" / "shards").iterdir())
    assert done == ["shard-000000.json", "shard-000000.jsonl", "shard-000001.json", "shard-000001.jsonl"]
    assert not (tmp_path / "out" / "annotations.jsonl").exists()
    stamps = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "out" / "shards").iterdir()}
    monkeypatch.undo()
    summary = annotate(model_dir, source, tmp_path / "out")
    assert summary["shards_resumed_by_rank_0"] == 2 and summary["documents_annotated_now"] == len(TEXTS) - 4
    assert all((tmp_path / "out" / "shards" / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    assert_same_records(read_records(tmp_path / "out"), read_records(tmp_path / "clean"))
    # a torn shard (records file cut short after its manifest was written) is redone, not trusted
    records_file = tmp_path / "out" / "shards" / "shard-000001.jsonl"
    records_file.write_text(records_file.read_text()[:10])
    assert annotate(model_dir, source, tmp_path / "out")["shards_resumed_by_rank_0"] == 3
    assert_same_records(read_records(tmp_path / "out"), read_records(tmp_path / "clean"))


def test_an_output_folder_of_another_run_is_refused(model_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", TEXTS[:3])
    annotate(model_dir, source, tmp_path / "out")
    with pytest.raises(OutputFolderError, match="another run.*labels: \\['drug', 'disease'\\] there"):
        annotate(model_dir, source, tmp_path / "out", labels=["gene"])
    with pytest.raises(OutputFolderError, match="threshold"):
        annotate(model_dir, source, tmp_path / "out", threshold=0.5)
    write_jsonl(source, ["Other text entirely .", *TEXTS[1:3]])
    with pytest.raises(OutputFolderError, match="shard 0 was annotated from other documents"):
        annotate(model_dir, source, tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="no run.json"):
        annotate(model_dir, source, tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]


# ------------------------------------------------------------------------------------------------- bad input
def test_bad_documents_are_skipped_and_named_never_the_run(model_dir, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Aspirin helps .")
    (corpus / "b.txt").write_bytes(b"Caf\xe9 au lait")  # Latin-1, not UTF-8
    (corpus / "c.txt").write_text("x" * 50)
    (corpus / "d.txt").write_text("")
    summary = annotate(model_dir, corpus, tmp_path / "out", max_chars=40)
    assert [r["id"] for r in read_records(tmp_path / "out")] == ["a", "d"]
    assert read_records(tmp_path / "out")[1]["entities"] == []
    skipped = [json.loads(line) for line in (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()]
    assert [(s["id"], s["kind"]) for s in skipped] == [("b", "encoding"), ("c", "size")]
    assert "byte 0xe9 at offset 3" in skipped[0]["reason"] and "cap of 40" in skipped[1]["reason"]
    assert skipped[0]["source"] == str(corpus / "b.txt")
    assert summary["skipped"] == 2 and summary["skipped_by_kind"] == {"encoding": 1, "size": 1}
    (tmp_path / "in.jsonl").write_bytes(b'{"id": "ok", "text": "Aspirin"}\n{"id": "x", "txt": "typo"}\nnot json\n')
    annotate(model_dir, tmp_path / "in.jsonl", tmp_path / "jsonl")
    reasons = [json.loads(line) for line in (tmp_path / "jsonl" / "skipped.jsonl").read_text().splitlines()]
    assert [(s["id"], s["source"].rsplit(":", 1)[1], s["kind"]) for s in reasons] == [("x", "2", "format"),
                                                                                       ("in:3", "3", "format")]


def test_a_document_the_model_fails_on_is_skipped_with_the_error(model_dir, tmp_path, monkeypatch):
    original = annotate_run.Annotator.__call__

    def fail_on_poison(self, texts):
        if any("poison" in text for text in texts):
            raise RuntimeError("model broke")
        return original(self, texts)

    monkeypatch.setattr(annotate_run.Annotator, "__call__", fail_on_poison)
    annotate(model_dir, write_jsonl(tmp_path / "in.jsonl", ["Aspirin .", "poison", "Heparin ."]), tmp_path / "out")
    assert [r["id"] for r in read_records(tmp_path / "out")] == ["doc0", "doc2"]
    skipped = json.loads((tmp_path / "out" / "skipped.jsonl").read_text())
    assert (skipped["id"], skipped["kind"], skipped["reason"]) == ("doc1", "error", "RuntimeError: model broke")


def test_missing_and_unreadable_inputs_name_the_path(model_dir, tmp_path, monkeypatch):
    with pytest.raises(AnnotateInputError, match="missing.jsonl: no such file or folder"):
        annotate(model_dir, tmp_path / "missing.jsonl", tmp_path / "out")
    with pytest.raises(AnnotateInputError, match="input missing.txt: no such file or folder"):
        annotate(model_dir, "missing.txt", tmp_path / "out")
    with pytest.raises(AnnotateInputError, match="matches no file"):
        annotate(model_dir, f"{tmp_path}/*.txt", tmp_path / "out")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Aspirin")
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with pytest.raises(AnnotateInputError, match="a.txt: cannot be read \\(Permission denied\\)"):
        annotate(model_dir, tmp_path / "corpus", tmp_path / "out")
    assert not (tmp_path / "out" / "shards").exists()


def test_link_without_an_entity_index_fails_before_any_work(model_dir, tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl")
    code = main(["--model", str(model_dir), "--labels", *LABELS, "--input", str(source), "--output",
                 str(tmp_path / "out"), "--link", "--no-progress"])
    error = capsys.readouterr().err
    assert code == 1 and "kogner-annotate: error: link=True needs the model's entity index" in error
    assert not (tmp_path / "out").exists()


def test_cli_runs_and_explains_itself(model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "skipped.jsonl" in capsys.readouterr().out
    code = main(["--model", str(model_dir), "--labels", *LABELS, "--input", str(write_jsonl(tmp_path / "in.jsonl")),
                 "--output", str(tmp_path / "out"), "--format", "pubtator", "--threshold", "0.3", "--no-progress"])
    assert code == 0 and "entities: disease" in capsys.readouterr().out
    assert (tmp_path / "out" / "annotations.pubtator").is_file()
    with pytest.raises(SystemExit):
        main(["--model", str(model_dir), "--labels", "x", "--input", "i", "--output", "o", "--shard-size", "0"])
    assert "--shard-size must be >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="chunk_size must be >= 0"):  # a negative step would annotate nothing
        AnnotateOptions(model=str(model_dir), labels=["x"], input="i", output="o", chunk_size=-1).check()


@pytest.mark.slow
def test_onnx_runtime_backend_gives_the_entities_of_torch(model_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    from kogner.onnx import export_onnx

    export_onnx(KoGNERModel.from_pretrained(model_dir).eval(), tmp_path / "onnx")
    source = write_jsonl(tmp_path / "in.jsonl")
    annotate(model_dir, source, tmp_path / "torch")
    annotate(tmp_path / "onnx", source, tmp_path / "out", backend="onnx")
    assert_same_records(read_records(tmp_path / "out"), read_records(tmp_path / "torch"))
    with pytest.raises(ValueError, match="entity index"):
        annotate(tmp_path / "onnx", source, tmp_path / "link", backend="onnx", link=True)
    with pytest.raises(FileNotFoundError, match="onnx_export.json"):
        annotate(model_dir, source, tmp_path / "bad", backend="onnx")


# --------------------------------------------------------------------------------------------- multi-process
@pytest.mark.slow
def test_two_processes_under_accelerate_equal_one_process(model_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", TEXTS * 2)
    annotate(model_dir, source, tmp_path / "single", shard_size=3)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
        "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29531",
        "-m", "kogner.annotate", "--model", str(model_dir), "--labels", *LABELS, "--input", str(source),
        "--output", str(tmp_path / "multi"), "--threshold", "0.3", "--shard-size", "3", "--batch-size", "4",
        "--no-progress",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((tmp_path / "multi" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["shards_written_by"] == [[0, 2], [1, 2]]
    ranks = [json.loads(p.read_text())["rank"] for p in sorted((tmp_path / "multi" / "shards").glob("*.json"))]
    assert ranks == [0, 1, 0, 1, 0]  # shard k by rank k % 2
    assert_same_records(read_records(tmp_path / "multi"), read_records(tmp_path / "single"))
    assert summary["documents_annotated_now"] == 2 * len(TEXTS)
