"""Teacher stages on the tiny KG fixture with a tiny random encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from kogner.kg import load_kg
from kogner.teacher import Teacher, TeacherSettings, build_teacher
from kogner.teacher.artifact import scale_blocks
from kogner.teacher.graph import stratified_split
from kogner.teacher.settings import STAGES

FIXTURES = Path(__file__).parent / "fixtures" / "kg"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_graph():
    return load_kg("table", nodes=FIXTURES / "tiny_nodes.tsv", edges=FIXTURES / "tiny_edges.tsv")


@pytest.fixture(scope="module")
def settings(tiny_encoder_dir: Path) -> TeacherSettings:
    return TeacherSettings(encoder=str(tiny_encoder_dir), gnn_epochs=40, gnn_heads=2, gnn_hidden=None, transr_dim=16,
                           transr_relation_dim=8, transr_epochs=4, transr_batch_size=32, device="cpu")


@pytest.fixture(scope="module")
def built(tiny_graph, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    return build_teacher(tiny_graph, out, settings, progress=False)


def test_every_stage_gives_finite_vectors_of_configured_sizes(built, tiny_graph) -> None:
    assert built.stage_status == {stage: "computed" for stage in STAGES}
    teacher = Teacher.load(built.out_dir)
    m = tiny_graph.num_nodes
    assert teacher.parts["Z"].shape == (m, 32)  # tiny encoder hidden size
    assert teacher.parts["Z_prime"].shape == (m, 32)  # gnn_hidden=None: Z' keeps Z's width (paper: both d')
    assert teacher.parts["Z_double_prime"].shape == (m, 16)
    assert teacher.vectors.shape == (m, 80) and teacher.dim == 80
    for tensor in (teacher.vectors, *teacher.parts.values()):
        assert torch.isfinite(tensor).all()
    dims = built.summary["dims"]
    assert dims == {"Z": 32, "Z_prime": 32, "Z_double_prime": 16, "H": 80}
    assert built.summary["entity_count_per_type"] == {"disease": 10, "gene": 10, "phenotype": 10}


def test_node_type_accuracy_beats_majority_class(built) -> None:
    gnn = built.summary["metrics"]["gnn"]
    assert gnn["test_nodes"] == 6 and gnn["mode"] == "full-batch"
    assert gnn["test_accuracy"] > gnn["majority_class_test_accuracy"]


def test_transr_trains_and_records_metrics(built, tiny_graph) -> None:
    transr = built.summary["metrics"]["transr"]
    assert 0.0 < transr["mrr"] <= 1.0 and 0.0 <= transr["hits_at_10"] <= 1.0
    splits = transr["triples"]
    assert splits["train"] + splits["validation"] + splits["test"] == tiny_graph.num_edges == 59  # each in one split
    assert transr["final_loss"] < transr["first_epoch_loss"]


def test_teacher_json_documents_build(built, tiny_graph) -> None:
    summary = json.loads((built.out_dir / "teacher.json").read_text())
    assert summary["kg"]["fingerprint"] == tiny_graph.fingerprint()  # the graph it was built from
    assert summary["entities"] == tiny_graph.num_nodes and summary["edges"] == tiny_graph.num_edges
    stage_keys = {s: json.loads((built.out_dir / "stages" / s / "record.json").read_text())["key"] for s in STAGES}
    assert summary["stage_keys"] == stage_keys  # names the cached stages it used
    assert set(summary["library_versions"]) >= {"torch", "torch-geometric", "pykeen"}
    assert set(summary["stage_timings"]) >= {"text", "spatial", "logical", "assemble"}
    assert summary["scaling"]["blocks"]["Z"]["dim"] == 32


def test_teacher_is_the_scaled_stages_aligned_with_the_graph(built, tiny_graph) -> None:
    """H is scale_blocks over the three cached stage outputs, and row i of H is node i of the graph."""
    from safetensors.torch import load_file

    teacher = Teacher.load(built.out_dir)
    stages = {name: load_file(built.out_dir / "stages" / stage / "vectors.safetensors")["vectors"]
              for stage, name in zip(STAGES, ("Z", "Z_prime", "Z_double_prime"))}
    expected, _ = scale_blocks(stages)
    assert torch.allclose(teacher.vectors, expected, atol=1e-6)
    for name, vectors in stages.items():
        assert torch.equal(teacher.parts[name], vectors)
    assert teacher.kg_ids == tiny_graph.node_ids and teacher.types == tiny_graph.types
    assert teacher.names == tiny_graph.names
    row = teacher.row_of("DIS:3")
    assert teacher.kg_ids[row] == "DIS:3" and teacher.names[row] == "cystic fibrosis disease"
    assert torch.equal(teacher.vector("DIS:3"), teacher.vectors[row])
    with pytest.raises(KeyError, match="NOPE"):
        teacher.row_of("NOPE")


def test_second_run_recomputes_nothing(built, tiny_graph, settings) -> None:
    records = {s: built.out_dir / "stages" / s / "record.json" for s in STAGES}
    before = {s: (p.stat().st_mtime_ns, p.read_text()) for s, p in records.items()}
    vectors_before = Teacher.load(built.out_dir).vectors
    again = build_teacher(tiny_graph, built.out_dir, settings, progress=False)
    assert again.stage_status == {stage: "cached" for stage in STAGES}
    assert {s: (p.stat().st_mtime_ns, p.read_text()) for s, p in records.items()} == before
    assert torch.equal(Teacher.load(built.out_dir).vectors, vectors_before)


def test_changed_setting_recomputes_only_affected_stages(built, tiny_graph, settings, tmp_path) -> None:
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(built.out_dir, out)
    result = build_teacher(tiny_graph, out, replace(settings, transr_epochs=3), progress=False)
    assert result.stage_status == {"text": "cached", "spatial": "cached", "logical": "computed"}
    old, new = Teacher.load(built.out_dir), Teacher.load(out)
    assert torch.equal(new.parts["Z"], old.parts["Z"]) and torch.equal(new.parts["Z_prime"], old.parts["Z_prime"])
    assert not torch.equal(new.parts["Z_double_prime"], old.parts["Z_double_prime"])  # really recomputed


def test_same_encoder_in_another_folder_reuses_the_cache(built, tiny_graph, settings, tmp_path) -> None:
    """A fresh clone or virtual environment puts the same encoder package elsewhere: still cached. A changed
    encoder (its config) is not."""
    import shutil

    out, moved = tmp_path / "copy", tmp_path / "elsewhere" / "encoder"
    shutil.copytree(built.out_dir, out)
    shutil.copytree(settings.resolved_encoder(), moved)
    assert build_teacher(tiny_graph, out, replace(settings, encoder=str(moved)), progress=False).stage_status == {
        stage: "cached" for stage in STAGES}
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    changed = build_teacher(tiny_graph, out, replace(settings, encoder=str(moved)), progress=False)
    assert changed.stage_status["text"] == "computed"


def test_interrupted_run_resumes_after_last_finished_stage(built, tiny_graph, settings, tmp_path) -> None:
    import shutil

    out = tmp_path / "partial"
    shutil.copytree(built.out_dir, out)
    (out / "stages" / "logical" / "record.json").unlink()  # as if killed while writing the last stage
    (out / "teacher.json").unlink()
    result = build_teacher(tiny_graph, out, settings, progress=False)
    assert result.stage_status == {"text": "cached", "spatial": "cached", "logical": "computed"}
    assert (out / "teacher.json").exists()


def test_minibatch_path_and_single_member_type(tiny_graph, settings, tmp_path) -> None:
    from kogner.kg.graph import KnowledgeGraph

    graph = KnowledgeGraph(
        node_ids=tiny_graph.node_ids + ["ORG:1"], names=tiny_graph.names + ["Homo sapiens"],
        types=tiny_graph.types + ["organism"], descriptions=tiny_graph.descriptions + [""],
        synonyms=tiny_graph.synonyms + [[]], edge_heads=tiny_graph.edge_heads,
        edge_relations=tiny_graph.edge_relations, edge_tails=tiny_graph.edge_tails, source="tiny+1")
    small = replace(settings, gnn_full_batch_max_nodes=10, gnn_batch_size=8, gnn_epochs=3, transr_epochs=1,
                    gnn_hidden=16, gnn_max_neighbors=3)
    result = build_teacher(graph, tmp_path, small, progress=False)
    gnn = result.summary["metrics"]["gnn"]
    assert gnn["mode"] in ("torch neighbor sampler", "NeighborLoader")
    assert gnn["types_without_test_nodes"] == ["organism"]
    teacher = Teacher.load(tmp_path)
    assert teacher.vectors.shape[0] == 31 and torch.isfinite(teacher.vectors).all()
    assert teacher.parts["Z_prime"].shape == (31, 16)  # projected to gnn_hidden
    assert gnn["message_edges_after_neighbor_cap"] <= 31 * 3 < gnn["undirected_edges"]


def test_stratified_split_keeps_singletons_in_training() -> None:
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 2, 2])
    train, test = stratified_split(labels, 0.2, seed=0)
    assert 5 in train.tolist() and 5 not in test.tolist()
    assert sorted(train.tolist() + test.tolist()) == list(range(8))
    assert set(labels[test].tolist()) == {0, 2}


def test_scaling_balances_blocks() -> None:
    generator = torch.Generator().manual_seed(0)
    blocks = {"a": torch.randn(200, 64, generator=generator) * 50 + 3,
              "b": torch.randn(200, 8, generator=generator) * 0.01}
    h, info = scale_blocks(blocks)
    share_a = h[:, :64].pow(2).sum(1).mean()
    share_b = h[:, 64:].pow(2).sum(1).mean()
    assert torch.isclose(share_a, share_b, rtol=0.05)
    assert abs(float(h.pow(2).mean()) - 1.0) < 0.05
    assert info["blocks"]["b"]["dim"] == 8


def test_cli_builds_from_table_files(settings, tmp_path) -> None:
    from data_scripts.build_teacher import main

    code = main(["--kg", "table", "--nodes", str(FIXTURES / "tiny_nodes.tsv"), "--edges",
                 str(FIXTURES / "tiny_edges.tsv"), "--out", str(tmp_path), "--encoder", settings.encoder,
                 "--gnn-epochs", "5", "--transr-epochs", "2", "--transr-dim", "8", "--transr-relation-dim", "4",
                 "--device", "cpu", "--no-progress"])
    assert code == 0
    summary = json.loads((tmp_path / "teacher.json").read_text())
    assert summary["dims"]["Z_double_prime"] == 8 and summary["settings"]["gnn_epochs"] == 5
    assert summary["kg"]["adapter"] == "table"


def test_modeling_kogner_does_not_import_graph_libraries() -> None:
    code = ("import sys, modeling_kogner.modeling_kogner; "
            "bad = [m for m in ('torch_geometric', 'pykeen') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
