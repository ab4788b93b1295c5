"""train.py / KoGNERTrainer: learning, scoring against seqeval, resume, multi-process, model card, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from safetensors.torch import load_file, save_file

from toy_data import toy_examples, toy_kg_ids

from kogner.training import cli as train

REPO_ROOT = Path(__file__).resolve().parents[1]

TEACHER_DIM = 12


@pytest.fixture(scope="module")
def toy_data_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("toy_data")
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples()]
    DatasetDict(
        train=Dataset.from_list(rows), validation=Dataset.from_list(rows[:10]), test=Dataset.from_list(rows[:10])
    ).save_to_disk(str(directory))
    return directory


@pytest.fixture(scope="module")
def toy_teacher_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("toy_teacher")
    ids = toy_kg_ids()
    save_file({"H": torch.randn(len(ids), TEACHER_DIM, generator=torch.Generator().manual_seed(3))},
              str(directory / "teacher.safetensors"))
    lines = ["row\tkg_id\tname\ttype"] + [f"{row}\t{kg_id}\t{kg_id.split(':')[1]}\t{kg_id.split(':')[0]}"
                                          for row, kg_id in enumerate(ids)]
    (directory / "entities.tsv").write_text("\n".join(lines) + "\n")
    (directory / "teacher.json").write_text(json.dumps({"dims": {"H": TEACHER_DIM}}))
    return directory


def toy_args(encoder: Path, data: Path, teacher: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--encoder", str(encoder), "--train_data", str(data), "--eval_data", f"{data}:validation",
        "--test_data", f"{data}:test", "--teacher", str(teacher), "--output_dir", str(output),
        "--hidden_size", "32", "--distillation_dim", "16", "--dropout", "0.1", "--max_steps", "40",
        "--per_device_train_batch_size", "8", "--learning_rate", "0.005", "--logging_steps", "10",
        "--save_strategy", "no", "--seed", "7", "--report_to", "none", "--disable_tqdm", "true",
        "--use_cpu", "true", *extra,
    ]


@pytest.fixture(scope="module")
def trained_run(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "model"
    results = train.main(toy_args(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, output))
    return output, results


def test_training_lowers_both_losses(trained_run):
    output, _ = trained_run
    history = json.loads((output / "training_log.json").read_text())["log_history"]
    losses = [entry for entry in history if "loss" in entry]
    assert len(losses) >= 3
    assert losses[-1]["lang_loss"] < losses[0]["lang_loss"]
    assert losses[-1]["dist_loss"] < losses[0]["dist_loss"]


def test_saved_model_loads_and_card_has_metrics(trained_run):
    from huggingface_hub import ModelCard
    from transformers import AutoModel

    output, results = trained_run
    model = AutoModel.from_pretrained(output, trust_remote_code=True)
    assert model.config.teacher_dim == TEACHER_DIM
    card = ModelCard.load(output / "README.md")
    assert card.data.library_name == "transformers"
    (name, scores), = results.items()
    assert name in card.text and f"| {scores['f1'] * 100:.1f} |" in card.text
    assert "trust_remote_code=True" in card.text


def test_evaluation_matches_seqeval_on_flat_data(trained_run, toy_data_dir):
    from seqeval.metrics import f1_score, precision_score, recall_score
    from transformers import AutoModel

    from kogner.evaluation.evaluate import evaluate_dataset, predict_spans
    from kogner.evaluation.metrics import gold_spans, spans_to_iob

    output, _ = trained_run
    model = AutoModel.from_pretrained(output, trust_remote_code=True)
    dataset = Dataset.load_from_disk(str(toy_data_dir / "test"))
    labels = ["disease", "drug"]
    ours = evaluate_dataset(model, dataset, labels, threshold=0.3, progress=False)
    predicted = predict_spans(model, dataset["tokens"], labels, threshold=0.3, progress=False)

    gold_iob = [spans_to_iob(gold_spans(example), len(example["tokens"])) for example in dataset]
    predicted_iob = [spans_to_iob(spans, len(example["tokens"])) for example, spans in zip(dataset, predicted)]
    assert ours["f1"] == pytest.approx(f1_score(gold_iob, predicted_iob))
    assert ours["precision"] == pytest.approx(precision_score(gold_iob, predicted_iob))
    assert ours["recall"] == pytest.approx(recall_score(gold_iob, predicted_iob))


def test_resume_from_checkpoint_gives_the_same_weights(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, tmp_path):
    common = ["--save_strategy", "steps", "--save_steps", "20", "--max_steps", "40"]
    straight = tmp_path / "straight"
    train.main(toy_args(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, straight, *common))
    resumed = tmp_path / "resumed"
    train.main(toy_args(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, resumed, *common))
    # Interrupt "resumed": drop everything after the first checkpoint, then resume from it.
    for leftover in [resumed / "model.safetensors", resumed / "checkpoint-40"]:
        if leftover.is_dir():
            import shutil

            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    train.main(toy_args(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, resumed, *common,
                        "--resume_from_checkpoint", str(resumed / "checkpoint-20")))
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_two_processes_with_accelerate(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, tmp_path):
    output = tmp_path / "model"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(REPO_ROOT / "train.py"),
        *toy_args(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, output, "--max_steps", "6"),
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads((output / "training_log.json").read_text())["world_size"] == 2
    from transformers import AutoModel

    assert AutoModel.from_pretrained(output, trust_remote_code=True).config.model_type == "kogner"


def test_dataset_without_schema_columns_is_rejected(tiny_encoder_dir, toy_teacher_dir, tmp_path):
    bad = tmp_path / "bad"
    DatasetDict(train=Dataset.from_list([{"words": ["a"], "tags": ["O"]}])).save_to_disk(str(bad))
    with pytest.raises(ValueError, match="tokens.*ner|expected"):
        train.main(toy_args(tiny_encoder_dir, bad, toy_teacher_dir, tmp_path / "out"))


def test_teacher_size_mismatch_is_rejected_before_training(trained_run, toy_data_dir, tmp_path):
    output, _ = trained_run
    other = tmp_path / "teacher"
    other.mkdir()
    save_file({"H": torch.zeros(len(toy_kg_ids()), TEACHER_DIM + 3)}, str(other / "teacher.safetensors"))
    lines = ["row\tkg_id\tname\ttype"] + [f"{row}\t{kg_id}\tx\ty" for row, kg_id in enumerate(toy_kg_ids())]
    (other / "entities.tsv").write_text("\n".join(lines) + "\n")
    (other / "teacher.json").write_text("{}")
    args = toy_args(output, toy_data_dir, other, tmp_path / "out", "--model_name_or_path", str(output))
    with pytest.raises(ValueError, match="teacher_dim"):
        train.main(args)


def test_unknown_config_key_is_named(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("max_steps: 3\nnot_an_option: 1\n")
    with pytest.raises(SystemExit):
        train.parse_arguments(["--config", str(config)])
    assert "not_an_option" in capsys.readouterr().err


def test_config_file_and_command_line_merge(tmp_path):
    config = tmp_path / "ok.yaml"
    config.write_text("max_steps: 3\ntrain_data: [a, b]\ndist_weight: 0.5\n")
    model_args, data_args, training_args = train.parse_arguments(
        ["--config", str(config), "--max_steps", "5", "--output_dir", str(tmp_path)]
    )
    assert training_args.max_steps == 5 and data_args.train_data == ["a", "b"] and model_args.dist_weight == 0.5
    # the `=` form of --config is the same option; a YAML value not overridden keeps the file's value
    _, data_args, training_args = train.parse_arguments([f"--config={config}", "--output_dir", str(tmp_path)])
    assert training_args.max_steps == 3 and data_args.train_data == ["a", "b"]


def test_benchmarks_keyword_expands_to_the_corpora_present(toy_data_dir, tmp_path):
    from kogner.corpora.mix import resolve_eval_sets

    corpus = tmp_path / "ncbi_disease"
    corpus.mkdir()
    (corpus / "test.tsv").write_text("Gout\tB-Disease\nflares\tO\n\nAsthma\tB-Disease\n")
    sets = resolve_eval_sets([f"{toy_data_dir}:test", "benchmarks"], data_dir=str(tmp_path), default_split="test")
    assert list(sets) == ["toy_data0:test", "ncbi_disease:test"]
    dataset, labels = sets["ncbi_disease:test"]
    assert labels == ["disease"] and len(dataset) == 2


def test_label_implications_make_extra_positives(tiny_encoder_dir):
    from kogner.training.collator import KoGNERDataCollator
    from kogner.training.pipeline import parse_label_implications
    from modeling_kogner import KoGNERModel
    from modeling_kogner.processing_kogner import span_flat_index

    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=16)
    implications = parse_label_implications(["phenotype=disease"])
    example = {"tokens": ["severe", "nephrotoxicity", "in", "BRCA1", "carriers"],
               "ner": [{"start": 1, "end": 1, "label": "phenotype"}, {"start": 3, "end": 3, "label": "gene"}],
               "kge": []}
    batch = KoGNERDataCollator.from_model(model, label_implications=implications)([example])
    collator_labels = ["phenotype", "disease", "gene"]  # gold types in order, implied ones right after
    targets = batch["labels"][0]
    assert targets.shape[-1] == len(collator_labels)
    phenotype_span = span_flat_index(1, 1, model.config.max_width)
    gene_span = span_flat_index(3, 3, model.config.max_width)
    assert targets[phenotype_span].tolist() == [1.0, 1.0, 0.0]
    assert targets[gene_span].tolist() == [0.0, 0.0, 1.0]
    assert targets.sum() == 3
    with pytest.raises(ValueError, match="TYPE=IMPLIED"):
        parse_label_implications(["phenotype"])
