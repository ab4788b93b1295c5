"""IOB reading, benchmark loading, schema validation and mention linking."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset

from conftest import SHARED_BENCHMARKS
from data_scripts.corpora import main
from kogner.corpora.iob import IOBFormatError, iob_to_spans, read_iob_file
from kogner.corpora.linking import link_mentions
from kogner.corpora.registry import EVALUATION_CORPUS_LABELS, CORPUS_TAGS, available_evaluation_corpora, load_corpus_split, tag_label
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
    dataset = load_corpus_split(str(tmp_path / "corpus"), "test", label_map={"Disease": "illness"})
    assert [span["label"] for span in dataset[0]["ner"]] == ["illness", "cell component"]


def test_absent_corpus_says_where_files_go(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="bc4chemd") as error:
        load_corpus_split("bc4chemd", "test", data_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "bc4chemd" / "test.tsv") in message and "Hub dataset id" in message
    with pytest.raises(ValueError, match="unknown split"):
        load_corpus_split("bc4chemd", "dev2", data_dir=tmp_path)


def test_data_dir_from_environment_and_available_benchmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "ncbi_disease" / "devel.tsv", "a\tB-Disease\n")
    write(tmp_path / "bc4chemd" / "test.tsv", "b\tB-Chemical\n")
    monkeypatch.setenv("KOGNER_DATA_DIR", str(tmp_path))
    assert available_evaluation_corpora() == {"ncbi_disease": ["validation"], "bc4chemd": ["test"]}
    assert load_corpus_split("ncbi_disease", "validation")[0]["ner"] == [{"start": 0, "end": 0, "label": "disease"}]
    assert EVALUATION_CORPUS_LABELS["jnlpba"] == ["protein", "DNA", "RNA", "cell line", "cell type"]


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
    dataset = load_corpus_split(corpus, "test", data_dir=SHARED_BENCHMARKS)
    assert len(dataset) == sentences
    assert sum(len(spans) for spans in dataset["ner"]) == entities
    assert {span["label"] for spans in dataset["ner"] for span in spans} == set(EVALUATION_CORPUS_LABELS[corpus])


def test_stats_cli_prints_counts_per_split_and_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "bc5cdr" / "test.tsv", "a\tB-Chemical\nb\tO\n\nc\tB-Disease\nd\tI-Disease\ne\tB-Chemical\n")
    assert main(["--stats", "--data-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "2 sentences      3 entities  (chemical 2, disease 1)" in printed
    assert f"bc4chemd: absent (put train.tsv/devel.tsv/test.tsv in {tmp_path / 'bc4chemd'})" in printed
    assert "bc5cdr (evaluation; tags: Chemical -> chemical, Disease -> disease)" in printed
    for corpus in CORPUS_TAGS:  # every registered corpus, not only the paper's: a missing one is one line
        assert sum(line.startswith(corpus) for line in printed.splitlines()) == 1, corpus
    assert f"craft: absent (put train.tsv/devel.tsv/test.tsv in {tmp_path / 'craft'})" in printed


# --------------------------------------------------------------------------- threshold chosen on dev data only
def scored_fixture() -> tuple[list[list[tuple]], list[list[tuple]]]:
    """Gold spans and scored predictions of 4 sentences where 0.7 is the best cut: two true spans at 0.8/0.9,
    two false ones at 0.6/0.4, one true span the model misses."""
    gold = [[(0, 0, "gene")], [(1, 2, "gene")], [(0, 1, "gene")], []]
    scored = [[(0, 0, "gene", 0.9)], [(1, 2, "gene", 0.8)], [(3, 3, "gene", 0.6)], [(0, 0, "gene", 0.4)]]
    return gold, scored


def test_threshold_choice_is_the_best_mean_dev_f1() -> None:
    from kogner.evaluation.threshold import choose_threshold, spans_at

    gold, scored = scored_fixture()
    assert spans_at(scored, 0.65) == [[(0, 0, "gene")], [(1, 2, "gene")], [], []]
    choice = choose_threshold({"a:validation": (gold, scored)}, grid=[0.3, 0.5, 0.7, 0.85, 0.95])
    assert choice.threshold == 0.7 and choice.mean_f1 == pytest.approx(0.8)
    assert choice.curve["0.3"]["a:validation"] == pytest.approx(4 / 7)
    # a tie (0.5 and 0.3 both take every prediction on this set) goes to the threshold nearest 0.5
    tie = choose_threshold({"b:validation": ([[(0, 0, "x")]], [[(0, 0, "x", 0.9)]])}, grid=[0.1, 0.5, 0.9])
    assert tie.threshold == 0.5


def test_threshold_selection_refuses_test_splits_and_predicts_dev_sentences_only() -> None:
    from kogner.evaluation.threshold import TestSplitError, select_threshold

    asked: list[list[str]] = []

    def predict(batch_words, labels, threshold):
        asked.extend(list(words) for words in batch_words)
        return [[(0, 0, labels[0], 0.9)] for _ in batch_words]

    dev = Dataset.from_list([{"tokens": ["dev", "words"], "ner": [{"start": 0, "end": 0, "label": "gene"}], "kge": []}],
                            features=NER_FEATURES)
    test = Dataset.from_list([{"tokens": ["test", "words"], "ner": [], "kge": []}], features=NER_FEATURES)
    with pytest.raises(TestSplitError, match="bc2gm:test"):
        select_threshold(predict, {"craft:validation": (dev, ["gene"]), "bc2gm:test": (test, ["gene"])})
    assert asked == []  # refused before predicting anything
    choice, _ = select_threshold(predict, {"craft:validation": (dev, ["gene"])})
    assert asked == [["dev", "words"]] and choice.dev_sets == ["craft:validation"] and choice.mean_f1 == 1.0


def test_filtering_low_threshold_predictions_equals_predicting_at_the_threshold(tiny_encoder_dir, tmp_path) -> None:
    import json

    from kogner.evaluation.threshold import model_scored_predict, spans_at, write_threshold
    from modeling_kogner import KoGNERModel

    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=16).eval()
    sentences = [["BRCA1", "mutations", "cause", "breast", "cancer", "."], ["Aspirin", "helps", "."]]
    predict = model_scored_predict(model, batch_size=2)
    low = predict(sentences, ["gene", "disease"], 0.3)
    for threshold in (0.45, 0.5, 0.55):
        assert spans_at(low, threshold) == spans_at(predict(sentences, ["gene", "disease"], threshold), threshold)
    model.save_pretrained(tmp_path / "model")
    write_threshold(tmp_path / "model", 0.35)
    assert json.loads((tmp_path / "model" / "config.json").read_text())["threshold"] == 0.35
    assert KoGNERModel.from_pretrained(tmp_path / "model").config.threshold == 0.35


# --------------------------------------------------------------------------------- protocol scripts (smoke)
def protocol_fixture(tmp_path: Path, encoder: Path) -> dict[str, Path]:
    """Tiny corpora (two added, four evaluated; JNLPBA without train), a tiny KG dataset and a tiny-model config."""
    from datasets import DatasetDict

    from toy_data import toy_examples

    data = tmp_path / "corpora"
    protein = "p53\tB-Protein\nbinds\tO\nMDM2\tB-Protein\n.\tO\n\nIL-2\tB-Protein\nrises\tO\n"
    files = {
        "bionlp09": protein,
        "craft": "the\tO\nnucleus\tB-GO\nof\tO\nmouse\tB-Taxon\ncells\tB-CL\n",
        "ncbi_disease": "gout\tB-Disease\nflares\tO\n\nsevere\tO\nasthma\tB-Disease\n",
        "bc5cdr": "aspirin\tB-Chemical\ncaused\tO\ngout\tB-Disease\n",
        "bc2gm": "BRCA1\tB-GENE\nmutations\tO\n",
    }
    for corpus, text in files.items():
        for split in ("train", "devel", "test"):
            write(data / corpus / f"{split}.tsv", text)
    for split in ("devel", "test"):
        write(data / "jnlpba" / f"{split}.tsv", "IL-2\tB-protein\ngene\tI-protein\nin\tO\nT\tB-cell_type\ncells\tI-cell_type\n")
    write(tmp_path / "biored" / "train.pubtator",  # beside the corpus folder, as ../shared/data/biored
          "1|t|BRCA1 mutations in gout.\n1|a|Aspirin was given.\n1\t0\t5\tBRCA1\tGeneOrGeneProduct\t672\n\n")
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples(12)]
    kg = tmp_path / "kg-disjoint"
    DatasetDict(train=Dataset.from_list(rows[:8]), validation=Dataset.from_list(rows[8:10]),
                test=Dataset.from_list(rows[10:])).save_to_disk(str(kg))
    config = write(tmp_path / "tiny.yaml", "\n".join([
        f"encoder: {encoder}", "hidden_size: 32", "distillation_dim: 16", "dropout: 0.1", "max_steps: 2",
        "per_device_train_batch_size: 4", "learning_rate: 0.005", "logging_steps: 1", "save_strategy: 'no'",
        "report_to: none", "use_cpu: true", "disable_tqdm: true", "seed: 1", "label_implications: [gene=protein]", ""]))
    return {"data": data, "kg": kg, "config": config}


def protocol_argv(paths: dict[str, Path], tmp_path: Path, *extra: str) -> list[str]:
    return ["--config", str(paths["config"]), "--data-dir", str(paths["data"]), "--kg-data", str(paths["kg"]),
            "--teacher", "none", "--runs-dir", str(tmp_path / "runs"), "--eval-batch-size", "4",
            "--grid", "0.3", "0.5", "0.7", *extra]


@pytest.mark.slow
def test_zero_shot_protocol_never_tunes_on_evaluated_corpora_and_resumes(tiny_encoder_dir, tmp_path, monkeypatch,
                                                                         capsys) -> None:
    import json

    from benchmarks import protocols

    paths = protocol_fixture(tmp_path, tiny_encoder_dir)
    seen: list[str] = []
    select = protocols.select_threshold

    def recording_select(predict, dev_sets, grid):
        seen.extend(dev_sets)
        return select(predict, dev_sets, grid)

    monkeypatch.setattr(protocols, "select_threshold", recording_select)
    output = tmp_path / "zero_shot.json"
    assert protocols.main("zero_shot", protocol_argv(paths, tmp_path, "--seeds", "1", "2", "--output", str(output))) == 0
    assert f"corpus bc4chemd: folder {paths['data'] / 'bc4chemd'} is missing, skipped" in capsys.readouterr().out
    # the threshold was chosen on dev splits of the training corpora (and the KG validation split) only
    assert sorted(set(seen)) == ["bionlp09:validation", "craft:validation", "kg-disjoint:validation"]
    results = json.loads(output.read_text())
    for key in ("command", "commit", "machine", "date", "seeds", "threshold", "corpora", "label_implications"):
        assert key in results, key
    assert results["seeds"] == [1, 2] and set(results["threshold"]["per_seed"]) == {"1", "2"}
    assert sorted(results["corpora"]) == ["bc2gm", "bc5cdr", "jnlpba", "ncbi_disease"]
    assert set(results["corpora"]["jnlpba"]) >= {"f1", "f1_std", "precision", "recall", "per_label"}
    assert "protein" in results["corpora"]["jnlpba"]["per_label"] and "kg-disjoint" in results["kg_test"]
    assert results["label_implications"]["chosen"] == ["gene=protein"]  # the config's: one candidate, not selected
    run = results["runs"]["1"]
    assert run["training"]["train_data"] == ["bionlp09", "craft", "biored", str(paths["kg"])]  # BioRED: train only
    filter_at = run["training"]["argv"].index("--drop_documents_shared_with")  # no document of any evaluated split
    assert run["training"]["argv"][filter_at + 1:filter_at + 6] == ["ncbi_disease", "bc5cdr", "bc2gm", "jnlpba",
                                                                     "bc4chemd"]
    model_config = json.loads((Path(run["dir"]) / "model" / "config.json").read_text())
    assert model_config["threshold"] == results["threshold"]["per_seed"]["1"]

    # identical settings: nothing is trained or predicted again
    monkeypatch.setattr("kogner.training.pipeline.run_training", lambda *a: pytest.fail("retrained"))
    monkeypatch.setattr(protocols, "select_threshold", lambda *a: pytest.fail("re-tuned"))
    assert protocols.main("zero_shot", protocol_argv(paths, tmp_path, "--seeds", "1", "2", "--output", str(output))) == 0
    assert json.loads(output.read_text())["corpora"] == results["corpora"]


@pytest.mark.slow
def test_supervised_protocol_runs_the_peer_on_the_same_mix(tiny_encoder_dir, tmp_path) -> None:
    import json

    from benchmarks import protocols

    paths = protocol_fixture(tmp_path, tiny_encoder_dir)
    output = tmp_path / "supervised.json"
    argv = protocol_argv(paths, tmp_path, "--seeds", "3", "--output", str(output), "--max-steps", "1",
                         "--implication-candidates", "none", "gene=protein",
                         "--", "--train_weights", f"{paths['kg']}=2")
    assert protocols.main("supervised", argv) == 0
    results = json.loads(output.read_text())
    assert results["training"]["source_weights"] == {str(paths["kg"]): 2.0}  # ours and the peer's mix
    peer_dirs = list((tmp_path / "runs" / "supervised").glob("peer-*/seed3"))
    assert len(peer_dirs) == 1 and (peer_dirs[0] / "peer").is_dir()  # keyed apart from our recipe
    assert sorted(results["corpora"]) == sorted(results["peer"]) == ["bc2gm", "bc5cdr", "ncbi_disease"]
    assert results["runs"]["3"]["training"]["train_data"] == [
        "bionlp09", "craft", "ncbi_disease", "bc5cdr", "bc2gm", "biored", str(paths["kg"])]
    assert results["peer_runs"]["3"]["threshold"]["dev_sets"] == results["runs"]["3"]["threshold"]["dev_sets"]
    choice = results["label_implications"]
    assert set(choice["dev_mean_f1"]) == {"none", "gene=protein"} and choice["chosen"] in ([], ["gene=protein"])


def protocol_result(f1_per_seed: dict[str, list[float]], dist_share: float,
                    sentences_files: dict[str, str] | None = None) -> dict:
    """The part of a protocol results JSON that the ablation reads."""
    return {"command": "python -m benchmarks.zero_shot ...", "commit": "abc1234", "seeds": [1, 2],
            "corpora": {corpus: {"f1": sum(values) / 2, "f1_std": 0.0, "f1_per_seed": values}
                        for corpus, values in f1_per_seed.items()},
            "runs": {seed: {"training": {"loss_log": [{"step": 1, "lang_loss": 0.5, "dist_loss": 1.0,
                                                       "dist_share": dist_share}]},
                            **({"sentences_file": sentences_files[seed]} if sentences_files else {})}
                     for seed in ("1", "2")}}


def test_ablation_assembles_arms_from_given_protocol_results(tmp_path) -> None:
    import json

    from benchmarks import ablation

    paths = {}
    for name, values, share in (("dist_0.2", {"bc2gm": [30.0, 34.0], "jnlpba": [20.0, 22.0]}, 0.2),
                                ("dist_0", {"bc2gm": [28.0, 30.0], "jnlpba": [20.0, 24.0]}, 0.0)):
        paths[name] = write(tmp_path / f"{name}.json", json.dumps(protocol_result(values, share)))
    output = tmp_path / "ablation.json"
    assert ablation.main(["--arms", "dist_0.2", "dist_0", "--seeds", "1", "2", "--output", str(output),
                          "--results", f"dist_0.2={paths['dist_0.2']}", f"dist_0={paths['dist_0']}"]) == 0
    results = json.loads(output.read_text())
    mean = results["paired"]["dist_0.2"]["corpora"]["mean_over_corpora"]
    assert mean["differences"] == [1.0, 1.0] and mean["wins"] == 2  # (30+20)/2-(28+20)/2, (34+22)/2-(30+24)/2
    assert results["arms"]["dist_0.2"]["results_file"] == str(paths["dist_0.2"])
    assert results["arms"]["dist_0"]["commit"] == "abc1234"
    assert "no per-sentence spans" in results["paired"]["dist_0.2"]["bootstrap"]["skipped"]
    for key in ("command", "commit", "machine", "date", "seeds"):
        assert key in results, key
    assert results["command"].startswith("python -m benchmarks.ablation --arms")
    with pytest.raises(SystemExit):
        ablation.parse_args(["--results", "dist_0"])  # not ARM=JSON


def test_ablation_bootstraps_each_corpus_difference_from_saved_sentence_spans(tmp_path) -> None:
    """Arm B finds one more gold span than the base in every other sentence of each seed: its bootstrap interval
    lies above 0 and holds the pooled difference; the sentence files round-trip through the protocol's writer."""
    import json

    from benchmarks import ablation
    from benchmarks.sentence_spans import read_sentence_spans, sentence_spans_path, write_sentence_spans

    gold = [[(0, 0, "disease"), (2, 3, "disease")] for _ in range(200)]
    base_spans = [[(0, 0, "disease")] for _ in gold]
    arm_spans = [spans + ([(2, 3, "disease")] if index % 2 else []) for index, spans in enumerate(base_spans)]
    files: dict[str, dict[str, str]] = {"base": {}, "arm": {}}
    for name, predicted in (("base", base_spans), ("arm", arm_spans)):
        for seed in ("1", "2"):
            record = tmp_path / name / seed / "eval-key.json"
            files[name][seed] = write_sentence_spans(record, {"ncbi_disease:test": (gold, predicted)})
            assert files[name][seed] == str(sentence_spans_path(record))
    assert read_sentence_spans(files["arm"]["1"])["ncbi_disease:test"] == (gold, arm_spans)
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        write_sentence_spans(tmp_path / "bad.json", {"x:test": ([[], []], [[]])})

    base = protocol_result({"ncbi_disease": [66.7, 66.7]}, 0.0, files["base"])
    arm = protocol_result({"ncbi_disease": [80.0, 80.0]}, 0.2, files["arm"])
    comparison = ablation.paired(arm, base, resamples=500)
    found = comparison["bootstrap"]["ncbi_disease"]
    assert found["difference"] == pytest.approx(100 * (6 / 7 - 2 / 3), abs=1e-3)  # F1 300/350 vs 200/300
    assert 0 < found["ci95"][0] < found["difference"] < found["ci95"][1]
    assert found["sentences"] == 200 and found["resamples"] == 500
    assert "ncbi_disease +19.05 [" in "\n".join(ablation.bootstrap_lines({"dist_0.2": comparison}))
    assert ablation.paired(arm, arm, resamples=100)["bootstrap"]["ncbi_disease"]["ci95"] == [0.0, 0.0]
