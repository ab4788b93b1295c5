"""Relation sampling, the template generator, the sanity check and the dataset builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from data_scripts import make_bmg_dataset
from data_scripts.bmg_generation import (
    GeneratorAnswer,
    RelationRow,
    make_generator,
    sample_relation_rows,
    sanity_check,
)
from data_scripts.kg_types import KnowledgeGraph
from data_scripts.schema import validate_example

TYPES = ["gene", "disease", "phenotype", "chemical", "cell type", "anatomy", "cell line", "organism"]


def small_kg(copies: int = 6) -> KnowledgeGraph:
    """``copies`` entities of each type; edges gene-disease, disease-phenotype, chemical-gene, cell line links."""
    names = {
        "gene": ["BRCA1", "TP53", "IL-2", "CFTR", "MECP2", "FBN1"],
        "disease": ["breast cancer", "cystic fibrosis", "Rett syndrome", "Marfan syndrome", "asthma", "gout"],
        "phenotype": ["Seizure", "Scoliosis", "Hypotonia", "Ataxia", "Myopia", "Microcephaly"],
        "chemical": ["aspirin", "cisplatin", "metformin", "caffeine", "ethanol", "imatinib"],
        "cell type": ["B cell", "T cell", "neuron", "hepatocyte", "astrocyte", "keratinocyte"],
        "anatomy": ["liver", "lung", "kidney", "heart", "retina", "skin"],
        "cell line": ["HeLa", "HEK293", "MCF-7", "A549", "Jurkat", "K562"],
        "organism": ["Homo sapiens", "Mus musculus", "Danio rerio", "Rattus norvegicus", "Gallus gallus", "Sus scrofa"],
    }
    node_ids, node_names, node_types, synonyms = [], [], [], []
    for entity_type in TYPES:
        for index, name in enumerate(names[entity_type][:copies]):
            node_ids.append(f"{entity_type.replace(' ', '_').upper()}:{index}")
            node_names.append(name)
            node_types.append(entity_type)
            synonyms.append([f"{name} alias"] if index % 2 else [])
    row = {t: [i for i, nt in enumerate(node_types) if nt == t] for t in TYPES}
    heads, relations, tails = [], [], []
    for first, relation, second in [
        ("gene", "associated with disease", "disease"), ("disease", "has phenotype", "phenotype"),
        ("chemical", "targets", "gene"), ("cell line", "derived from", "organism"),
        ("cell type", "located in", "anatomy"), ("cell line", "derived from", "cell type"),
    ]:
        for h in row[first]:
            for t in row[second]:
                heads.append(h)
                relations.append(relation)
                tails.append(t)
    return KnowledgeGraph(node_ids, node_names, node_types, [""] * len(node_ids), synonyms, heads, relations, tails)


def make_row(head: str = "BRCA1", tail: str = "breast cancer", head_type: str = "gene", tail_type: str = "disease",
             head_synonyms: tuple[str, ...] = ()) -> RelationRow:
    return RelationRow("r#0", "associated with", "HGNC:1100", head, head_type, "MONDO:1", tail, tail_type,
                       head_synonyms=head_synonyms)


def answer(content: str | None, row: RelationRow | None = None, error: str | None = None) -> GeneratorAnswer:
    return GeneratorAnswer(row or make_row(), content, error=error)


def test_sampling_per_relation_type_is_seeded_and_complete() -> None:
    kg = small_kg()
    rows = sample_relation_rows(kg, per_relation=4, seed=1)
    assert rows == sample_relation_rows(kg, per_relation=4, seed=1)
    assert rows != sample_relation_rows(kg, per_relation=4, seed=2)
    strata = {(r.relation, r.head_type, r.tail_type) for r in rows}
    assert len(strata) == 6 and len(rows) == 24  # "derived from" counts once per entity-type pair
    assert {r.head_type for r in rows} | {r.tail_type for r in rows} == set(TYPES)
    gene_rows = [r for r in rows if r.head_type == "gene"]
    assert all(kg.types[kg.index[r.head_id]] == "gene" and kg.names[kg.index[r.tail_id]] == r.tail_name for r in gene_rows)
    by_rate = sample_relation_rows(kg, rate=0.01, seed=0)
    assert len(by_rate) == 6  # at least one row per relation type
    with pytest.raises(ValueError, match="exactly one"):
        sample_relation_rows(kg)


def test_sanity_check_good_answer() -> None:
    content = json.dumps({"tokenized_text": "Mutations in BRCA1 cause breast cancer.", "ner": [[2, 2, "gene"], [4, 5, "disease"]]})
    result = sanity_check(answer(content))
    assert result.reason is None
    assert result.record == {
        "tokens": ["Mutations", "in", "BRCA1", "cause", "breast", "cancer", "."],
        "ner": [{"start": 2, "end": 2, "label": "gene"}, {"start": 4, "end": 5, "label": "disease"}],
        "kge": [{"start": 2, "end": 2, "kg_id": "HGNC:1100"}, {"start": 4, "end": 5, "kg_id": "MONDO:1"}],
    }
    validate_example(result.record)


def test_sanity_check_takes_the_first_occurrence_and_recomputes_indices() -> None:
    text = "Breast cancer risk rises with BRCA1 loss, and BRCA1 carriers get breast cancer early."
    content = "```json\n" + json.dumps({"tokenized_text": text, "ner": [[99, 99, "Gene"], [0, 0, "disease"]]}) + "\n```"
    record = sanity_check(answer(content)).record
    assert record is not None
    assert record["ner"] == [{"start": 0, "end": 1, "label": "disease"}, {"start": 5, "end": 5, "label": "gene"}]


def test_sanity_check_falls_back_to_synonyms() -> None:
    content = json.dumps({"tokenized_text": "BRCA-1 variants cause breast cancer.", "ner": [[0, 2, "gene"], [4, 5, "disease"]]})
    record = sanity_check(answer(content, make_row(head_synonyms=("BRCA-1",)))).record
    assert record is not None and record["kge"][0] == {"start": 0, "end": 2, "kg_id": "HGNC:1100"}


@pytest.mark.parametrize(
    ("content", "error", "reason"),
    [
        ('{"tokenized_text": "BRCA1 and breast cancer", "ner": [[0, 0, "gene"]', None, "bad_json"),
        ("Sure! Here is the sentence: BRCA1 causes breast cancer.", None, "bad_json"),
        ('["BRCA1", "breast cancer"]', None, "bad_structure"),
        ('{"tokenized_text": 5, "ner": []}', None, "bad_structure"),
        ('{"tokenized_text": "BRCA1 and breast cancer", "ner": [[0, 0]]}', None, "bad_structure"),
        ('{"tokenized_text": "   ", "ner": []}', None, "empty"),
        ("", None, "empty"),
        (None, "HTTP 500 after 6 attempts", "generator_error"),
        ('{"tokenized_text": "BRCA1 is linked to tumours.", "ner": [[0, 0, "gene"], [4, 4, "disease"]]}', None,
         "entity_not_found"),
        ('{"tokenized_text": "BRCA1 causes breast cancer.", "ner": [[0, 0, "protein"], [2, 3, "disease"]]}', None,
         "wrong_type"),
    ],
)
def test_sanity_check_drops_bad_answers_with_a_reason(content: str | None, error: str | None, reason: str) -> None:
    result = sanity_check(answer(content, error=error))
    assert result.record is None and result.reason == reason


def test_sanity_check_rejects_overlapping_entities() -> None:
    row = make_row(head="breast cancer", tail="cancer", head_type="disease", tail_type="disease")
    content = json.dumps({"tokenized_text": "breast cancer is a cancer", "ner": [[0, 1, "disease"], [4, 4, "disease"]]})
    assert sanity_check(answer(content, row)).reason == "overlapping_entities"


def test_template_generation_is_deterministic_by_seed_and_varied() -> None:
    rows = sample_relation_rows(small_kg(), per_relation=6, seed=0)
    first = [a.content for a in make_generator("template", seed=7).generate(rows)]
    again = [a.content for a in make_generator("template", seed=7).generate(rows)]
    other = [a.content for a in make_generator("template", seed=8).generate(rows)]
    assert first == again and first != other
    # order independent: one row alone gives the same sentence
    assert make_generator("template", seed=7).generate(rows[5:6]).__next__().content == first[5]
    results = [sanity_check(a) for a in make_generator("template", seed=7).generate(rows)]
    assert sum(r.record is not None for r in results) >= 0.95 * len(rows)
    sentences = [" ".join(r.record["tokens"]) for r in results if r.record]
    skeletons = set()
    for result in results:
        if result.record:
            tokens = list(result.record["tokens"])
            for span in reversed(result.record["ner"]):
                tokens[span["start"] : span["end"] + 1] = ["<E>"]
            skeletons.add(" ".join(tokens))
    assert len(skeletons) >= 0.8 * len(sentences)  # hardly any two sentences share a frame
    assert all(s.endswith(".") for s in sentences)
    labels = {span["label"] for r in results if r.record for span in r.record["ner"]}
    assert labels == set(TYPES)


def test_template_surfaces_vary_case_and_synonyms() -> None:
    rows = sample_relation_rows(small_kg(), per_relation=36, seed=0)
    answers = list(make_generator("template", seed=0).generate(rows))
    names = {r.head_name for r in rows} | {r.tail_name for r in rows}
    surfaces = [s for a in answers for s in a.surfaces]
    assert any(s.endswith("alias") for s in surfaces), "synonyms are sometimes written"
    assert any(s not in names and s.lower() in {n.lower() for n in names} for s in surfaces), "case varies"


def test_make_bmg_dataset_writes_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kg = small_kg()
    import data_scripts.kg_loaders as kg_loaders

    monkeypatch.setattr(kg_loaders, "load_kg", lambda name, **options: kg)
    out = tmp_path / "data"
    args = ["--kg", "toy", "--out", str(out), "--per-relation", "20", "--seed", "3"]
    assert make_bmg_dataset.main(args) == 0
    dataset = load_from_disk(str(out))
    assert sorted(dataset) == ["test", "train", "validation"]
    total = sum(len(part) for part in dataset.values())
    drops = json.loads((out / "drop_counts.json").read_text())
    assert drops["kept"] == total and drops["sampled_rows"] == 120 == total + sum(drops["dropped"].values())
    card = (out / "README.md").read_text()
    assert "| cell line |" in card and "entity_not_found" in card and "| **sentences** |" in card
    assert len((out / "jsonl" / "train.jsonl").read_text().splitlines()) == len(dataset["train"])

    # simulate a crash: keep half the progress plus a torn line, then rerun
    progress = out / "progress.jsonl"
    lines = progress.read_text().splitlines()
    progress.write_text("\n".join(lines[:60]) + "\n" + lines[60][:25])
    calls: list[int] = []
    from data_scripts import bmg_templates

    original = bmg_templates.TemplateGenerator.answer
    monkeypatch.setattr(bmg_templates.TemplateGenerator, "answer", lambda self, row: calls.append(1) or original(self, row))
    assert make_bmg_dataset.main(args) == 0
    assert len(calls) == 60
    again = load_from_disk(str(out))
    assert all(again[s].to_list() == dataset[s].to_list() for s in dataset)

    # rows that failed in the generator (network, rate limit) are tried again on the next run
    lines = progress.read_text().splitlines()
    failed = {**json.loads(lines[0]), "record": None, "reason": "generator_error", "detail": "HTTP 503"}
    progress.write_text("\n".join([json.dumps(failed), *lines[1:]]) + "\n")
    calls.clear()
    assert make_bmg_dataset.main(args) == 0
    assert len(calls) == 1
    assert json.loads((out / "drop_counts.json").read_text()) == drops

    with pytest.raises(SystemExit, match="other settings"):
        make_bmg_dataset.main([*args[:-1], "4"])
