"""Z'' (TransR through PyKEEN, beside a TransE baseline), coverage, the no-triples case and teacher views."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from kogner.kg import load_kg
from kogner.kg.graph import KnowledgeGraph
from kogner.teacher import Teacher, TeacherSettings, build_teacher
from kogner.teacher.transr import covered_rows, covering_sample, logical_stage, relation_triples
from kogner.teacher.views import canonical_views, write_teacher_views
from kogner.training.pipeline import load_teacher

FIXTURES = Path(__file__).parent / "fixtures" / "kg"
# the toy graph's own recipe (the defaults are tuned for the 20k-entity default graph)
SETTINGS = dict(transr_dim=16, transr_init_epochs=30, transr_init_lr=1e-2, transr_epochs=10, transr_lr=3e-3,
                transr_batch_size=64, transr_split=(0.8, 0.1, 0.1), seed=0, device="cpu")


@pytest.fixture(scope="module")
def clusters() -> KnowledgeGraph:
    """4 protein families of 12 members: "member of" its family, "interacts with" 4 family mates; one orphan."""
    return load_kg("table", nodes=FIXTURES / "clusters_nodes.tsv", edges=FIXTURES / "clusters_edges.tsv")


@pytest.fixture(scope="module")
def stage(clusters) -> tuple[torch.Tensor, dict]:
    return logical_stage(clusters, TeacherSettings(**SETTINGS))


def random_ranking_mrr(num_entities: int) -> float:
    """Expected reciprocal rank of the true entity among ``num_entities`` in random order (an upper bound for the
    filtered case, where fewer candidates compete only because the true ones are removed)."""
    return sum(1 / rank for rank in range(1, num_entities + 1)) / num_entities


def test_transr_ranks_held_out_triples_far_better_than_random(stage, clusters) -> None:
    _, metrics = stage
    baseline = random_ranking_mrr(clusters.num_nodes)  # ~0.086 for 53 entities
    assert metrics["triples"]["evaluated"] == metrics["triples"]["test"] == 24
    assert metrics["mrr"] >= 3 * baseline, (metrics["mrr"], baseline)
    assert metrics["hits_at_10"] >= 0.5 and 0 <= metrics["hits_at_1"] <= metrics["hits_at_10"]
    assert metrics["transe"]["mrr"] >= 3 * baseline  # the baseline on the same split learns the families too
    assert metrics["mrr"] >= 0.8 * metrics["transe"]["mrr"]
    assert metrics["final_loss"] < metrics["transe"]["first_epoch_loss"]


def test_every_entity_in_a_triple_has_a_trained_vector(stage, clusters) -> None:
    vectors, metrics = stage
    orphan = clusters.index["ISO:1"]
    assert vectors.shape == (clusters.num_nodes, 16) and torch.isfinite(vectors).all()
    assert metrics["covered"] == clusters.num_nodes - 1 and metrics["uncovered_per_type"] == {"protein": 1}
    # trained vectors moved away from each other; the uncovered row is the mean of the trained ones
    others = torch.cat([vectors[:orphan], vectors[orphan + 1:]])
    assert torch.allclose(vectors[orphan], others.mean(0), atol=1e-5)
    assert torch.cdist(others, others).add(torch.eye(len(others)) * 10).min() > 1e-3
    # the family structure is in the vectors: a member is closer to its own family's members than to others'
    family = {row: node_id[2] for row, node_id in enumerate(clusters.node_ids) if node_id.startswith("P:")}
    rows = sorted(family)
    distances = torch.cdist(vectors[rows], vectors[rows])
    same = torch.tensor([[family[a] == family[b] for b in rows] for a in rows])
    off_diagonal = ~torch.eye(len(rows), dtype=torch.bool)
    assert distances[same & off_diagonal].mean() < 0.8 * distances[~same].mean()


def test_validation_split_can_be_scored_instead_of_test(clusters) -> None:
    _, metrics = logical_stage(clusters, TeacherSettings(**{**SETTINGS, "transr_init_epochs": 1,
                                                             "transr_epochs": 1}), evaluate_on="validation")
    assert metrics["evaluated_on"] == "validation"
    assert metrics["triples"]["evaluated"] == metrics["triples"]["validation"]
    with pytest.raises(ValueError, match="evaluate_on"):
        logical_stage(clusters, TeacherSettings(**SETTINGS), evaluate_on="train")


def test_bernoulli_negative_sampler_trains_too_and_unknown_samplers_are_refused(clusters) -> None:
    _, metrics = logical_stage(clusters, TeacherSettings(**{**SETTINGS, "transr_negative_sampler": "bernoulli"}))
    assert metrics["mrr"] >= 3 * random_ranking_mrr(clusters.num_nodes)
    with pytest.raises(ValueError, match="--transr-negative-sampler"):
        TeacherSettings(transr_negative_sampler="uniform")


def test_covering_sample_keeps_every_entity() -> None:
    generator = torch.Generator().manual_seed(0)
    heads = torch.arange(100) % 37
    triples = torch.stack([heads, torch.zeros(100, dtype=torch.long), (heads * 7 + 3) % 41 + 37], dim=1)
    sample = covering_sample(triples, 10, generator)
    assert torch.equal(covered_rows(sample, 78), covered_rows(triples, 78))
    assert 10 <= sample.shape[0] < 100  # more than the limit only as needed to cover every entity
    assert set(map(tuple, sample.tolist())) <= set(map(tuple, triples.tolist()))
    assert covering_sample(triples, 1000, generator) is triples


def no_relation_graph(num_edges: int = 0) -> KnowledgeGraph:
    return KnowledgeGraph(
        node_ids=[f"N:{i}" for i in range(6)], names=[f"entity {i}" for i in range(6)], types=["a", "b"] * 3,
        descriptions=[""] * 6, synonyms=[[] for _ in range(6)],
        edge_heads=np.arange(num_edges), edge_relations=np.array(["r"] * num_edges, dtype=object),
        edge_tails=np.arange(num_edges) + 1,
    )


def test_a_graph_without_triples_skips_transr_with_a_warning(tiny_encoder_dir, tmp_path, caplog) -> None:
    graph = no_relation_graph(2)
    assert relation_triples(graph)[0].shape == (2, 3)
    settings = TeacherSettings(encoder=str(tiny_encoder_dir), gnn_epochs=2, gnn_hidden=8, device="cpu",
                               **{k: v for k, v in SETTINGS.items() if k not in ("seed", "device")})
    with caplog.at_level(logging.WARNING, logger="kogner.teacher.transr"):
        built = build_teacher(graph, tmp_path / "teacher", settings, progress=False)
    assert "TransR skipped" in caplog.text
    assert "skipped" in built.summary["metrics"]["transr"]
    assert built.summary["dims"] == {"Z": 32, "Z_prime": 8, "H": 40}  # H = [Z, Z']
    teacher = Teacher.load(tmp_path / "teacher")
    assert set(teacher.parts) == {"Z", "Z_prime"} and teacher.covered.all()
    assert built.summary["coverage"]["fraction"] == 1.0


@pytest.fixture(scope="module")
def built_clusters(clusters, tiny_encoder_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clusters_teacher")
    settings = TeacherSettings(encoder=str(tiny_encoder_dir), gnn_epochs=2, gnn_hidden=8,
                               **{k: v for k, v in SETTINGS.items() if k != "transr_init_epochs"},
                               transr_init_epochs=5)
    build_teacher(clusters, out, settings, progress=False)
    return out


def test_uncovered_entities_are_not_distillation_targets(built_clusters, clusters) -> None:
    teacher = Teacher.load(built_clusters)
    assert teacher.covered.dtype == torch.bool and int(teacher.covered.sum()) == clusters.num_nodes - 1
    assert "covered" not in teacher.parts and "ISO:1" not in teacher.covered_index
    assert teacher.row_of("ISO:1") == clusters.index["ISO:1"]  # still an entity (it can be linked to)
    table, summary, index = load_teacher(str(built_clusters))
    assert "ISO:1" not in table.row_of and len(table.row_of) == clusters.num_nodes - 1
    assert len(index) == clusters.num_nodes and index.kg_ids == teacher.kg_ids
    assert teacher.metadata["coverage"]["covered"] == clusters.num_nodes - 1
    transr = teacher.metadata["metrics"]["transr"]
    assert {"mrr", "hits_at_1", "hits_at_10"} <= set(transr) and "mrr" in transr["transe"]


def test_teacher_views_rebuild_h_from_chosen_parts(built_clusters, tmp_path) -> None:
    full = Teacher.load(built_clusters)
    no_transr = Teacher.load(write_teacher_views(built_clusters, tmp_path / "no_transr", ["Z", "Z'"]))
    assert no_transr.dim == full.parts["Z"].shape[1] + full.parts["Z_prime"].shape[1]
    assert set(no_transr.parts) == {"Z", "Z_prime"} and no_transr.covered.all()  # coverage is about Z''
    assert no_transr.metadata["views"] == ["Z", "Z_prime"] and no_transr.kg_ids == full.kg_ids
    same = Teacher.load(write_teacher_views(built_clusters, tmp_path / "all", ["transr", "text", "graph"]))
    assert torch.allclose(same.vectors, full.vectors, atol=1e-5) and torch.equal(same.covered, full.covered)
    assert canonical_views(["Z''", "Z"]) == ["Z", "Z_double_prime"]
    with pytest.raises(ValueError, match="unknown teacher view 'W'"):
        canonical_views(["W"])


def test_no_edges_at_all_gives_an_empty_z_double_prime(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="kogner.teacher.transr"):
        vectors, metrics = logical_stage(no_relation_graph(0), TeacherSettings(**SETTINGS))
    assert vectors.shape == (6, 0) and metrics["triples"]["total"] == 0 and "0 distinct relation triples" in caplog.text
