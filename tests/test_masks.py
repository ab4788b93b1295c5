"""Per-example label masks (a source says nothing about types it does not annotate) and the balanced, logged losses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from kogner.training.collator import KoGNERDataCollator, TeacherTable
from modeling_kogner import KoGNERModel
from modeling_kogner.processing_kogner import span_flat_index
from toy_data import toy_examples, toy_kg_ids

TEACHER_DIM = 12

GENE_SENTENCE = {"tokens": ["BRCA1", "mutations", "were", "found"], "ner": [{"start": 0, "end": 0, "label": "gene"}],
                 "kge": [], "corpus": "bc2gm", "annotated_labels": ["gene"]}
# NCBI-disease annotates diseases only: TP53 is a gene nobody annotated here
DISEASE_SENTENCE = {"tokens": ["TP53", "loss", "causes", "gout"], "ner": [{"start": 3, "end": 3, "label": "disease"}],
                    "kge": [], "corpus": "ncbi_disease", "annotated_labels": ["disease"]}
NO_GENE_SENTENCE = {"tokens": ["patients", "were", "treated", "daily"], "ner": [], "kge": [], "corpus": "bc2gm",
                    "annotated_labels": ["gene"]}
MIXED = [GENE_SENTENCE, DISEASE_SENTENCE, NO_GENE_SENTENCE]


@pytest.fixture(scope="module")
def model(tiny_encoder_dir) -> KoGNERModel:
    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, dropout=0.0, teacher_dim=TEACHER_DIM,
                                     distillation_dim=16)
    return model.eval()  # no dropout: passes are comparable


def without_sources(examples: list[dict]) -> list[dict]:
    return [{key: value for key, value in example.items() if key not in ("corpus", "annotated_labels")}
            for example in examples]


def test_label_mask_follows_each_examples_source(model) -> None:
    batch = KoGNERDataCollator.from_model(model)(MIXED)
    assert batch["label_mask"].tolist() == [[True, False], [False, True], [True, False]]  # labels: gene, disease
    assert "label_mask" not in KoGNERDataCollator.from_model(model)(without_sources(MIXED))  # old data: all count


def logit_gradients(model: KoGNERModel, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Language loss and its gradient with respect to the span×label logits ``[B, S, C]``."""
    model.zero_grad()
    output = model(**batch)
    output.logits.retain_grad()
    output.lang_loss.backward()
    return output.lang_loss.detach(), output.logits.grad


def test_unannotated_type_contributes_no_loss_and_an_annotated_absent_type_does(model) -> None:
    gene, disease = 0, 1
    batch = KoGNERDataCollator.from_model(model)(MIXED)
    loss, grad = logit_gradients(model, batch)
    assert torch.count_nonzero(grad[1, :, gene]) == 0  # NCBI sentence: "gene" is unknown there, no loss
    assert torch.count_nonzero(grad[0, :, disease]) == 0 and torch.count_nonzero(grad[2, :, disease]) == 0
    assert torch.count_nonzero(grad[2, :, gene]) > 0  # BC2GM sentence without a gene: a true negative for "gene"
    assert torch.count_nonzero(grad[1, :, disease]) > 0

    # Whether TP53 is labelled a gene or not in the NCBI sentence does not change the loss: that pair is masked.
    tp53 = span_flat_index(0, 0, model.config.max_width)
    relabelled = dict(batch, labels=batch["labels"].clone())
    relabelled["labels"][1, tp53, gene] = 1.0
    assert logit_gradients(model, relabelled)[0] == pytest.approx(loss.item(), abs=1e-7)

    # Without the sources (the old collator), the same pair is a false negative that the model is trained on.
    unmasked = KoGNERDataCollator.from_model(model)(without_sources(MIXED))
    unmasked_loss, unmasked_grad = logit_gradients(model, unmasked)
    assert torch.count_nonzero(unmasked_grad[1, :, gene]) > 0
    relabelled = dict(unmasked, labels=unmasked["labels"].clone())
    relabelled["labels"][1, tp53, gene] = 1.0
    assert logit_gradients(model, relabelled)[0] != pytest.approx(unmasked_loss.item(), abs=1e-7)


def test_negative_labels_are_drawn_from_the_annotated_types_only(model) -> None:
    pool = ["chemical", "disease", "gene", "protein", "cell line"]
    collator = KoGNERDataCollator.from_model(model, negative_label_pool=pool, num_negative_labels=10, seed=1)
    assert collator.batch_labels([GENE_SENTENCE, NO_GENE_SENTENCE]) == ["gene"]  # nothing else is annotated
    chemical_source = {**NO_GENE_SENTENCE, "corpus": "bc5cdr", "annotated_labels": ["chemical", "disease"]}
    labels = collator.batch_labels([GENE_SENTENCE, chemical_source])
    assert labels[0] == "gene" and sorted(labels[1:]) == ["chemical", "disease"]
    batch = collator([GENE_SENTENCE, chemical_source])
    # the BC5CDR sentence is a negative for chemical and disease, but not for gene; the BC2GM one the other way
    assert batch["label_mask"].tolist() == [[True, False, False], [False, True, True]]
    # examples without sources keep the old behaviour: negatives from the whole pool
    assert set(collator.batch_labels(without_sources([GENE_SENTENCE]))) == set(pool)


def test_implied_types_are_annotated_types(model) -> None:
    kg_sentence = {"tokens": ["BRCA1", "and", "ataxia"], "kge": [], "corpus": "data",
                   "ner": [{"start": 0, "end": 0, "label": "gene"}, {"start": 2, "end": 2, "label": "phenotype"}],
                   "annotated_labels": ["gene", "phenotype", "organism"]}
    collator = KoGNERDataCollator.from_model(model, label_implications={"gene": ["protein"]})
    assert collator.annotated_labels(kg_sentence) == {"gene", "protein", "phenotype", "organism"}
    batch = collator([kg_sentence, DISEASE_SENTENCE])
    assert collator.batch_labels([kg_sentence, DISEASE_SENTENCE]) == ["gene", "protein", "phenotype", "disease"]
    assert batch["label_mask"].tolist() == [[True, True, True, False], [False, False, False, True]]


# ------------------------------------------------------------------------------------------ balanced losses
def toy_teacher() -> TeacherTable:
    ids = toy_kg_ids()
    vectors = torch.randn(len(ids), TEACHER_DIM, generator=torch.Generator().manual_seed(1))
    return TeacherTable(vectors, {kg_id: row for row, kg_id in enumerate(ids)})


def test_both_losses_are_means_on_comparable_scales(model) -> None:
    examples = toy_examples()[:4]
    output = model(**KoGNERDataCollator.from_model(model, teacher=toy_teacher())(examples))
    lang, dist = output.lang_loss.item(), output.dist_loss.item()
    assert 0.3 < lang < 3 and 0.1 < dist < 10 and 0.1 < dist / lang < 10, (lang, dist)
    # a mean, not a sum: six more negative labels (three times the span×label pairs) leave it on the same scale
    more = KoGNERDataCollator.from_model(model, negative_label_pool=["a", "b", "c", "d", "e", "f"],
                                         num_negative_labels=6)(examples)
    assert more["labels"].shape[-1] == 8
    assert 0.5 < model(**more).lang_loss.item() / lang < 2


def toy_trainer(encoder_dir, output_dir, **training_args):
    """A KoGNERTrainer on 16 toy sentences with the toy teacher: 4 steps of 4, logging every 2 steps."""
    from kogner.training.arguments import KoGNERTrainingArguments
    from kogner.training.trainer import KoGNERTrainer

    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(encoder_dir), hidden_size=32, teacher_dim=TEACHER_DIM, distillation_dim=16)
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples(16)]
    args = KoGNERTrainingArguments(output_dir=str(output_dir), max_steps=4, logging_steps=2,
                                   per_device_train_batch_size=4, report_to="none", use_cpu=True, disable_tqdm=True,
                                   remove_unused_columns=False, **training_args)
    return model, KoGNERTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                data_collator=KoGNERDataCollator.from_model(model, teacher=toy_teacher()))


def test_trainer_logs_both_terms_and_the_distillation_share(tiny_encoder_dir, tmp_path) -> None:
    # Without balancing, the logged share is the configured weights' share of the raw terms.
    trained, trainer = toy_trainer(tiny_encoder_dir, tmp_path, learning_rate=1e-3, save_strategy="no",
                                   loss_balance="none")
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2
    a, b = trainer.loss_settings.lang_weight, trainer.loss_settings.dist_weight
    for entry in logged:
        assert entry["lang_loss"] > 0 and entry["dist_loss"] > 0
        expected = b * entry["dist_loss"] / (a * entry["lang_loss"] + b * entry["dist_loss"])
        assert entry["dist_share"] == pytest.approx(expected, abs=1e-4)
        assert 0.01 < entry["dist_share"] < 0.99  # neither term vanishes next to the other
        assert math.isclose(entry["loss"], a * entry["lang_loss"] + b * entry["dist_loss"], rel_tol=0.05)


def test_running_mean_balance_keeps_the_weights_as_shares_of_the_loss(tiny_encoder_dir, tmp_path) -> None:
    import json
    import random
    from types import SimpleNamespace

    from kogner.training.balance import RunningLossBalance
    from kogner.training.trainer import LOSS_BALANCE_STATE_NAME

    trained, trainer = toy_trainer(tiny_encoder_dir, tmp_path, learning_rate=1e-4, save_strategy="steps", save_steps=4,
                                   loss_balance="running_mean")
    trainer.train()  # a real run logs the shares of the balanced terms and checkpoints the running means
    assert all(0 < entry["dist_share"] < 1 for entry in trainer.state.log_history if "loss" in entry)
    state = json.loads((tmp_path / "checkpoint-4" / LOSS_BALANCE_STATE_NAME).read_text())
    assert state["updates"]["lang_loss"] == 4 and state["averages"]["dist_loss"] > 0

    # The imbalance measured on the release mix: BCE ~0.014, MSE ~0.7 (raw distillation share ~0.93 at 0.8 / 0.2).
    a, b = trainer.loss_settings.lang_weight, trainer.loss_settings.dist_weight
    generator, lang_terms, dist_terms = random.Random(0), [], []
    trainer.loss_balance = RunningLossBalance()  # a fresh run at the measured scales
    for step in range(300):
        lang = torch.tensor(0.014 * generator.uniform(0.7, 1.3), requires_grad=True)
        dist = torch.tensor(0.7 * generator.uniform(0.7, 1.3), requires_grad=True)
        linked = torch.zeros((0 if step % 3 == 0 else 2, 2), dtype=torch.long)  # every third batch: no KG link
        outputs = SimpleNamespace(loss=a * lang + b * dist, lang_loss=lang, dist_loss=dist)
        loss = trainer.compute_loss(_FixedOutputs(trained.config, outputs), {"distill_index": linked})
        loss.backward()
        if step >= 100 and linked.shape[0]:
            lang_terms.append(lang.grad.item() * lang.item())
            dist_terms.append(dist.grad.item() * dist.item())
    share = sum(dist_terms) / (sum(lang_terms) + sum(dist_terms))
    assert share == pytest.approx(b / (a + b), abs=0.02)  # the weights are the shares again
    raw = b * 0.7 / (a * 0.014 + b * 0.7)
    assert raw > 0.9
    # batches without KG links leave the distillation average alone
    assert trainer.loss_balance.updates == {"lang_loss": 300, "dist_loss": 200}


class _FixedOutputs(torch.nn.Module):
    """A stand-in model for ``compute_loss``: returns fixed outputs, has the real model's config."""

    def __init__(self, config, outputs) -> None:
        super().__init__()
        self.config, self.outputs = config, outputs

    def forward(self, **_):
        return self.outputs


def test_running_loss_balance_is_a_bias_corrected_average() -> None:
    from kogner.training.balance import RunningLossBalance

    balance = RunningLossBalance(momentum=0.9)
    assert balance.update("lang", 2.0) == pytest.approx(2.0)  # bias-corrected: the first value itself
    assert balance.update("lang", 2.0) == pytest.approx(2.0)
    assert 2.0 < balance.update("lang", 4.0) < 4.0
    again = RunningLossBalance()
    again.load_state_dict(balance.state_dict())
    assert again.update("lang", 1.0) == pytest.approx(balance.update("lang", 1.0))
    with pytest.raises(ValueError, match="momentum"):
        RunningLossBalance(momentum=1.0)


SHIPPED_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config_file", SHIPPED_CONFIGS, ids=lambda path: path.name)
def test_shipped_configs_keep_the_distillation_share_near_its_weight(config_file, tiny_encoder_dir, tmp_path) -> None:
    """Each shipped recipe's loss settings, on a tiny model: a few real training steps, then the loss scales
    measured on the release mix (BCE ~0.014, MSE ~0.7), where an unbalanced loss is ~93 % distillation."""
    import random
    from types import SimpleNamespace

    from kogner.training.balance import RunningLossBalance
    from kogner.training.cli import parse_arguments

    _, _, training_args = parse_arguments(["--config", str(config_file), "--output_dir", str(tmp_path),
                                              "--bf16", "false", "--fp16", "false", "--use_cpu", "true"])
    a, b = training_args.lang_weight, training_args.dist_weight
    if b == 0:
        pytest.skip(f"{config_file.name} trains without distillation")
    target = b / (a + b)
    model, trainer = toy_trainer(tiny_encoder_dir, tmp_path, learning_rate=1e-4, save_strategy="no",
                                 loss_balance=training_args.loss_balance, lang_weight=a, dist_weight=b)
    trainer.train()
    logged = [entry["dist_share"] for entry in trainer.state.log_history if "dist_share" in entry]
    assert logged and all(abs(share - target) < 0.15 for share in logged), (config_file.name, logged)

    if trainer.loss_balance is not None:
        trainer.loss_balance = RunningLossBalance()  # a fresh run at the measured scales
    generator, lang_terms, dist_terms = random.Random(0), [], []
    for _ in range(200):
        lang = torch.tensor(0.014 * generator.uniform(0.7, 1.3), requires_grad=True)
        dist = torch.tensor(0.7 * generator.uniform(0.7, 1.3), requires_grad=True)
        outputs = SimpleNamespace(loss=a * lang + b * dist, lang_loss=lang, dist_loss=dist)
        loss = trainer.compute_loss(_FixedOutputs(model.config, outputs), {"distill_index": torch.zeros((2, 2))})
        loss.backward()
        lang_terms.append(lang.grad.item() * lang.item())
        dist_terms.append(dist.grad.item() * dist.item())
    share = sum(dist_terms[50:]) / (sum(lang_terms[50:]) + sum(dist_terms[50:]))
    assert share == pytest.approx(target, abs=0.05), f"{config_file.name}: distillation share {share:.2f}"
