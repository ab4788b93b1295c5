"""KG adapters: each layout loads its fixture; bad input fails with file, line and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kogner.kg import (
    EdgeTableSpec,
    KGFormatError,
    NodeTableSpec,
    load_kg,
    save_table_kg,
)

FIXTURES = Path(__file__).parent / "fixtures" / "kg"
TINY_NODES = FIXTURES / "tiny_nodes.tsv"
TINY_EDGES = FIXTURES / "tiny_edges.tsv"


def test_table_fixture_loads_three_types_and_relations() -> None:
    graph = load_kg("table", nodes=TINY_NODES, edges=TINY_EDGES)
    assert graph.num_nodes == 30
    assert graph.type_names() == ["disease", "gene", "phenotype"]
    assert graph.relation_names() == ["associated with", "has phenotype", "is a"]
    assert graph.num_edges == 59 and graph.dropped_edges == 0
    brca1 = graph.index["GENE:1"]
    assert graph.names[brca1] == "BRCA1" and graph.synonyms[brca1] == ["BRCA1 gene", "brca1"]
    assert graph.descriptions[graph.index["PHE:1"]] == ""
    head = graph.index["DIS:1"]
    tails = {graph.node_ids[t] for h, t in zip(graph.edge_heads, graph.edge_tails) if h == head}
    assert {"PHE:1", "PHE:2", "PHE:6"} <= tails


def test_table_round_trip_in_csv_and_parquet(tmp_path: Path) -> None:
    graph = load_kg("table", nodes=TINY_NODES, edges=TINY_EDGES)
    save_table_kg(graph, tmp_path / "n.tsv", tmp_path / "e.tsv")
    again = load_kg("table", nodes=tmp_path / "n.tsv", edges=tmp_path / "e.tsv")
    assert again.fingerprint() == graph.fingerprint()
    import pandas as pd

    pd.read_csv(TINY_NODES, sep="\t", dtype=str, keep_default_na=False).to_csv(tmp_path / "n.csv", index=False)
    pd.read_csv(TINY_EDGES, sep="\t", dtype=str).to_parquet(tmp_path / "e.parquet")
    mixed = load_kg("table", nodes=tmp_path / "n.csv", edges=tmp_path / "e.parquet")
    assert mixed.fingerprint() == graph.fingerprint()


def test_hetionet_fixture() -> None:
    graph = load_kg("hetionet", nodes=FIXTURES / "hetionet-v1.0-nodes.tsv",
                    edges=FIXTURES / "hetionet-v1.0-edges.sif.gz")
    assert graph.num_nodes == 5
    assert "biological process" in graph.type_names()
    assert graph.num_edges == 4 and graph.dropped_edges == 1  # Gene::404 is not a node
    assert "GpBP" in graph.relation_names()


def test_primekg_fixture_deduplicates_repeated_nodes() -> None:
    graph = load_kg("primekg", kg_file=FIXTURES / "primekg_kg.csv")
    assert graph.num_nodes == 8 and graph.num_edges == 6
    assert graph.types[graph.index["NCBI:9796"]] == "gene/protein"
    assert graph.names[graph.index["HPO:0001639"]] == "Hypertrophic cardiomyopathy"  # leading zero kept
    display = load_kg("primekg", kg_file=FIXTURES / "primekg_kg.csv", relation_column="display_relation")
    assert "ppi" in display.relation_names()


def test_biomedgraphica_fixture_via_generic_csv() -> None:
    graph = load_kg("biomedgraphica", root=FIXTURES / "biomedgraphica" / "BioMedGraphica-Conn")
    assert graph.type_names() == ["disease", "drug", "gene"]
    assert graph.names[graph.index["BMGC_GN000001"]] == "TP53"
    assert graph.descriptions[graph.index["BMGC_DS000001"]] == "A cancer of the breast, often hereditary."
    assert graph.num_edges == 3 and graph.dropped_edges == 1
    assert set(graph.relation_names()) == {"Drug-Gene", "Gene-Disease"}


def test_generic_csv_with_configured_columns() -> None:
    entity = FIXTURES / "biomedgraphica" / "BioMedGraphica-Conn" / "Entity"
    graph = load_kg(
        "csv",
        node_tables=[NodeTableSpec(entity / "Gene" / "BioMedGraphica_Conn_Gene_Display_Name.csv",
                                   "BioMedGraphica_Conn_ID", "BMG_Gene_Name", node_type="gene"),
                     NodeTableSpec(entity / "Disease" / "BioMedGraphica_Conn_Disease_Display_Name.csv",
                                   "BioMedGraphica_Conn_ID", "BMG_Disease_Name", node_type="disease")],
        edge_tables=[EdgeTableSpec(FIXTURES / "biomedgraphica" / "BioMedGraphica-Conn" / "Relation"
                                   / "BioMedGraphica_Conn_Relation.csv", "BMGC_From_ID", "BMGC_To_ID",
                                   relation="related to")],
    )
    assert graph.num_nodes == 4
    assert graph.relation_names() == ["related to"]
    assert graph.num_edges == 2 and graph.dropped_edges == 2  # the drug is not loaded, nor BMGC_XX999999


def test_missing_column_names_file_and_header_line(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.tsv"
    nodes.write_text("id\tname\nA\talpha\n")
    with pytest.raises(KGFormatError, match=r"nodes\.tsv, line 1: missing required column\(s\) \['type'\]"):
        load_kg("table", nodes=nodes, edges=TINY_EDGES)


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.tsv"
    nodes.write_text("id\tname\ttype\nA\talpha\tgene\nB\tbeta\tgene\nA\tagain\tgene\n")
    edges = tmp_path / "edges.tsv"
    edges.write_text("head\trelation\ttail\nA\tr\tB\n")
    with pytest.raises(KGFormatError, match=r"nodes\.tsv, line 4: duplicate node id 'A' \(first on line 2\)"):
        load_kg("table", nodes=nodes, edges=edges)


def test_empty_graph_is_an_error(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.tsv"
    nodes.write_text("id\tname\ttype\n")
    with pytest.raises(KGFormatError, match=r"nodes\.tsv: empty graph"):
        load_kg("table", nodes=nodes, edges=TINY_EDGES)


def test_unknown_edge_ids_dropped_or_strict_error(tmp_path: Path) -> None:
    edges = tmp_path / "edges.tsv"
    edges.write_text("head\trelation\ttail\nGENE:1\tassociated with\tDIS:1\nGENE:1\tassociated with\tDIS:99\n")
    graph = load_kg("table", nodes=TINY_NODES, edges=edges)
    assert graph.num_edges == 1 and graph.dropped_edges == 1
    with pytest.raises(KGFormatError, match=r"edges\.tsv, line 3: edge refers to unknown node id 'DIS:99'"):
        load_kg("table", nodes=TINY_NODES, edges=edges, strict=True)


def test_unknown_adapter_name() -> None:
    with pytest.raises(ValueError, match="unknown KG 'nope'"):
        load_kg("nope")


def _mini_ncbitaxon(path: Path) -> Path:
    """A few NCBITaxon terms in the cellxgene zstd-JSON format.

    The real NCBITaxon file is 1.26 M terms (~20 s and 3 GB to parse), too slow for a unit test;
    every other source below is the real bundled data.
    """
    import zstandard

    terms = {
        "NCBITaxon:1": {"ancestors": {}, "label": "root", "deprecated": False},
        "NCBITaxon:9605": {"ancestors": {"NCBITaxon:1": 1}, "label": "Homo", "deprecated": False},
        "NCBITaxon:9606": {"ancestors": {"NCBITaxon:9605": 1, "NCBITaxon:1": 2}, "label": "Homo sapiens",
                           "synonyms": ["human"], "deprecated": False},
        "NCBITaxon:10090": {"ancestors": {"NCBITaxon:1": 1}, "label": "Mus musculus", "deprecated": False},
        "NCBITaxon:5": {"ancestors": {}, "label": "gone", "deprecated": True},
    }
    path.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(terms).encode()))
    return path


def test_biokg_lite_small_caps_has_all_types_and_cross_type_edges(tmp_path: Path) -> None:
    from kogner.kg.biokg_lite import ENTITY_TYPES, edge_type_counts, type_counts

    graph = load_kg("biokg-lite", caps=40, ontology_files={"NCBITaxon": _mini_ncbitaxon(tmp_path / "t.json.zst")},
                    cache_dir=tmp_path / "cache")
    counts = type_counts(graph)
    assert set(counts) == set(ENTITY_TYPES)
    assert all(0 < n <= 40 for n in counts.values())
    assert "NCBITaxon:5" not in graph.index  # deprecated terms skipped
    assert graph.names[graph.index["NCBITaxon:9606"]] == "Homo sapiens"
    relations = edge_type_counts(graph)
    for cross in ("gene -[associated with phenotype]-> phenotype", "disease -[has phenotype]-> phenotype",
                  "phenotype -[is a]-> phenotype"):
        assert relations.get(cross, 0) > 0, cross
    # the cached copy is identical
    again = load_kg("biokg-lite", caps=40, ontology_files={"NCBITaxon": tmp_path / "t.json.zst"},
                    cache_dir=tmp_path / "cache")
    assert again.fingerprint() == graph.fingerprint() and again.synonyms == graph.synonyms
