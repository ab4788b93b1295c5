"""train.py / KoGNERTrainer: learning, scoring against seqeval, bit-identical resume, best-model selection with
Trainer's metric names (paper.yaml, early stopping), multi-process, model card, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset, DatasetDict
from safetensors.torch import load_file, save_file
from transformers import EarlyStoppingCallback, TrainerCallback, set_seed

from toy_data import toy_examples, toy_kg_ids

from kogner.training import cli as train
from kogner.training.arguments import KoGNERTrainingArguments
from kogner.training.collator import KoGNERDataCollator
from kogner.training.trainer import KoGNERTrainer
from modeling_kogner import KoGNERModel

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
    results = train.train(toy_args(tiny_encoder_dir, toy_data_dir, toy_teacher_dir, output,
                                   "--threshold_dev_data", f"{toy_data_dir}:validation"))
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


def test_restating_a_model_rewrites_card_and_scores_only_when_they_agree(trained_run, tmp_path):
    import shutil

    from huggingface_hub import ModelCard

    from kogner.training.model_card import CardMismatchError, restate_model

    output, results = trained_run
    model_dir = Path(shutil.copytree(output, tmp_path / "model"))
    threshold = json.loads((model_dir / "config.json").read_text())["threshold"]
    choice = {"threshold": threshold, "mean_f1": 0.5, "dev_sets": ["x:validation"], "curve": {"0.1": {}, "0.9": {}}}
    with pytest.raises(CardMismatchError, match="config holds"):
        restate_model(model_dir, results, {**choice, "threshold": round(threshold + 0.1, 2)})
    rescored = {name: {**scores, "f1": 0.123} for name, scores in results.items()}
    restate_model(model_dir, rescored, choice)
    assert json.loads((model_dir / "eval_results.json").read_text()) == json.loads(json.dumps(rescored))
    card = ModelCard.load(model_dir / "README.md")
    assert [entry.metric_value for entry in card.data.eval_results if entry.metric_type == "f1"] == [12.3]
    assert "over the dev sets x:validation" in card.text


def test_threshold_chosen_on_dev_is_what_the_config_card_and_scores_hold(trained_run):
    from huggingface_hub import ModelCard

    output, results = trained_run
    choice = json.loads((output / "training_log.json").read_text())["threshold_choice"]
    assert len(choice["dev_sets"]) == 1 and choice["dev_sets"][0].endswith(":validation")
    threshold = json.loads((output / "config.json").read_text())["threshold"]
    assert threshold == choice["threshold"] and choice["mean_f1"] == max(p["mean"] for p in choice["curve"].values())
    saved = json.loads((output / "eval_results.json").read_text())
    assert saved and all(scores["threshold"] == threshold for scores in saved.values())
    card = ModelCard.load(output / "README.md")
    assert f"| {threshold:g}, chosen after training: best mean F1" in card.text
    f1s = [entry.metric_value for entry in card.data.eval_results if entry.metric_type == "f1"]
    assert f1s == [round(scores["f1"] * 100, 1) for scores in saved.values()]


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


# ------------------------------------------------------------------------------------- trainer-level: tiny model
NEGATIVE_POOL = ["drug", "disease", "gene", "cell line", "species", "protein", "chemical"]


class Interrupted(Exception):
    """Raised by ``InterruptAfterSave``: stands for a kill right after a checkpoint was written."""


class InterruptAfterSave(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupted(f"interrupted after saving step {self.step}")


@dataclass
class RecordingCollator(KoGNERDataCollator):
    """The real collator, recording each batch it collates: its sentences (data order) and label prompts (the
    sampled negatives)."""

    calls: list = field(default_factory=list)

    def __call__(self, examples):
        batch = super().__call__(examples)
        self.calls.append(([" ".join(example["tokens"]) for example in examples], batch["label_input_ids"].tolist()))
        return batch


def tiny_trainer(encoder: Path, output: Path, callbacks=(), threshold: float = 0.5, **overrides) -> KoGNERTrainer:
    """KoGNERTrainer on a tiny model and the toy data: dropout on, negatives sampled, cosine schedule."""
    set_seed(0)
    model = KoGNERModel.from_encoder(str(encoder), hidden_size=16, max_width=4, dropout=0.3, threshold=threshold)
    collator = RecordingCollator.from_model(model, negative_label_pool=NEGATIVE_POOL, num_negative_labels=2, seed=5)
    settings = dict(output_dir=str(output), max_steps=7, per_device_train_batch_size=8, learning_rate=0.01,
                    lr_scheduler_type="cosine", warmup_steps=2, save_strategy="steps", save_steps=3, seed=11,
                    logging_steps=100, report_to="none", disable_tqdm=True, use_cpu=True, dataloader_pin_memory=False)
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples()]
    return KoGNERTrainer(model=model, args=KoGNERTrainingArguments(**(settings | overrides)),
                         train_dataset=Dataset.from_list(rows), eval_dataset=Dataset.from_list(rows[:10]),
                         data_collator=collator, callbacks=list(callbacks))


def test_resume_after_interruption_is_bit_identical(tiny_encoder_dir, tmp_path):
    """7 steps straight vs. killed after the checkpoint at step 3 and resumed by a fresh process (new model,
    collator and trainer): same weights, same batches in the same order, same negatives; the 30 toy sentences
    make 4 batches per epoch, so the resume skips into epoch 0 and then crosses into epoch 1."""
    straight = tiny_trainer(tiny_encoder_dir, tmp_path / "straight")
    straight.train()

    interrupted = tiny_trainer(tiny_encoder_dir, tmp_path / "resumed", callbacks=[InterruptAfterSave(3)])
    with pytest.raises(Interrupted):
        interrupted.train()
    checkpoint = tmp_path / "resumed" / "checkpoint-3"
    assert (checkpoint / "collator_rng_state.json").is_file()
    resumed = tiny_trainer(tiny_encoder_dir, tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(checkpoint))

    assert resumed.state.global_step == straight.state.global_step == 7
    batches = straight.data_collator.calls
    assert interrupted.data_collator.calls[:3] == batches[:3]
    assert resumed.data_collator.calls[:4] == batches[3:7]  # data order and sampled negatives after the resume
    assert len({str(prompts) for _, prompts in batches[:7]}) > 1  # the sampled negatives do vary
    first, second = straight.model.state_dict(), resumed.model.state_dict()
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    trained_at_3 = load_file(checkpoint / "model.safetensors")
    assert not all(torch.equal(trained_at_3[name], first[name]) for name in trained_at_3)


def test_early_stopping_sees_trainer_metric_names(tiny_encoder_dir, tmp_path):
    """EarlyStoppingCallback reads eval_f1 from Trainer's on_evaluate: with F1 stuck at 0 (threshold 1.0 predicts
    nothing), patience 1 stops the run at the second evaluation and the first checkpoint is the best."""
    trainer = tiny_trainer(tiny_encoder_dir, tmp_path / "run", callbacks=[EarlyStoppingCallback(1)], threshold=1.0,
                           eval_strategy="steps", eval_steps=1, save_steps=1, load_best_model_at_end=True,
                           metric_for_best_model="f1")
    trainer.train()
    evaluations = [entry for entry in trainer.state.log_history if "eval_f1" in entry]
    assert [entry["step"] for entry in evaluations] == [1, 2]
    assert trainer.state.global_step == 2
    assert trainer.state.best_model_checkpoint == str(tmp_path / "run" / "checkpoint-1")
    best, last = (load_file(tmp_path / "run" / f"checkpoint-{step}" / "model.safetensors") for step in (1, 2))
    weights = trainer.model.state_dict()
    assert all(torch.equal(weights[name], best[name]) for name in best)  # load_best_model_at_end did load it
    assert not all(torch.equal(weights[name], last[name]) for name in last)


def test_paper_config_evaluates_and_loads_the_best_checkpoint(tiny_encoder_dir, toy_data_dir, toy_teacher_dir,
                                                               tmp_path):
    """configs/paper.yaml's evaluation and best-model settings, as the YAML gives them, run to the end on a tiny
    model; only sizes, paths and step counts are scaled down (two evaluations). Threshold 1.0 predicts nothing,
    so F1 ties at 0 and the first checkpoint stays the best: the saved model must be it, not the last one."""
    config_path = REPO_ROOT / "configs" / "paper.yaml"
    config = yaml.safe_load(config_path.read_text())
    assert config["eval_strategy"] == config["save_strategy"] == "steps" and config["load_best_model_at_end"]
    output = tmp_path / "model"
    train.main([
        f"--config={config_path}", "--encoder", str(tiny_encoder_dir), "--teacher", str(toy_teacher_dir),
        "--train_data", str(toy_data_dir), "--eval_data", f"{toy_data_dir}:validation",
        "--test_data", f"{toy_data_dir}:test", "--output_dir", str(output), "--hidden_size", "32",
        "--distillation_dim", "16", "--threshold", "1.0", "--max_steps", "4", "--eval_steps", "2",
        "--save_steps", "2", "--logging_steps", "2", "--bf16", "false", "--use_cpu", "true",
        "--disable_tqdm", "true",
    ])
    metric = f"eval_{config['metric_for_best_model']}"
    history = json.loads((output / "training_log.json").read_text())["log_history"]
    evaluations = [entry for entry in history if metric in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4]
    state = json.loads((output / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["best_global_step"] == 2
    assert state["best_model_checkpoint"] == str(output / "checkpoint-2")
    assert state["best_metric"] == evaluations[0][metric]
    final = load_file(output / "model.safetensors")
    best, last = (load_file(output / f"checkpoint-{step}" / "model.safetensors") for step in (2, 4))
    # after training the linking heads are fitted on the training links (kogner.training.linking_heads): all but
    # the linking head (the default linking_query="mean_tokens") is the best checkpoint's
    student = [name for name in best if not name.startswith("linking_head.")]
    assert student and all(torch.equal(final[name], best[name]) for name in student)
    assert not all(torch.equal(final[name], last[name]) for name in student)
    assert json.loads((output / "training_log.json").read_text())["linking_fit"]["steps"] == 1000
    assert bool(final["linking_head.fitted"]) and not bool(best["linking_head.fitted"])
    assert json.loads((output / "eval_results.json").read_text()).keys() == {f"{toy_data_dir.name}:test"}


def test_best_metric_the_evaluation_does_not_report_fails_before_training():
    from types import SimpleNamespace

    from kogner.training.pipeline import check_best_metric

    one = {"ncbi_disease:validation": (None, ["disease"])}
    two = one | {"bc5cdr:validation": (None, ["chemical", "disease"])}
    for sets, metric in ((one, "f1"), (one, "eval_disease_f1"), (two, "bc5cdr:validation_f1")):
        check_best_metric(SimpleNamespace(metric_for_best_model=metric), sets)
    for sets, metric in ((one, "loss"), (two, "f1"), (one, "ncbi_disease:validation_f1")):
        with pytest.raises(ValueError, match=f"--metric_for_best_model {metric}: .*reports"):
            check_best_metric(SimpleNamespace(metric_for_best_model=metric), sets)


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


@pytest.mark.parametrize("argv, option", [
    (["--max_train_samples", "-1"], "--max_train_samples"),
    (["--max_eval_samples", "0"], "--max_eval_samples"),
    (["--encoder", "./no/such/encoder"], "--encoder"),
    (["--model_name_or_path", "/no/such/model"], "--model_name_or_path"),
    (["--threshold", "1.5"], "--threshold"),
    (["--threshold_dev_data", "ncbi_disease:test"], "--threshold_dev_data"),
    (["--linking_name_candidates", "some"], "--linking_name_candidates"),
    (["--linking_name_candidates", "-2"], "--linking_name_candidates"),
])
def test_bad_training_options_name_the_option(argv, option, tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match=option):
        train.parse_arguments([*argv, "--output_dir", str(tmp_path)])


def test_linking_name_candidates_option_is_all_or_a_count(tmp_path):
    assert train.parse_arguments(["--output_dir", str(tmp_path)])[0].linking_name_candidates == "all"
    assert train.parse_arguments(["--linking_name_candidates", "3", "--output_dir", str(tmp_path)])[0] \
        .linking_name_candidates == 3


@pytest.mark.parametrize("link_corpora", ["true", "false"])
def test_gold_spans_of_unlinked_text_get_teacher_links_by_name(tiny_encoder_dir, toy_teacher_dir, tmp_path,
                                                              link_corpora):
    # Real corpora come without kge: their gold spans are linked by name so they get the distillation term too.
    # Only "disease" maps to a KG type (kogner.corpora.linking.LABEL_KG_TYPES); "drug" spans stay unlinked.
    rows = [{"tokens": example["tokens"], "ner": example["ner"], "kge": []} for example in toy_examples()]
    data = tmp_path / "unlinked"
    DatasetDict(train=Dataset.from_list(rows), validation=Dataset.from_list(rows[:4]),
                test=Dataset.from_list(rows[:4])).save_to_disk(str(data))
    output = tmp_path / "model"
    train.main(toy_args(tiny_encoder_dir, data, toy_teacher_dir, output, "--max_steps", "4", "--logging_steps", "2",
                        "--link_corpora", link_corpora))
    log = json.loads((output / "training_log.json").read_text())
    losses = [entry for entry in log["log_history"] if "dist_loss" in entry]
    if link_corpora == "true":
        assert log["kge_links"] == {"known": len(rows)}  # one disease per sentence
        assert log["corpus_links"]["per_label"]["disease"]["linked"] == len(rows)
        assert log["corpus_links"]["per_label"]["drug"]["linked"] == 0
        assert all(entry["dist_loss"] > 0 for entry in losses)
    else:
        assert log["kge_links"] == {} and log["corpus_links"] is None
        assert log["linking_fit"] == {"skipped": "no training link points at an entity of the index"}
        assert all(entry["dist_loss"] == 0 for entry in losses)


def test_resume_from_last_checkpoint_or_start_fresh(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from kogner.training import pipeline

    args = SimpleNamespace(resume_from_checkpoint="last", output_dir=str(tmp_path))
    assert pipeline.checkpoint_to_resume(args) is None  # a first run starts from the beginning
    complete = {"checkpoint-200"}
    monkeypatch.setattr("kogner.atomic.checkpoint_is_complete", lambda path: path.name in complete)
    for step in (100, 200, 300):  # checkpoint-300 was cut off by a kill
        (tmp_path / f"checkpoint-{step}").mkdir()
    assert pipeline.checkpoint_to_resume(args) == str(tmp_path / "checkpoint-200")
    assert pipeline.checkpoint_to_resume(SimpleNamespace(resume_from_checkpoint="some/folder")) == "some/folder"
