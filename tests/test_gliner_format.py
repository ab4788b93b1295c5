"""GLiNER-format data in and out: export of our datasets, the round trip, training straight from GLiNER JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from data_scripts import export_gliner
from kogner.corpora.gliner_format import load_gliner
from kogner.corpora.mix import load_source
from kogner.schema import SchemaError
from toy_data import toy_examples


@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory) -> tuple[Path, list[dict]]:
    directory = tmp_path_factory.mktemp("toy") / "data"
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples()]
    DatasetDict(train=Dataset.from_list(rows), test=Dataset.from_list(rows[:6])).save_to_disk(str(directory))
    return directory, rows


def test_export_writes_gliner_records(saved_dataset, tmp_path):
    directory, rows = saved_dataset
    assert export_gliner.main(["--data", str(directory), "--out", str(tmp_path), "--splits", "train", "test"]) == 0
    records = json.loads((tmp_path / "train.json").read_text())
    assert len(records) == len(rows)
    first = rows[0]
    assert records[0] == {
        "tokenized_text": first["tokens"],
        "ner": [[span["start"], span["end"], span["label"]] for span in first["ner"]],  # end inclusive, as ours
    }
    assert len(json.loads((tmp_path / "test.json").read_text())) == 6


@pytest.mark.parametrize("file_format, keep_links", [("json", False), ("jsonl", True)])
def test_round_trip(saved_dataset, tmp_path, file_format, keep_links):
    directory, rows = saved_dataset
    export_gliner.main(["--data", str(directory), "--out", str(tmp_path), "--splits", "train", "--format", file_format,
                        *(["--keep-kg-links"] if keep_links else [])])
    dataset, labels = load_source(str(tmp_path / f"train.{file_format}"), "train")
    assert labels == sorted({span["label"] for row in rows for span in row["ner"]})
    back = dataset.to_list()
    assert [row["tokens"] for row in back] == [row["tokens"] for row in rows]
    assert [row["ner"] for row in back] == [row["ner"] for row in rows]
    assert [row["kge"] for row in back] == ([row["kge"] for row in rows] if keep_links else [[] for _ in rows])


def test_gliner_json_from_elsewhere_is_read_as_is(tmp_path):
    records = [
        {"tokenized_text": ["Aspirin", "relieves", "migraine", "headache", "."], "ner": [[0, 0, "drug"], [2, 3, "disease"]],
         "extra": "ignored"},
        {"tokenized_text": ["No", "entity", "here", "."], "ner": []},
    ]
    path = tmp_path / "gliner_train.json"
    path.write_text(json.dumps(records))
    dataset = load_gliner(path)
    assert dataset[0]["ner"] == [{"start": 0, "end": 0, "label": "drug"}, {"start": 2, "end": 3, "label": "disease"}]
    assert dataset[1]["ner"] == [] and dataset[0]["kge"] == []


@pytest.mark.parametrize("record, message", [
    ({"tokens": ["a"], "ner": []}, "tokenized_text"),
    ({"tokenized_text": ["a", "b"], "ner": [[0, 5, "x"]]}, "out of range"),
    ({"tokenized_text": ["a", "b"], "ner": [[0, "x"]]}, "expected \\[start, end, label\\]"),
])
def test_bad_gliner_records_name_the_file_and_record(tmp_path, record, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"tokenized_text": ["ok"], "ner": []}, record]))
    with pytest.raises(SchemaError, match=message) as error:
        load_gliner(path)
    assert "bad.json" in str(error.value) and "record 1" in str(error.value)


def test_training_accepts_gliner_json(tiny_encoder_dir, saved_dataset, tmp_path):
    from kogner.training import cli as train

    directory, _ = saved_dataset
    export_gliner.main(["--data", str(directory), "--out", str(tmp_path / "gliner"), "--splits", "train", "test"])
    output = tmp_path / "model"
    results = train.train([
        "--encoder", str(tiny_encoder_dir), "--train_data", str(tmp_path / "gliner" / "train.json"),
        "--test_data", str(tmp_path / "gliner" / "test.json"), "--output_dir", str(output),
        "--hidden_size", "32", "--max_steps", "2", "--per_device_train_batch_size", "4", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true", "--use_cpu", "true", "--dist_weight", "0",
    ])
    assert (output / "model.safetensors").is_file()
    assert list(results) == ["test.json:test"]
