"""Atomic outputs, the teacher fingerprint, `make demo` resume, and evaluation files that never overwrite training's."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from datasets import Dataset, DatasetDict, load_from_disk
from safetensors.torch import save_file

from kogner import atomic
from kogner.atomic import (
    atomic_path, atomic_write_json, checkpoint_is_complete, last_complete_checkpoint, publish_folder,
    safetensors_is_complete,
)
from kogner.schema import NER_FEATURES
from kogner.teacher import Teacher
from kogner.teacher.files import TeacherFilesError, write_summary, write_teacher_files

REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ atomic writes


def test_interrupted_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    atomic_write_json(target, {"version": 1})
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(target) as temporary:
            temporary.write_text('{"version": 2, "trunc')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary left behind


def test_failed_rename_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "teacher.json"
    target.write_text("old")

    def broken_replace(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"new": True})
    assert target.read_text() == "old"


def schema_dataset(count: int) -> DatasetDict:
    rows = [{"tokens": ["BRCA1", "mutation", str(i)], "ner": [{"start": 0, "end": 0, "label": "gene"}], "kge": []}
            for i in range(count)]
    return DatasetDict(train=Dataset.from_list(rows, features=NER_FEATURES),
                       test=Dataset.from_list(rows[:2], features=NER_FEATURES))


def test_interrupted_dataset_publication_is_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kogner.datagen.build import save_outputs

    out = tmp_path / "data"
    save_outputs(out, schema_dataset(4), {"kept": 6}, "card")
    assert len(load_from_disk(str(out))["train"]) == 4
    calls = []
    real_replace = os.replace

    def dying_replace(source: Any, target: Any) -> None:  # kill after the first split moved
        calls.append(target)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        save_outputs(out, schema_dataset(7), {"kept": 9}, "card")
    monkeypatch.undo()
    assert not (out / "dataset_dict.json").exists()
    with pytest.raises(FileNotFoundError):
        load_from_disk(str(out))  # a half-published dataset is not taken for a complete one
    save_outputs(out, schema_dataset(7), {"kept": 9}, "card")  # the rerun completes it
    assert len(load_from_disk(str(out))["train"]) == 7


def test_publish_refuses_a_staging_folder_without_its_marker(tmp_path: Path) -> None:
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "model.safetensors").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="config.json"):
        publish_folder(tmp_path / "staging", tmp_path / "model", marker="config.json")


def test_final_model_save_is_published_with_config_last(tmp_path: Path) -> None:
    from kogner.training.pipeline import save_final_model

    class FakeTrainer:
        accelerator = SimpleNamespace(wait_for_everyone=lambda: None)

        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def is_world_process_zero(self) -> bool:
            return True

        def save_model(self, output_dir: str, _internal_call: bool = False) -> None:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            (Path(output_dir) / "model.safetensors").write_text("failed run" if self.fail else "weights")
            if self.fail:
                raise KeyboardInterrupt  # killed before config.json was written
            (Path(output_dir) / "config.json").write_text("{}")

    output = tmp_path / "model"
    (output / "checkpoint-10").mkdir(parents=True)
    save_final_model(FakeTrainer(fail=False), str(output))
    assert (output / "config.json").exists() and (output / "checkpoint-10").is_dir()
    with pytest.raises(KeyboardInterrupt):
        save_final_model(FakeTrainer(fail=True), str(output))
    assert (output / "model.safetensors").read_text() == "weights" and (output / "config.json").exists()
    save_final_model(FakeTrainer(fail=False), str(output))  # the rerun replaces the leftover staging folder
    assert sorted(p.name for p in output.iterdir()) == ["checkpoint-10", "config.json", "model.safetensors"]


# ------------------------------------------------------------------------------------------ completeness checks


def write_checkpoint(folder: Path, step: int) -> Path:
    checkpoint = folder / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    save_file({"w": torch.ones(4, 4)}, str(checkpoint / "model.safetensors"))
    torch.save({"step": step}, checkpoint / "optimizer.pt")
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return checkpoint


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_files_and_checkpoints_are_detected(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, 2)
    last = write_checkpoint(tmp_path, 4)
    assert safetensors_is_complete(last / "model.safetensors") and checkpoint_is_complete(last)
    assert last_complete_checkpoint(tmp_path) == last
    truncate(last / "model.safetensors")
    assert not safetensors_is_complete(last / "model.safetensors")
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    truncate(tmp_path / "checkpoint-2" / "optimizer.pt")
    assert last_complete_checkpoint(tmp_path) is None
    write_checkpoint(tmp_path, 6)
    (tmp_path / "checkpoint-6" / "trainer_state.json").unlink()  # killed before the Trainer's last file
    assert last_complete_checkpoint(tmp_path) is None


# ---------------------------------------------------------------------------------------- teacher fingerprint


def write_teacher(directory: Path, ids: list[str], seed: int = 0) -> None:
    h = torch.randn(len(ids), 6, generator=torch.Generator().manual_seed(seed))
    entities = "row\tkg_id\tname\ttype\n" + "".join(f"{i}\t{kg_id}\tname {i}\tgene\n" for i, kg_id in enumerate(ids))
    artifact = write_teacher_files(directory, {"H": h, "Z": h[:, :3]}, entities, "kg-hash")
    write_summary(directory, {"entities": len(ids), "artifact": artifact})


def test_teacher_fingerprint_accepts_its_own_files(tmp_path: Path) -> None:
    write_teacher(tmp_path, ["G:1", "G:2", "G:3"])
    teacher = Teacher.load(tmp_path)
    assert len(teacher) == 3 and teacher.metadata["artifact"]["vectors_shape"] == [3, 6]


def test_teacher_fingerprint_rejects_a_mismatched_entities_file(tmp_path: Path) -> None:
    write_teacher(tmp_path / "a", ["G:1", "G:2", "G:3"])
    write_teacher(tmp_path / "b", ["G:9", "G:8", "G:7"])
    (tmp_path / "a" / "entities.tsv").write_bytes((tmp_path / "b" / "entities.tsv").read_bytes())
    with pytest.raises(TeacherFilesError, match="fingerprint mismatch: entities.tsv"):
        Teacher.load(tmp_path / "a")
    write_teacher(tmp_path / "c", ["G:1", "G:2"])  # a different entity count
    (tmp_path / "a" / "entities.tsv").write_bytes((tmp_path / "c" / "entities.tsv").read_bytes())
    with pytest.raises(TeacherFilesError, match="3 vectors but .*entities.tsv lists 2"):
        Teacher.load(tmp_path / "a")


def test_teacher_fingerprint_rejects_vectors_of_another_build(tmp_path: Path) -> None:
    write_teacher(tmp_path / "a", ["G:1", "G:2", "G:3"], seed=0)
    write_teacher(tmp_path / "b", ["G:1", "G:2", "G:3"], seed=1)
    (tmp_path / "a" / "teacher.safetensors").write_bytes((tmp_path / "b" / "teacher.safetensors").read_bytes())
    with pytest.raises(TeacherFilesError, match="teacher.safetensors"):
        Teacher.load(tmp_path / "a")


def test_interrupted_teacher_write_is_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kogner.teacher.files as files

    write_teacher(tmp_path, ["G:1", "G:2"])

    def killed(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "atomic_write_text", killed)  # dies after the vectors, before entities.tsv
    with pytest.raises(KeyboardInterrupt):
        write_teacher(tmp_path, ["G:1", "G:2", "G:3"], seed=5)
    with pytest.raises(FileNotFoundError, match="did not finish"):
        Teacher.load(tmp_path)
    truncate(tmp_path / "teacher.safetensors")
    (tmp_path / "teacher.json").write_text("{}")
    with pytest.raises(TeacherFilesError, match="truncated"):
        Teacher.load(tmp_path)


# ------------------------------------------------------------------------------------- evaluation output files


@pytest.fixture(scope="module")
def tiny_model_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modeling_kogner import KoGNERModel

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny_model")
    KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, dropout=0.1).save_pretrained(directory)
    return directory


def test_evaluation_never_overwrites_training_results(tiny_model_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from kogner.evaluation.cli import main

    schema_dataset(5).save_to_disk(str(tmp_path / "saved"))
    training_results = tiny_model_dir / "eval_results.json"
    training_results.write_text('{"written by": "training"}')
    assert main(["--model", str(tiny_model_dir), "--corpora", f"{tmp_path / 'saved'}:test", "--device", "cpu",
                 "--threshold", "0.4"]) == 0
    assert training_results.read_text() == '{"written by": "training"}'
    written = json.loads((tiny_model_dir / "evaluation_saved-test_t0.4.json").read_text())
    assert written["evaluation"]["threshold"] == 0.4 and "saved:test" in written["results"]
    with pytest.raises(SystemExit):
        main(["--model", str(tiny_model_dir), "--corpora", f"{tmp_path / 'saved'}:test",
              "--output", str(training_results)])
    assert "belongs to the trained model" in capsys.readouterr().err


def test_pinned_revision_reaches_from_pretrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from kogner.evaluation.cli import main

    schema_dataset(3).save_to_disk(str(tmp_path / "saved"))
    seen: dict[str, Any] = {}

    def fake_from_pretrained(name: str, **kwargs: Any) -> None:
        seen.update(kwargs, name=name)
        raise RuntimeError("stop here")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", fake_from_pretrained)
    with pytest.raises(RuntimeError, match="stop here"):
        main(["--model", "org/kogner-model", "--revision", "0123abc", "--corpora", f"{tmp_path / 'saved'}:test"])
    assert seen == {"name": "org/kogner-model", "trust_remote_code": True, "revision": "0123abc"}


# ----------------------------------------------------------------------------------------------- make demo


def load_demo() -> Any:
    """``scripts/demo.py`` as `make demo` runs it (``python -m scripts.demo`` from the repository root)."""
    import importlib

    return importlib.import_module("scripts.demo")


def test_demo_summary_reads_results_robustly(tmp_path: Path) -> None:
    demo = load_demo()
    scores = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "labels": ["x"], "per_label": {}}
    (tmp_path / "a.json").write_text(json.dumps({"ncbi:test": scores}))
    (tmp_path / "b.json").write_text(json.dumps({"model": "m", "results": {"ncbi:test": scores}}))
    (tmp_path / "c.json").write_text('{"ncbi:test": {"f1": 0.5}')
    (tmp_path / "d.json").write_text(json.dumps({"ncbi:test": {"f1": 0.5}}))
    assert demo.read_results(tmp_path / "a.json") == ({"ncbi:test": scores}, None)
    assert demo.read_results(tmp_path / "b.json") == ({"ncbi:test": scores}, None)
    assert "not valid JSON" in demo.read_results(tmp_path / "c.json")[1]
    assert "per-set scores" in demo.read_results(tmp_path / "d.json")[1]
    assert "missing" in demo.read_results(tmp_path / "e.json")[1]


def test_demo_records_its_run_with_provenance_threshold_and_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = load_demo()
    monkeypatch.setattr(demo, "MODEL_DIR", tmp_path)
    monkeypatch.setattr(demo, "RESULTS", tmp_path / "demo.json")
    choice = {"threshold": 0.4, "mean_f1": 0.7, "dev_sets": ["data:validation"], "curve": {}}
    history = [{"step": 50, "loss": 1.0, "dist_share": 0.25}, {"step": 100, "loss": 0.5, "dist_share": 0.15}, {}]
    (tmp_path / "training_log.json").write_text(json.dumps({"threshold_choice": choice, "log_history": history}))
    scores = {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "labels": ["disease"],
              "per_label": {"disease": {"f1": 1 / 3}}}
    record = json.loads(demo.record_run({"ncbi_disease:test": scores}, 61.2).read_text())
    assert record["command"] == "make demo" and record["commit"] and record["machine"] and record["seeds"] == [42]
    assert record["threshold"] == choice and record["training"]["loss_balance"] == "running_mean"
    assert record["dist_share"] == {"first": 0.25, "last": 0.15, "mean": pytest.approx(0.2)}
    assert record["corpora"]["ncbi_disease:test"] == {"f1": 33.3, "precision": 50.0, "recall": 25.0,
                                                      "per_label_f1": {"disease": 33.3}}


def test_demo_training_resumes_from_the_last_complete_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = load_demo()
    monkeypatch.setattr(demo, "MODEL_DIR", tmp_path)
    for step in (300, 600):
        write_checkpoint(tmp_path, step)
    truncate(write_checkpoint(tmp_path, 900) / "model.safetensors")  # killed while saving
    stage = demo.Stage("train", "", ["train.py"], [], lambda: None)
    demo.prepare_training(stage, resume=True)
    assert stage.command == ["train.py", "--resume_from_checkpoint", str(tmp_path / "checkpoint-600")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-300", "checkpoint-600"]
    stage = demo.Stage("train", "", ["train.py"], [], lambda: None)
    demo.prepare_training(stage, resume=False)  # other settings: start over
    assert stage.command == ["train.py"] and not list(tmp_path.iterdir())


def test_demo_skips_complete_stages_and_reruns_incomplete_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    demo = load_demo()
    output = tmp_path / "out.txt"
    log = tmp_path / "runs.txt"
    command = [sys.executable, "-c", f"open({str(log)!r}, 'a').write('run '); open({str(output)!r}, 'w').write('x')"]

    def stages(python: str, with_corpora: bool) -> list[Any]:
        return [demo.Stage("data", "toy", list(command), [], lambda: None if output.exists() else "out.txt missing",
                           restart_flag="--restart")]

    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path / "demo")
    monkeypatch.setattr(demo, "MODEL_DIR", tmp_path / "demo" / "model")
    monkeypatch.setattr(demo, "stages", stages)
    monkeypatch.setattr(demo, "corpora_present", lambda: False)
    monkeypatch.setattr(demo, "summary", lambda wall_seconds: None)
    assert demo.main([]) == 0 and log.read_text() == "run "
    assert demo.main([]) == 0 and log.read_text() == "run "  # complete, same key: reused
    output.unlink()  # an output lost after the stage finished
    assert demo.main([]) == 0 and log.read_text() == "run run "
    assert "output is incomplete" in capsys.readouterr().out


def test_a_second_demo_on_the_same_folder_stops_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = load_demo()
    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path / "demo")
    with demo.demo_lock():
        assert demo.held_locks
        with pytest.raises(SystemExit, match="still running"):
            with demo.demo_lock():
                pass
        assert demo.held_locks  # the first holder keeps its lock
    with demo.demo_lock():  # released: the next run may start
        pass
