"""benchmarks.kg_contribution: the four arms on tiny corpora, the results schema, paired bootstrap differences, resuming,
the no-KG arm's mix, and KG-annotated text that would leak an evaluated corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict

from test_benchmarks import protocol_fixture
from toy_data import toy_examples, toy_kg_ids

from benchmarks import kg_contribution
from kogner.evaluation.metrics import span_scores


def write_teacher(directory: Path) -> Path:
    """A tiny teacher over the toy KG ids with the three parts of H, as `kogner.teacher.views` reads them."""
    from kogner.teacher.artifact import scale_blocks
    from kogner.teacher.files import write_summary, write_teacher_files

    ids, generator = toy_kg_ids(), torch.Generator().manual_seed(5)
    blocks = {view: torch.randn(len(ids), 4, generator=generator) for view in ("Z", "Z_prime", "Z_double_prime")}
    h, scaling = scale_blocks(blocks)
    entities = "row\tkg_id\tname\ttype\n" + "".join(f"{row}\t{kg_id}\t{kg_id.split(':')[1]}\t{kg_id.split(':')[0]}\n"
                                                    for row, kg_id in enumerate(ids))
    directory.mkdir(parents=True)
    artifact = write_teacher_files(directory, {"H": h, **blocks, "covered": torch.ones(len(ids), dtype=torch.bool)},
                                   entities, "")
    write_summary(directory, {"dims": {**{view: 4 for view in blocks}, "H": int(h.shape[1])}, "scaling": scaling,
                              "artifact": artifact, "kg": {"fingerprint": ""}})
    return directory


def write_kg_text(directory: Path, source: str) -> Path:
    """A tiny `kg_annotate.py`-like output: train and validation splits, ``annotation.json`` naming its source."""
    rows = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples(6, seed=1)]
    DatasetDict(train=Dataset.from_list(rows[:4]), validation=Dataset.from_list(rows[4:])).save_to_disk(str(directory))
    (directory / "annotation.json").write_text(json.dumps({"source": source, "settings": {}}))
    return directory


@pytest.mark.slow
def test_four_arms_give_the_results_schema_with_paired_bootstrap_differences(tiny_encoder_dir, tmp_path,
                                                                            monkeypatch) -> None:
    paths = protocol_fixture(tmp_path, tiny_encoder_dir)
    teacher, kg_text = write_teacher(tmp_path / "teacher"), write_kg_text(tmp_path / "kg-text", "craft")
    output, runs = tmp_path / "kg_contribution.json", tmp_path / "runs"
    argv = ["--config", str(paths["config"]), "--data-dir", str(paths["data"]), "--kg-data", str(paths["kg"]),
            "--kg-text", str(kg_text), "--teacher", str(teacher), "--runs-dir", str(runs), "--seeds", "1",
            "--max-steps", "1", "--eval-batch-size", "4", "--grid", "0.01", "0.02", "--resamples", "200",
            "--output", str(output), "--", "--train_weights", f"{paths['kg']}=2"]
    assert kg_contribution.main(argv) == 0
    results = json.loads(output.read_text())
    for key in ("command", "commit", "machine", "date", "seeds", "steps", "arms", "differences", "bootstrap"):
        assert key in results, key
    assert results["command"].startswith("python -m benchmarks.kg_contribution --config")
    assert results["seeds"] == [1] and results["steps"] == 1 and results["protocol"] == "zero_shot"
    assert list(results["arms"]) == ["no_kg", "kg_data", "full", "full_z_zprime"]
    corpora = ["bc2gm", "bc5cdr", "jnlpba", "ncbi_disease"]
    for name, arm in results["arms"].items():
        assert sorted(arm["corpora"]) == corpora, name
        for values in arm["corpora"].values():
            assert 0 <= values["f1"] <= 100 and len(values["f1_per_seed"]) == 1
        choice = arm["threshold"]["per_seed"]["1"]
        assert choice["threshold"] in (0.01, 0.02) and len(choice["dev_f1"]) == len(arm["threshold"]["chosen_on"])
        assert choice["mean_dev_f1"] == pytest.approx(sum(choice["dev_f1"].values()) / len(choice["dev_f1"]), abs=0.02)
    kg_sources = [str(paths["kg"]), str(kg_text)]
    arms = results["arms"]
    assert arms["no_kg"]["kg_data"] == [] and arms["no_kg"]["teacher"] == "none"
    assert arms["no_kg"]["training"]["extra_train_args"] == []  # the KG weight is dropped with the KG source
    assert arms["kg_data"]["training"]["extra_train_args"] == ["--train_weights", f"{paths['kg']}=2"]
    assert sorted(arms["no_kg"]["threshold"]["chosen_on"]) == ["bionlp09:validation", "craft:validation"]
    assert f"{kg_text}:validation" in arms["kg_data"]["threshold"]["chosen_on"]
    assert arms["kg_data"]["kg_data"] == arms["full"]["kg_data"] == kg_sources and arms["kg_data"]["teacher"] == "none"
    assert arms["full"]["teacher"] == str(teacher) and arms["full_z_zprime"]["views"] == ["Z", "Z_prime"]
    assert Path(arms["full_z_zprime"]["teacher"]).parent == runs / "teachers"
    assert arms["no_kg"]["dist_weight_per_seed"]["1"] == 0.0 and arms["kg_data"]["dist_weight_per_seed"]["1"] == 0.0
    assert arms["full"]["dist_weight_per_seed"]["1"] > 0 and arms["full_z_zprime"]["dist_weight_per_seed"]["1"] > 0

    assert sorted(results["differences"]) == ["full_vs_no_kg", "full_z_zprime_vs_no_kg", "kg_data_vs_no_kg"]
    for name, found in results["differences"].items():
        assert sorted(found) == sorted([*corpora, "mean_over_corpora"]), name
        for corpus in corpora:
            delta = found[corpus]
            arm = name.removesuffix("_vs_no_kg")
            assert delta["mean"] == pytest.approx(arms[arm]["corpora"][corpus]["f1"]
                                                  - arms["no_kg"]["corpora"][corpus]["f1"], abs=0.02)
            low, high = delta["ci95"]
            assert low <= high and delta["resamples"] == 200
            # one seed: the pooled difference the bootstrap resamples is the same-seed difference
            assert delta["pooled_difference"] == pytest.approx(delta["mean"], abs=0.02)
        assert found["mean_over_corpora"]["mean"] == pytest.approx(
            sum(found[corpus]["mean"] for corpus in corpora) / len(corpora), abs=0.02)
        assert len(found["mean_over_corpora"]["ci95"]) == 2

    # paired: an arm against itself differs by 0 in every resample; the pooled F1 comes from the saved sentences
    full = json.loads(Path(arms["full"]["results_file"]).read_text())
    same = kg_contribution.differences(full, full, resamples=100)
    assert all(values["mean"] == 0 and values["ci95"] == [0.0, 0.0] for values in same.values())
    sentences = json.loads(Path(full["runs"]["1"]["sentences_file"]).read_text())["ncbi_disease:test"]
    f1 = span_scores([[tuple(s) for s in spans] for spans in sentences["gold"]],
                     [[tuple(s) for s in spans] for spans in sentences["predicted"]])["f1"]
    assert arms["full"]["corpora"]["ncbi_disease"]["f1"] == pytest.approx(100 * f1, abs=0.01)

    # a rerun with the same arguments reuses every run: nothing is trained or tuned again
    monkeypatch.setattr("kogner.training.pipeline.run_training", lambda *a: pytest.fail("retrained"))
    monkeypatch.setattr("benchmarks.protocols.select_threshold", lambda *a: pytest.fail("re-tuned"))
    assert kg_contribution.main(argv) == 0
    assert json.loads(output.read_text())["differences"] == results["differences"]


def test_no_kg_arm_drops_the_weights_of_kg_sources_and_leaking_text_is_refused(tmp_path) -> None:
    kg = ["runs/data-disjoint", "runs/kg-text"]
    assert kg_contribution.train_args_without(kg, [
        "--lr", "1", "--train_weights", "runs/data-disjoint=3", "craft=2", "--x", "y"]) == [
        "--lr", "1", "--train_weights", "craft=2", "--x", "y"]
    assert kg_contribution.train_args_without(kg, ["--train_weights", "./runs/kg-text=2", "--y"]) == ["--y"]
    assert kg_contribution.train_args_without(kg, ["--train_weights=runs/data-disjoint=3"]) == []
    config = tmp_path / "c.yaml"
    config.write_text("max_steps: 5\ntrain_weights: [runs/data-disjoint=3]\n")
    rewritten = Path(kg_contribution.config_without(kg, str(config), tmp_path / "configs"))
    assert rewritten.parent == tmp_path / "configs" and rewritten.read_text() == "max_steps: 5\n"
    config.write_text("max_steps: 5\ntrain_weights: [craft=2]\n")
    assert kg_contribution.config_without(kg, str(config), tmp_path / "configs") == str(config)

    leaking = write_kg_text(tmp_path / "leak", "ncbi_disease:train")
    with pytest.raises(SystemExit, match="evaluated corpus"):
        kg_contribution.parse_args(["--kg-text", str(leaking)])
    (tmp_path / "plain").mkdir()
    with pytest.raises(SystemExit, match="no annotation.json"):
        kg_contribution.parse_args(["--kg-text", str(tmp_path / "plain")])
