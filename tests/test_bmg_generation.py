"""Relation sampling, the template generator, the sanity check and the dataset builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from data_scripts import make_bmg_dataset
from kogner.datagen.backends import make_generator
from kogner.datagen.rows import GeneratorAnswer, RelationRow, sample_relation_rows
from kogner.datagen.sanity import sanity_check
from kogner.kg.graph import KnowledgeGraph
from kogner.schema import validate_example
from kogner.words import word_list

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
    first = [a.content for a in make_generator("template", seed=7, partners=rows).generate(rows)]
    again = [a.content for a in make_generator("template", seed=7, partners=rows).generate(rows)]
    other = [a.content for a in make_generator("template", seed=8, partners=rows).generate(rows)]
    assert first == again and first != other
    # order and batch independent (resumed runs): any subset, in any order, gives the same sentences
    subset = make_generator("template", seed=7, partners=rows).generate(rows[::-3])
    assert [a.content for a in subset] == first[::-3]
    assert any(len(json.loads(first[i])["ner"]) > 2 for i in range(len(rows))[::-3]), "the subset has composites"
    results = [sanity_check(a) for a in make_generator("template", seed=7, partners=rows).generate(rows)]
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
    import kogner.datagen.build as build

    monkeypatch.setattr(build, "load_kg", lambda name, **options: kg)
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
    from kogner.datagen import templates as bmg_templates

    original = bmg_templates.TemplateGenerator.answer
    monkeypatch.setattr(bmg_templates.TemplateGenerator, "answer",
                        lambda self, row, *rest: calls.append(1) or original(self, row, *rest))
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


def test_sanity_check_handles_extra_entities() -> None:
    text = "Cisplatin-induced nephrotoxicity was observed in BRCA1 carriers with breast cancer."
    extras = (("CHEBI:27899", "cisplatin", "chemical", ()), ("HP:0000077", "nephrotoxicity", "phenotype", ()))
    ner = [[0, 0, "chemical"], [3, 3, "phenotype"], [7, 7, "gene"], [10, 11, "disease"]]
    good = GeneratorAnswer(make_row(), json.dumps({"tokenized_text": text, "ner": ner}), extras=extras)
    record = sanity_check(good).record
    assert record is not None and record["tokens"][:4] == ["Cisplatin", "-", "induced", "nephrotoxicity"]
    assert record["ner"] == [{"start": s, "end": e, "label": t} for s, e, t in ner]
    assert [span["kg_id"] for span in record["kge"]] == ["CHEBI:27899", "HP:0000077", "HGNC:1100", "MONDO:1"]
    inside = (("MONDO:2", "cancer", "disease", ()),)  # first found inside "breast cancer"
    overlapping = GeneratorAnswer(make_row(), json.dumps({"tokenized_text": text, "ner": ner}), extras=inside)
    assert sanity_check(overlapping).reason == "overlapping_entities"


def composite_results(seed: int = 0) -> list[tuple[GeneratorAnswer, dict]]:
    rows = sample_relation_rows(small_kg(), per_relation=36, seed=0)
    answers = list(make_generator("template", seed=seed, partners=rows).generate(rows))
    return [(a, sanity_check(a).record) for a in answers]


def test_composite_sentences_annotate_every_entity() -> None:
    results = composite_results()
    composite = [(a, record) for a, record in results if a.extras]
    assert 0.15 <= len(composite) / len(results) <= 0.35  # COMPOSITE_SHARE = 0.25, all rows have fitting patterns
    assert all(record is not None for _, record in composite)
    assert {len(a.extras) for a, _ in composite} == {1, 2}
    for answer_, record in composite:
        entities = answer_.entities()
        assert len(record["ner"]) == len(record["kge"]) == len(entities) > 2
        assert len({kg_id for kg_id, *_ in entities}) == len(entities), "partners differ from the row's entities"
        by_id = {span["kg_id"]: span for span in record["kge"]}
        labels = {(span["start"], span["end"]): span["label"] for span in record["ner"]}
        for (kg_id, _, entity_type, _), surface in zip(entities, answer_.surfaces):
            span = by_id[kg_id]
            assert record["tokens"][span["start"] : span["end"] + 1] == word_list(surface)
            assert labels[(span["start"], span["end"])] == entity_type
        validate_example(record)
    labels = {span["label"] for _, record in composite for span in record["ner"]}
    assert labels == set(TYPES)


def test_composite_sentences_glue_chemicals_to_diseases_with_hyphens() -> None:
    modifiers = {"induced", "associated", "related", "treated", "resistant", "mediated", "exposed", "sensitive", "based"}
    glued = 0
    for answer_, record in composite_results(seed=1):
        if record is None:
            continue
        ner = sorted(record["ner"], key=lambda span: span["start"])
        tokens = record["tokens"]
        for span, following in zip(ner, ner[1:] + [None]):
            if span["label"] != "chemical" or tokens[span["end"] + 1 : span["end"] + 2] != ["-"]:
                continue
            assert tokens[span["end"] + 2] in modifiers  # the span stops right before "-"
            assert tokens[span["start"]] != "-" and "-" not in tokens[span["end"] : span["end"] + 1]
            if following and following["start"] == span["end"] + 3 and following["label"] in {"disease", "phenotype"}:
                glued += 1
    assert glued >= 5, "'{chemical}-induced {disease}' is a common pattern"


def test_the_issue_sentence_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    from kogner.datagen import templates as bmg_templates

    monkeypatch.setattr(bmg_templates, "COMPOSITE_PATTERNS", ["{CHEM}-induced {PHEN} was observed in {GENE} carriers."])
    monkeypatch.setattr(bmg_templates, "COMPOSITE_SHARE", 1.0)
    row = make_row(tail="nephrotoxicity", tail_type="phenotype")
    partner = RelationRow("r#1", "is a", "CHEBI:27899", "cisplatin", "chemical", "CHEBI:1", "platinum compound", "chemical")
    generator = make_generator("template", seed=0, partners=[row, partner])
    for index in range(20):
        answer_ = generator.answer(RelationRow(f"r#{index}", *list(row.to_json().values())[1:8]))
        record = sanity_check(answer_).record
        assert record is not None and len(record["ner"]) == 3
        spans = {span["label"]: span for span in record["ner"]}
        chemical, phenotype = spans["chemical"], spans["phenotype"]
        assert record["tokens"][chemical["end"] + 1 : phenotype["start"]] == ["-", "induced"]
        written = " ".join(record["tokens"][chemical["start"] : chemical["end"] + 1]).casefold()
        kge = {span["start"]: span["kg_id"] for span in record["kge"]}
        assert (written, kge[chemical["start"]]) in {("cisplatin", "CHEBI:27899"), ("platinum compound", "CHEBI:1")}
        assert kge[spans["gene"]["start"]] == "HGNC:1100"
