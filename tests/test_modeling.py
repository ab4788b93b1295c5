"""KoGNERModel: learning, distillation, save/load as remote code, offsets, long text, decoding, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from kogner.training.collator import KoGNERDataCollator, TeacherTable
from kogner.evaluation.metrics import gold_spans, span_scores
from modeling_kogner import KoGNERConfig, KoGNERModel
from modeling_kogner.decoding_kogner import SpanCandidate, greedy_decode
from modeling_kogner.losses_kogner import LossSettings
from toy_data import toy_examples, toy_kg_ids

LABELS = ["drug", "disease"]
TEACHER_DIM = 12


def make_model(encoder_dir: Path, **overrides) -> KoGNERModel:
    torch.manual_seed(0)
    settings = dict(hidden_size=32, dropout=0.1, teacher_dim=TEACHER_DIM, distillation_dim=16)
    settings.update(overrides)
    return KoGNERModel.from_encoder(str(encoder_dir), **settings)


def toy_teacher() -> TeacherTable:
    ids = toy_kg_ids()
    vectors = torch.randn(len(ids), TEACHER_DIM, generator=torch.Generator().manual_seed(1))
    return TeacherTable(vectors, {kg_id: row for row, kg_id in enumerate(ids)})


def train_toy(model: KoGNERModel, steps: int, teacher: TeacherTable | None = None) -> list[tuple[float, float]]:
    """Plain torch loop over the toy sentences; returns (lang_loss, dist_loss) per step."""
    examples = toy_examples()
    collator = KoGNERDataCollator.from_model(model, teacher=teacher)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    history = []
    for step in range(steps):
        batch = collator([examples[(step * 8 + offset) % len(examples)] for offset in range(8)])
        output = model(**batch)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        history.append((output.lang_loss.item(), output.dist_loss.item()))
    model.eval()
    return history


@pytest.fixture(scope="module")
def trained(tiny_encoder_dir: Path) -> tuple[KoGNERModel, list[tuple[float, float]]]:
    model = make_model(tiny_encoder_dir)
    history = train_toy(model, steps=150, teacher=toy_teacher())
    return model, history


def predicted_spans(model: KoGNERModel, examples: list[dict]) -> list[list[tuple[int, int, str]]]:
    spans = model.predict_word_spans([example["tokens"] for example in examples], LABELS)
    return [[(span.start, span.end, LABELS[span.label]) for span in found] for found in spans]


def test_toy_task_reaches_f1_one(trained):
    model, _ = trained
    examples = toy_examples()
    scores = span_scores([gold_spans(example) for example in examples], predicted_spans(model, examples))
    assert scores["f1"] == 1.0


def test_distillation_loss_falls_by_half(trained):
    _, history = trained
    first = sum(dist for _, dist in history[:5]) / 5
    last = sum(dist for _, dist in history[-5:]) / 5
    assert last <= 0.5 * first, (first, last)


def test_zero_dist_weight_contributes_no_gradient(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir)
    model.loss_settings = LossSettings(dist_weight=0.0)
    model.eval()  # no dropout: both passes must see the same network
    examples = toy_examples()[:4]

    def gradients(teacher):
        model.zero_grad()
        batch = KoGNERDataCollator.from_model(model, teacher=teacher)(examples)
        output = model(**batch)
        output.loss.backward()
        return output, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    with_links, grads_with = gradients(toy_teacher())
    assert with_links.dist_loss.item() > 0  # the links are there and the distillation loss is computed
    _, grads_without = gradients(None)
    for name, grad in grads_without.items():  # the language path's gradients, summed in another order
        torch.testing.assert_close(grad, grads_with[name], rtol=1e-5, atol=1e-7, msg=name)
    for name, grad in grads_with.items():
        if name.startswith("distillation_head"):
            assert torch.count_nonzero(grad) == 0, name


def test_no_links_gives_exactly_zero_distillation_loss(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir)
    examples = [dict(example, kge=[]) for example in toy_examples()[:3]]
    output = model(**KoGNERDataCollator.from_model(model, teacher=toy_teacher())(examples))
    assert output.dist_loss.item() == 0.0
    assert output.loss.item() == pytest.approx(0.8 * output.lang_loss.item())


def test_teacher_dim_mismatch_is_rejected(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir)
    batch = KoGNERDataCollator.from_model(model, teacher=toy_teacher())(toy_examples()[:2])
    batch["teacher_vectors"] = torch.zeros(batch["teacher_vectors"].shape[0], TEACHER_DIM + 1)
    with pytest.raises(ValueError, match="teacher_dim"):
        model(**batch)


LOAD_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys
    project = sys.argv[1]

    class BlockProject(importlib.abc.MetaPathFinder):
        # A Hub user has none of the project's packages: only the remote code saved with the model.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_kogner", "kogner", "data_scripts"):
                raise ImportError(f"{name} must not be importable here")
            return None

    sys.meta_path.insert(0, BlockProject())
    venv = sys.prefix  # the project's own .venv may live inside the project folder: keep only that part
    sys.path[:] = [e for e in sys.path if not e.startswith(project) or e.startswith(venv)]
    assert all(not e.rstrip("/").endswith(project.rstrip("/")) for e in sys.path), sys.path
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(sys.argv[2], trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    batch = {key: torch.tensor(value) for key, value in json.loads(open(sys.argv[3]).read()).items()}
    model.eval()
    with torch.no_grad():
        logits = model(**batch).logits
    torch.save({"logits": logits, "state": model.state_dict()}, sys.argv[4])
    entities = model.predict_entities(sys.argv[5], ["drug", "disease"])
    print(json.dumps(entities))
    """
)


def test_save_and_load_as_remote_code_in_fresh_process(trained, tmp_path):
    model, _ = trained
    model.save_pretrained(tmp_path / "model")
    saved = {path.name for path in (tmp_path / "model").iterdir()}
    assert {"config.json", "model.safetensors", "modeling_kogner.py", "configuration_kogner.py"} <= saved
    assert "auto_map" in json.loads((tmp_path / "model" / "config.json").read_text())

    text = "Patients with gout received aspirin ."
    batch = KoGNERDataCollator.from_model(model)(toy_examples()[:3])
    batch_file = tmp_path / "batch.json"
    keys = ["input_ids", "attention_mask", "word_index", "word_mask", "label_input_ids", "label_attention_mask"]
    batch_file.write_text(json.dumps({key: batch[key].tolist() for key in keys}))
    (tmp_path / "script.py").write_text(LOAD_SCRIPT)
    project = str(Path(__file__).resolve().parents[1])
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(tmp_path / "hf_modules")
    result = subprocess.run(
        [sys.executable, str(tmp_path / "script.py"), project, str(tmp_path / "model"), str(batch_file),
         str(tmp_path / "out.pt"), text],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = torch.load(tmp_path / "out.pt")
    with torch.no_grad():
        expected = model(**{key: batch[key] for key in keys}).logits
    assert torch.equal(loaded["logits"], expected)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded["state"][name], tensor), name
    assert json.loads(result.stdout.strip().splitlines()[-1]) == model.predict_entities(text, LABELS)


def test_offsets_point_into_the_original_text(trained):
    model, _ = trained
    texts = [
        "Patients with  gout\treceived aspirin ±5 mg (µ-dose) 😀 .",
        "ΔNp63 and β-catenin : aspirin was given to patients with psoriasis .",
        "  The effect of warfarin on anemia remains unclear .  ",
    ]
    results = model.batch_predict_entities(texts, LABELS, threshold=0.2)
    assert any(results), "the trained toy model should find something"
    for text, entities in zip(texts, results):
        for entity in entities:
            assert text[entity["start"] : entity["end"]] == entity["text"]
    assert {"aspirin", "psoriasis"} <= {entity["text"] for entity in results[1]}


def test_long_text_is_processed_whole(trained):
    model, _ = trained
    filler = "the samples were stored at room temperature for later analysis ."
    text = " ".join([filler] * 300) + " Malaria did not respond to heparin in two cases ."
    assert len(text.split()) > 3000
    entities = model.predict_entities(text, LABELS)
    last = {(entity["text"], entity["label"]) for entity in entities if entity["start"] > len(text) - 60}
    assert ("heparin", "drug") in last
    assert ("Malaria", "disease") in last


def test_windows_cover_every_word_and_overlap_enough(trained):
    model, _ = trained
    words = ["word"] * 1000
    windows = model.word_encoder.windows([words])
    assert len(windows) > 1
    covered = set()
    for before, after in zip(windows, windows[1:]):
        assert before.word_offset + before.num_words - after.word_offset >= model.config.max_width
    for window in windows:
        covered.update(range(window.word_offset, window.word_offset + window.num_words))
        assert len(window.token_ids) <= 128  # the tiny encoder's position limit
    assert covered == set(range(len(words)))


def test_greedy_decoding_flat_nested_and_multi_label():
    candidates = [
        SpanCandidate(0, 2, 0, 0.9),  # outer
        SpanCandidate(1, 1, 1, 0.8),  # nested inside the outer span
        SpanCandidate(2, 3, 0, 0.7),  # crosses the outer span
        SpanCandidate(0, 2, 1, 0.6),  # same span as the outer one, another label
    ]
    assert greedy_decode(candidates, flat_ner=True) == [candidates[0]]
    assert greedy_decode(candidates, flat_ner=False) == [candidates[0], candidates[1]]
    assert greedy_decode(candidates, flat_ner=True, multi_label=True) == [candidates[0], candidates[3]]
    assert greedy_decode(candidates, flat_ner=False, multi_label=True) == [candidates[0], candidates[3], candidates[1]]


def test_nested_and_multi_label_through_predict(trained):
    model, _ = trained
    text = "aspirin was given to patients with breast cancer ."
    flat = model.predict_entities(text, LABELS, threshold=0.0)
    nested = model.predict_entities(text, LABELS, threshold=0.0, flat_ner=False)
    multi = model.predict_entities(text, LABELS, threshold=0.0, multi_label=True)
    spans = lambda entities: [(e["start"], e["end"]) for e in entities]  # noqa: E731
    assert len(set(spans(flat))) == len(flat)
    assert all(a[1] <= b[0] for a, b in zip(sorted(spans(flat)), sorted(spans(flat))[1:]))
    assert len(nested) > len(flat)
    assert any(a[0] <= b[0] and b[1] <= a[1] and a != b for a in spans(nested) for b in spans(nested))
    assert len(spans(multi)) > len(set(spans(multi)))


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_gives_no_entities(trained, text):
    model, _ = trained
    assert model.predict_entities(text, LABELS) == []


@pytest.mark.parametrize(
    "labels, message",
    [([], "at least one"), (["drug", ""], "empty"), (["drug", "  "], "empty"), (["drug", 3], "string")],
)
def test_bad_labels_raise(trained, labels, message):
    model, _ = trained
    with pytest.raises(ValueError, match=message):
        model.predict_entities("aspirin for gout", labels)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_threshold_outside_unit_interval_raises(trained, threshold):
    model, _ = trained
    with pytest.raises(ValueError, match="threshold"):
        model.predict_entities("aspirin for gout", LABELS, threshold=threshold)


def test_duplicate_labels_are_merged_in_order(trained):
    model, _ = trained
    text = "aspirin was given to patients with gout ."
    assert model.predict_entities(text, ["drug", "disease", "drug", " disease"]) == model.predict_entities(
        text, LABELS
    )


def test_threshold_defaults_to_config(trained):
    model, _ = trained
    text = "aspirin was given to patients with gout ."
    assert model.predict_entities(text, LABELS) == model.predict_entities(
        text, LABELS, threshold=model.config.threshold
    )


def test_loading_a_directory_without_weights_fails_clearly(trained, tmp_path):
    model, _ = trained
    model.config.save_pretrained(tmp_path)
    with pytest.raises(OSError, match="model.safetensors|pytorch_model.bin|weights"):
        KoGNERModel.from_pretrained(tmp_path)


def test_loading_another_model_type_fails_clearly(tiny_encoder_dir):
    with pytest.raises((ValueError, TypeError), match="kogner|bert"):
        KoGNERModel.from_pretrained(tiny_encoder_dir)


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="label_encoder"):
        KoGNERConfig(label_encoder="tied")
    with pytest.raises(ValueError, match="overlap"):
        KoGNERConfig(max_words_per_window=100, window_stride=96, max_width=8)
    with pytest.raises(ValueError, match="threshold"):
        KoGNERConfig(threshold=2.0)
    with pytest.raises(ValueError, match="linking_query"):
        KoGNERConfig(linking_query="cls")
    for bad in (-1, "some", 2.5):
        with pytest.raises(ValueError, match="linking_name_candidates"):
            KoGNERConfig(linking_name_candidates=bad)
    assert KoGNERConfig(linking_name_candidates="all").linking_name_candidates == "all"


def test_config_round_trips_the_linking_name_candidates(tmp_path):
    for setting in ("all", 0, 7):
        KoGNERConfig(linking_name_candidates=setting).save_pretrained(tmp_path / str(setting))
        assert KoGNERConfig.from_pretrained(tmp_path / str(setting)).linking_name_candidates == setting


def test_separate_label_encoder_starts_from_the_same_weights(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir, label_encoder="separate")
    for (name, a), (_, b) in zip(model.encoder.state_dict().items(), model.label_encoder.state_dict().items()):
        assert torch.equal(a, b), name
    assert model.label_vectors(LABELS).shape == (2, 32)


def test_span_vectors_equal_the_ffn_of_concatenated_end_words():
    from modeling_kogner.layers_kogner import SpanRepresentation

    torch.manual_seed(0)
    layer = SpanRepresentation(word_dim=6, hidden_size=4, max_width=3, dropout=0.0).eval()
    words = torch.randn(2, 5, 6)
    word_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    spans, mask = layer(words, word_mask)
    for b in range(2):
        for start in range(5):
            for width in range(3):
                end = start + width
                valid = end < 5 and bool(word_mask[b, end])
                assert bool(mask[b, start * 3 + width]) == valid
                if valid:
                    expected = layer.ffn(torch.cat([words[b, start], words[b, end]]))
                    assert torch.allclose(spans[b, start * 3 + width], expected, atol=1e-5)
