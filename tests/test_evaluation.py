"""The strict span scorer (hand-made cases, agreement with seqeval) and `evaluate.py` end to end on a tiny model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from kogner.corpora.iob import iob_to_spans
from kogner.evaluation.cli import main
from kogner.evaluation.evaluate import evaluate_dataset, markdown_table, predict_spans
from kogner.evaluation.metrics import gold_spans, span_scores, spans_to_iob
from modeling_kogner import KoGNERModel


# ------------------------------------------------------------------------------------------------ hand-made cases
def test_exact_match_is_perfect():
    scores = span_scores([[(0, 1, "disease"), (4, 4, "drug")]], [[(4, 4, "drug"), (0, 1, "disease")]])
    assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 1.0, 1.0)
    assert scores["support"] == 2 and scores["predicted"] == 2 and scores["sentences"] == 1


@pytest.mark.parametrize("predicted", [(0, 2, "disease"), (1, 1, "disease"), (0, 0, "disease"), (1, 2, "disease")])
def test_boundary_off_by_one_scores_nothing(predicted):
    scores = span_scores([[(0, 1, "disease")]], [[predicted]])
    assert scores["f1"] == 0.0 and scores["precision"] == 0.0 and scores["recall"] == 0.0
    assert scores["per_label"]["disease"]["support"] == 1 and scores["per_label"]["disease"]["predicted"] == 1


def test_wrong_type_counts_against_both_labels():
    scores = span_scores([[(0, 1, "disease")]], [[(0, 1, "drug")]])
    assert scores["f1"] == 0.0
    assert scores["per_label"]["disease"] == pytest.approx(
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    )
    assert scores["per_label"]["drug"] == pytest.approx(
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 1}
    )


def test_nested_gold_spans_count_separately():
    gold = [[(0, 3, "protein"), (2, 3, "DNA"), (0, 0, "protein")]]
    scores = span_scores(gold, [[(0, 3, "protein")]])  # a flat model can find only the outer span
    assert scores["support"] == 3
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["per_label"]["protein"]["recall"] == pytest.approx(0.5)
    assert scores["per_label"]["DNA"]["recall"] == 0.0


def test_duplicate_spans_count_once():
    scores = span_scores([[(2, 3, "drug"), (2, 3, "drug")]], [[(2, 3, "drug"), (2, 3, "drug"), (5, 5, "drug")]])
    assert scores["support"] == 1 and scores["predicted"] == 2
    assert scores["precision"] == 0.5 and scores["recall"] == 1.0
    assert scores["f1"] == pytest.approx(2 / 3)


def test_micro_average_over_sentences_and_empty_cases():
    gold = [[(0, 0, "a")], [], [(1, 2, "b"), (4, 4, "a")]]
    predicted = [[(0, 0, "a")], [(3, 3, "b")], [(1, 2, "b")]]
    scores = span_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["per_label"]["a"]["recall"] == 0.5 and scores["per_label"]["b"]["precision"] == 0.5
    nothing = span_scores([[]], [[]])
    assert nothing["f1"] == 0.0 and nothing["per_label"] == {}


def test_sentence_count_mismatch_is_an_error():
    with pytest.raises(ValueError):
        span_scores([[(0, 0, "a")], []], [[(0, 0, "a")]])


def test_gold_spans_reads_the_schema():
    example = {"tokens": ["a", "b", "c"], "ner": [{"start": 1, "end": 2, "label": "drug"}], "kge": []}
    assert gold_spans(example) == [(1, 2, "drug")]


# ------------------------------------------------------------------------------------------- agreement with seqeval
TYPES = ["Disease", "Chemical", "GENE"]


def random_flat_spans(generator: random.Random, length: int) -> list[tuple[int, int, str]]:
    """Non-overlapping spans over ``length`` words."""
    spans, position = [], 0
    while position < length:
        if generator.random() < 0.3:
            end = min(length - 1, position + generator.randrange(4))
            spans.append((position, end, generator.choice(TYPES)))
            position = end + 1
        position += generator.randrange(3)
    return spans


def perturb(generator: random.Random, spans: list[tuple[int, int, str]], length: int) -> list[tuple[int, int, str]]:
    """A plausible prediction: keep, drop, shift a boundary or relabel each span, plus occasional extra spans."""
    predicted = []
    for start, end, label in spans:
        roll = generator.random()
        if roll < 0.5:
            predicted.append((start, end, label))
        elif roll < 0.65:
            predicted.append((start, max(start, end - 1), label))
        elif roll < 0.8:
            predicted.append((start, end, generator.choice(TYPES)))
    occupied = {position for start, end, _ in predicted for position in range(start, end + 1)}
    for start, end, label in random_flat_spans(generator, length):
        if generator.random() < 0.2 and not occupied & set(range(start, end + 1)):
            predicted.append((start, end, label))
            occupied |= set(range(start, end + 1))
    return predicted


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_agrees_with_seqeval_on_flat_iob(seed):
    generator = random.Random(seed)
    gold_tags, predicted_tags, gold, predicted = [], [], [], []
    for _ in range(60):
        length = generator.randrange(1, 25)
        gold_sentence = random_flat_spans(generator, length)
        predicted_sentence = perturb(generator, gold_sentence, length)
        gold.append(gold_sentence)
        predicted.append(predicted_sentence)
        gold_tags.append(spans_to_iob(gold_sentence, length))
        predicted_tags.append(spans_to_iob(predicted_sentence, length))
    ours = span_scores(gold, predicted)
    assert 0.0 < ours["f1"] < 1.0  # the case is informative: neither empty nor perfect
    assert ours["precision"] == pytest.approx(precision_score(gold_tags, predicted_tags))
    assert ours["recall"] == pytest.approx(recall_score(gold_tags, predicted_tags))
    assert ours["f1"] == pytest.approx(f1_score(gold_tags, predicted_tags))
    report = classification_report(gold_tags, predicted_tags, output_dict=True, zero_division=0)
    for label in TYPES:
        if label in report:
            assert ours["per_label"][label]["f1"] == pytest.approx(report[label]["f1-score"])
            assert ours["per_label"][label]["support"] == report[label]["support"]


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_agrees_with_seqeval_on_malformed_iob(seed):
    """Arbitrary tag sequences (I- after O, type switches inside an entity) decode as conlleval/seqeval does."""
    generator = random.Random(seed)
    tag_set = ["O", "O", "O"] + [f"{prefix}-{label}" for prefix in ("B", "I") for label in TYPES[:2]]
    gold_tags = [[generator.choice(tag_set) for _ in range(generator.randrange(1, 20))] for _ in range(80)]
    predicted_tags = [[tag if generator.random() < 0.7 else generator.choice(tag_set) for tag in s] for s in gold_tags]
    ours = span_scores([iob_to_spans(s) for s in gold_tags], [iob_to_spans(s) for s in predicted_tags])
    assert 0.0 < ours["f1"] < 1.0
    assert ours["precision"] == pytest.approx(precision_score(gold_tags, predicted_tags))
    assert ours["recall"] == pytest.approx(recall_score(gold_tags, predicted_tags))
    assert ours["f1"] == pytest.approx(f1_score(gold_tags, predicted_tags))


# ------------------------------------------------------------------------------------ evaluate.py on a tiny model
TINY_SENTENCES = [
    (["Aspirin", "can", "cause", "Reye", "syndrome", "."], ["B-Chemical", "O", "O", "B-Disease", "I-Disease", "O"]),
    (["Cisplatin", "induced", "nephrotoxicity", "in", "rats"], ["B-Chemical", "O", "B-Disease", "O", "O"]),
    (["No", "entity", "here", "."], ["O", "O", "O", "O"]),
    (["Patients", "with", "breast", "cancer", "received", "tamoxifen"],
     ["O", "O", "B-Disease", "I-Disease", "O", "B-Chemical"]),
]


@pytest.fixture(scope="module")
def tiny_model_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, dropout=0.1)
    directory = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/tiny/test.tsv``: an IOB corpus folder that is not one of the known benchmarks."""
    root = tmp_path_factory.mktemp("corpora")
    (root / "tiny").mkdir()
    blocks = ["\n".join(f"{token}\t{tag}" for token, tag in zip(tokens, tags)) for tokens, tags in TINY_SENTENCES]
    (root / "tiny" / "test.tsv").write_text("\n\n".join(blocks) + "\n")
    return root


def expected_scores(model_dir: Path, threshold: float) -> dict:
    """The same evaluation computed directly from the model and the scorer, independent of the CLI."""
    model = KoGNERModel.from_pretrained(model_dir).eval()
    labels = ["chemical", "disease"]
    found = model.predict_word_spans([tokens for tokens, _ in TINY_SENTENCES], labels, threshold, True)
    predicted = [[(span.start, span.end, labels[span.label]) for span in sentence] for sentence in found]
    gold = [iob_to_spans(tags) for _, tags in TINY_SENTENCES]
    gold = [[(start, end, kind.lower()) for start, end, kind in sentence] for sentence in gold]
    return span_scores(gold, predicted)


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_evaluate_cli_writes_table_and_json(tiny_model_dir, tiny_corpus_dir, tmp_path, monkeypatch, capsys, threshold):
    monkeypatch.chdir(tmp_path)  # "tiny" must resolve under --data-dir, not as a local path
    output = tmp_path / "results.json"
    code = main([
        "--model", str(tiny_model_dir), "--data-dir", str(tiny_corpus_dir), "--corpora", "tiny",
        "--output", str(output), "--device", "cpu", "--batch-size", "2", "--threshold", str(threshold),
    ])
    assert code == 0
    written = json.loads(output.read_text())
    assert written["model"] == str(tiny_model_dir)
    result = written["results"]["tiny:test"]
    assert result["labels"] == ["chemical", "disease"]
    assert result["sentences"] == len(TINY_SENTENCES) and result["support"] == 6
    expected = expected_scores(tiny_model_dir, threshold)
    for key in ("precision", "recall", "f1", "support", "predicted"):
        assert result[key] == pytest.approx(expected[key]), key
    if threshold == 0.0:
        assert result["predicted"] > 0  # every span passes: the flat decoder must still emit a tiling
    printed = capsys.readouterr().out
    assert "| corpus | labels (prompts) | P | R | F1 | per-label F1 |" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| tiny:test |"))
    assert f"| {result['f1'] * 100:.1f} |" in row and "chemical, disease" in row


def test_evaluate_cli_reads_a_saved_dataset_dir(tiny_model_dir, tmp_path, capsys):
    records = [
        {"tokens": tokens, "ner": [{"start": s, "end": e, "label": k.lower()} for s, e, k in iob_to_spans(tags)],
         "kge": []}
        for tokens, tags in TINY_SENTENCES
    ]
    DatasetDict({"test": Dataset.from_list(records)}).save_to_disk(str(tmp_path / "saved"))
    output = tmp_path / "out.json"
    code = main(["--model", str(tiny_model_dir), "--corpora", str(tmp_path / "saved"), "--output", str(output),
                 "--device", "cpu", "--max-sentences", "2"])
    assert code == 0
    result = json.loads(output.read_text())["results"]["saved:test"]
    assert result["sentences"] == 2 and result["support"] == 4
    assert "| saved:test |" in capsys.readouterr().out


def test_evaluate_cli_without_corpora_fails_clearly(tiny_model_dir, tmp_path, capsys):
    assert main(["--model", str(tiny_model_dir), "--data-dir", str(tmp_path), "--device", "cpu"]) == 2
    assert "no evaluation corpus found" in capsys.readouterr().err


def test_markdown_table_and_predict_spans_agree(tiny_model_dir):
    model = KoGNERModel.from_pretrained(tiny_model_dir).eval()
    dataset = Dataset.from_list([
        {"tokens": tokens, "ner": [{"start": s, "end": e, "label": k.lower()} for s, e, k in iob_to_spans(tags)],
         "kge": []}
        for tokens, tags in TINY_SENTENCES
    ])
    chunked = predict_spans(model, dataset["tokens"], ["chemical", "disease"], 0.0, batch_size=1, progress=False)
    whole = predict_spans(model, dataset["tokens"], ["chemical", "disease"], 0.0, batch_size=64, progress=False)
    assert chunked == whole  # batching (and the chunking of the progress loop) does not change predictions
    scores = evaluate_dataset(model, dataset, threshold=0.0, progress=False)
    assert scores["labels"] == ["chemical", "disease"]
    table = markdown_table({"toy": scores})
    assert table.splitlines()[2].startswith("| toy | chemical, disease |")


# ------------------------------------------------------------------------------- benchmark scripts' pure helpers
def test_peer_maps_gliner_char_offsets_back_to_words():
    from benchmarks import peer

    text, offsets = peer.word_offsets(["IL", "-", "2", "gene", "expression"])
    assert text == "IL - 2 gene expression"
    assert peer.char_span_to_words(0, 6, offsets) == (0, 2)  # "IL - 2"
    assert peer.char_span_to_words(7, 11, offsets) == (3, 3)  # "gene"
    assert peer.char_span_to_words(8, 10, offsets) == (3, 3)  # inside one word
    assert peer.char_span_to_words(11, 12, offsets) is None  # only the space
    converted = peer.to_gliner_format({"tokens": [["a", "b"]], "ner": [[{"start": 0, "end": 1, "label": "gene"}]]})
    assert converted == [{"tokenized_text": ["a", "b"], "ner": [[0, 1, "gene"]]}]
