"""KG links: corpus mentions -> KG ids by name (type-compatible), and entity linking of predictions (link=True)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from datasets import Dataset, Features, Value

from kogner.corpora.linking import link_corpus
from kogner.kg.graph import KnowledgeGraph
from kogner.schema import NER_FEATURES
from kogner.training.collator import KoGNERDataCollator, TeacherTable
from kogner.training.linking_heads import fit_linking_heads, training_links
from modeling_kogner import EntityIndex, KoGNERModel
from modeling_kogner.linking_kogner import ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS, link_spans, rank_entities
from modeling_kogner.losses_kogner import LossSettings, contrastive_distillation_loss
from toy_data import DISEASES, DRUGS, toy_examples, toy_kg_ids

TEACHER_DIM = 12
REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ corpus links
def tiny_kg() -> KnowledgeGraph:
    return KnowledgeGraph(
        node_ids=["MONDO:1", "HP:1", "HGNC:1", "CHEBI:1", "HGNC:2"],
        names=["Breast cancer", "breast cancer", "IL-2", "aspirin", "BRCA1"],
        types=["disease", "phenotype", "gene", "chemical", "gene"],
        descriptions=[""] * 5,
        synonyms=[[], [], ["interleukin 2"], ["acetylsalicylic acid"], []],
        edge_heads=[0], edge_relations=["r"], edge_tails=[1],
    )


def corpus() -> Dataset:
    rows = [
        {"tokens": ["Breast", "cancer", "and", "IL", "-", "2"],
         "ner": [{"start": 0, "end": 1, "label": "disease"}, {"start": 3, "end": 5, "label": "protein"}],
         "kge": [], "corpus": "a"},
        {"tokens": ["aspirin", "or", "interleukin", "2", "in", "BRCA1"],
         "ner": [{"start": 0, "end": 0, "label": "disease"}, {"start": 2, "end": 3, "label": "gene or gene product"},
                 {"start": 5, "end": 5, "label": "cellular component"}],
         "kge": [{"start": 5, "end": 5, "kg_id": "HGNC:2"}], "corpus": "a"},
    ]
    return Dataset.from_list(rows, features=Features({**NER_FEATURES, "corpus": Value("string")}))


def test_link_corpus_links_type_compatible_names_and_synonyms() -> None:
    linked, report = link_corpus(corpus(), tiny_kg())
    assert linked[0]["kge"] == [{"start": 0, "end": 1, "kg_id": "MONDO:1"}, {"start": 3, "end": 5, "kg_id": "HGNC:1"}]
    # "aspirin" labelled disease: a chemical in the KG, so no link (type-incompatible); the synonym links the gene;
    # the span that was already linked keeps its link
    assert linked[1]["kge"] == [{"start": 2, "end": 3, "kg_id": "HGNC:1"}, {"start": 5, "end": 5, "kg_id": "HGNC:2"}]
    assert linked.column_names == ["tokens", "ner", "kge", "corpus"] and linked[0]["corpus"] == "a"
    assert report["mentions"] == 5 and report["linked"] == 4 and report["ambiguous"] == 1  # disease + phenotype
    assert report["per_label"]["disease"] == {"mentions": 2, "linked": 1, "share_linked": 0.5, "ambiguous": 1}


def test_link_corpus_accepts_a_teacher_like_table() -> None:
    class Table:
        kg_ids, names, types = ["HGNC:1"], ["IL-2"], ["gene"]

    linked, report = link_corpus(corpus(), Table())
    assert linked[0]["kge"] == [{"start": 3, "end": 5, "kg_id": "HGNC:1"}]
    assert report["per_label"]["gene or gene product"]["linked"] == 0  # synonyms are not in a teacher's table
    with pytest.raises(TypeError, match="KnowledgeGraph or a Teacher"):
        link_corpus(corpus(), object())


# ------------------------------------------------------------------------------------------- entity linking
def toy_index() -> EntityIndex:
    ids = toy_kg_ids()
    vectors = torch.randn(len(ids), TEACHER_DIM, generator=torch.Generator().manual_seed(1))
    return EntityIndex(ids, [kg_id.split(":")[1] for kg_id in ids], vectors, [kg_id.split(":")[0] for kg_id in ids])


def train_linker(encoder_dir: Path, steps: int, num_teacher_negatives: int = 0, linking_query: str = "mean_tokens",
                 **loss) -> KoGNERModel:
    """A tiny model trained with distillation (weight 1, other ``LossSettings`` from ``loss``) on the toy sentences,
    with the toy entity index."""
    torch.manual_seed(0)
    model = KoGNERModel.from_encoder(str(encoder_dir), hidden_size=32, dropout=0.1, teacher_dim=TEACHER_DIM,
                                     distillation_dim=16, linking_query=linking_query)
    model.loss_settings = LossSettings(dist_weight=1.0, **loss)
    index = toy_index()
    collator = KoGNERDataCollator.from_model(
        model, teacher=TeacherTable(index.vectors, {kg_id: row for row, kg_id in enumerate(index.kg_ids)}),
        num_teacher_negatives=num_teacher_negatives)
    examples = toy_examples()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    for step in range(steps):
        batch = collator([examples[(step * 8 + offset) % len(examples)] for offset in range(8)])
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.entity_index = index
    return model


def fit_toy_links(model: KoGNERModel, steps: int = 300) -> dict:
    """Fit the model's linking maps on every toy link."""
    sentences, spans, rows = training_links(toy_examples(), model.entity_index.row_of, model.config.max_width,
                                            max_links=1000, seed=0)
    return fit_linking_heads(model, sentences, spans, rows, steps=steps, batch_size=32, candidates=8, progress=False)


@pytest.fixture(scope="module")
def linker(tiny_encoder_dir: Path) -> KoGNERModel:
    """Trained with distillation, then its linking head (the default ``linking_query="mean_tokens"``) fitted."""
    model = train_linker(tiny_encoder_dir, steps=150)
    fit_toy_links(model)
    return model


def toy_link_accuracy(model: KoGNERModel) -> tuple[float, list[list[tuple[int, float]]]]:
    """Accuracy@1 of linking every KG-linked toy span by the vectors alone (each toy span is its entity's exact
    name, which `rank_entities` would put first), and the top-3 links."""
    examples = toy_examples()
    spans, gold = [], []
    for number, example in enumerate(examples):
        for link in example["kge"]:
            spans.append((number, link["start"], link["end"]))
            gold.append(link["kg_id"])
    found = link_spans(model, [example["tokens"] for example in examples], spans, top_k=3, name_candidates=0)
    ids = model.entity_index.kg_ids
    return sum(ids[top[0][0]] == kg_id for top, kg_id in zip(found, gold)) / len(gold), found


def test_linking_returns_the_right_kg_id_for_every_toy_entity(linker) -> None:
    accuracy, found = toy_link_accuracy(linker)
    assert accuracy >= 0.9, accuracy  # a random index would give 1/16
    assert all(-1.0 <= score <= 1.0 for top in found for _, score in top)
    assert all(top[0][1] >= top[1][1] >= top[2][1] for top in found)
    examples = toy_examples()
    spans = [(0, link["start"], link["end"]) for link in examples[0]["kge"]]
    named = link_spans(linker, [examples[0]["tokens"]], spans, 3)  # the config's default: same-name entities first
    assert [linker.entity_index.kg_ids[top[0][0]] for top in named] == [link["kg_id"] for link in examples[0]["kge"]]


def test_entities_named_like_the_span_come_first_within_the_name_candidates() -> None:
    index = EntityIndex(["a", "b", "c", "d"], ["Aspirin", "aspirin tablet", "IL-2", "aspirin"], torch.zeros(4, 2))
    query, entities = torch.tensor([[0.7, 0.9, 0.8, 0.1]]), torch.eye(4)  # cosines of rows 0..3

    def rows(text: str, candidates: int | str, top_k: int = 4) -> list[int]:
        found = rank_entities(query, entities, [text], index, top_k, candidates)[0]
        assert [score for _, score in found] == pytest.approx(query[0, [row for row, _ in found]].tolist())
        return [row for row, _ in found]

    assert rows("ASPIRIN", 3) == [0, 1, 2, 3]  # the same-name entity among the 3 nearest
    assert rows("ASPIRIN", 2) == [1, 2, 0, 3]  # none among the 2 nearest: vector order
    assert rows("ASPIRIN", "all") == [0, 3, 1, 2]  # every homonym in the index, the nearest first
    assert rows("ASPIRIN", "all", top_k=1) == [0]
    assert rows("ASPIRIN", 0) == [1, 2, 0, 3]
    assert rows("il - 2", 3) == [2, 1, 0, 3]
    assert rows("ibuprofen", "all") == [1, 2, 0, 3]
    assert index.rows_named("aspirin") == [0, 3] and index.rows_named("ibuprofen") == []


def test_the_distillation_space_itself_links_toy_entities(tiny_encoder_dir: Path) -> None:
    """``linking_query="span"``: MLP_span(span) vs MLP_dist(H), as trained by the MSE, without any fit."""
    assert toy_link_accuracy(train_linker(tiny_encoder_dir, steps=150, linking_query="span"))[0] >= 0.9


def test_mean_token_queries_average_the_span_sub_tokens(linker) -> None:
    from modeling_kogner.linking_kogner import linking_queries

    words = ["the", "acetylsalicylic", "acid", "dose", "."]
    queries = linking_queries(linker, [words], [(0, 1, 2), (0, 3, 3)])
    assert queries.shape == (2, linker.encoder.config.hidden_size)
    encoding = linker.tokenizer(" ".join(words), return_tensors="pt")
    with torch.no_grad():
        hidden = linker.encoder(**encoding).last_hidden_state[0]
    word_ids = encoding.word_ids(0)
    for query, wanted in zip(queries, ({1, 2}, {3})):
        tokens = [position for position, word in enumerate(word_ids) if word in wanted]
        assert len(tokens) >= len(wanted)
        assert torch.allclose(query, hidden[tokens].mean(dim=0), atol=1e-5)


def test_an_unfitted_linking_head_is_refused(tiny_encoder_dir: Path) -> None:
    model = train_linker(tiny_encoder_dir, steps=0)
    with pytest.raises(ValueError, match="never fitted.*linking_heads"):
        model.predict_entities(f"{DRUGS[0]} helps", ["drug"], threshold=0.0, link=True)
    span_model = train_linker(tiny_encoder_dir, steps=0, linking_query="span")
    span_model.config.linking_query = "mean_tokens"
    with pytest.raises(ValueError, match="built without one"):
        span_model.predict_entities(f"{DRUGS[0]} helps", ["drug"], threshold=0.0, link=True)


def test_contrastive_distillation_learns_to_link_with_a_trained_projection(tiny_encoder_dir: Path) -> None:
    untrained = train_linker(tiny_encoder_dir, steps=0, distillation_loss="contrastive",
                             freeze_teacher_projection=False, linking_query="span")
    model = train_linker(tiny_encoder_dir, steps=60, num_teacher_negatives=4, distillation_loss="contrastive",
                         freeze_teacher_projection=False, linking_query="span")
    assert toy_link_accuracy(untrained)[0] <= 0.4
    assert toy_link_accuracy(model)[0] >= 0.9
    projection = model.distillation_head.teacher_projection.weight
    assert not torch.equal(projection, untrained.distillation_head.teacher_projection.weight)


@pytest.mark.parametrize("query", ["mean_tokens", "span"])
def test_fitting_the_linking_heads_after_training_links_without_changing_ner(tiny_encoder_dir: Path,
                                                                            query: str) -> None:
    model = train_linker(tiny_encoder_dir, steps=0, linking_query=query)  # heads at their initialisation
    examples = toy_examples()
    batch = KoGNERDataCollator.from_model(model)(examples[:4])
    logits_before = model(**batch).logits
    row_of = {kg_id: row for row, kg_id in enumerate(model.entity_index.kg_ids)}
    sentences, spans, rows = training_links(examples, {**row_of, "drug:unknown": 0}, model.config.max_width,
                                            max_links=1000, seed=0)
    assert len(spans) == sum(len(example["kge"]) for example in examples) and len(sentences) <= len(examples)
    assert all(" ".join(sentences[s][a : b + 1]) == model.entity_index.names[row] for (s, a, b), row in
               zip(spans, rows))  # toy names are the linked words
    assert training_links(examples, row_of, 8, 5, seed=0)[1:] == training_links(examples, row_of, 8, 5, seed=0)[1:]
    if query == "span":
        assert toy_link_accuracy(model)[0] <= 0.4
    report = fit_linking_heads(model, sentences, spans, rows, steps=400, batch_size=32, candidates=8, progress=False)
    assert toy_link_accuracy(model)[0] >= 0.9
    assert report["linking_query"] == query
    assert report["held_out_seen_acc_at_1_after"] > report["held_out_seen_acc_at_1_before"]
    assert report["final_loss"] < 0.5 * report["first_loss"]
    assert torch.equal(model(**batch).logits, logits_before)  # NER untouched
    assert not model.distillation_head.teacher_projection.weight.requires_grad  # the frozen flag is restored
    assert (model.linking_head is None) == (query == "span")
    with pytest.raises(ValueError, match="no training link"):
        fit_linking_heads(model, [], [], [], steps=1)


def test_contrastive_loss_prefers_the_own_entity_and_skips_its_duplicates() -> None:
    candidates = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    right = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # span i points at candidate i
    none = torch.zeros(2, 4, dtype=torch.bool)
    duplicate = none.clone()
    duplicate[0, 2] = True  # candidate 2 is span 0's entity again (another span linked to it)
    loss = contrastive_distillation_loss(right, candidates, duplicate, temperature=0.1)
    assert loss.item() < 1e-3
    # without the exclusion the duplicate halves span 0's probability: loss ln 2 / 2 over two spans
    assert contrastive_distillation_loss(right, candidates, none, 0.1).item() == pytest.approx(0.3466, abs=1e-3)
    wrong = right.flip(0)
    assert contrastive_distillation_loss(wrong, candidates, duplicate, 0.1).item() > 5.0
    empty = torch.zeros(0, 2, requires_grad=True)
    zero = contrastive_distillation_loss(empty, candidates, torch.zeros(0, 4, dtype=torch.bool), 0.1)
    zero.backward()
    assert zero.item() == 0.0 and empty.grad is not None


def test_teacher_negatives_are_drawn_from_distillation_targets_only(tiny_encoder_dir: Path) -> None:
    index = toy_index()
    targets = {kg_id: row for row, kg_id in enumerate(index.kg_ids) if row % 2 == 0}  # odd rows: uncovered
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, teacher_dim=TEACHER_DIM,
                                     distillation_dim=16)

    def negatives(seed: int, count: int) -> torch.Tensor | None:
        collator = KoGNERDataCollator.from_model(model, teacher=TeacherTable(index.vectors, targets),
                                                 num_teacher_negatives=count, seed=seed)
        return collator(toy_examples()[:4]).get("negative_teacher_vectors")

    drawn = negatives(seed=3, count=5)
    allowed = index.vectors[sorted(targets.values())]
    assert drawn.shape == (5, TEACHER_DIM) and len({tuple(row.tolist()) for row in drawn}) == 5
    assert all((allowed == row).all(dim=1).any() for row in drawn)
    assert torch.equal(drawn, negatives(seed=3, count=5)) and not torch.equal(drawn, negatives(seed=4, count=5))
    assert negatives(seed=3, count=100).shape[0] == len(targets)  # at most every target once
    assert negatives(seed=3, count=0) is None
    output = model(**KoGNERDataCollator.from_model(model, teacher=TeacherTable(index.vectors, targets),
                                                   num_teacher_negatives=5)(toy_examples()[:4]))
    assert output.dist_loss.item() > 0


def test_predict_entities_with_link_adds_id_name_and_score(linker) -> None:
    texts = [f"{DRUGS[0]} was given to patients with {DISEASES[0]} .", f"{DISEASES[2]} did not respond to {DRUGS[3]} ."]
    linked = linker.batch_predict_entities(texts, ["drug", "disease"], threshold=0.3, link=True)
    assert sum(map(len, linked)) >= 2
    for entity in (entity for entities in linked for entity in entities):
        kind = "drug" if entity["text"] in DRUGS else "disease"
        assert entity["kg_type"] == entity["label"] and entity["link_types"] == [entity["label"]]  # never crosses
        if entity["label"] == kind:
            assert entity["kg_id"] == f"{kind}:{entity['text']}" and entity["kg_name"] == entity["text"]
            assert entity["link_match"] == "name" and entity["kg_xrefs"] == []
        assert 0.0 < entity["link_score"] <= 1.0
    plain = linker.batch_predict_entities(texts, ["drug", "disease"], threshold=0.3)
    assert [[{key: e[key] for key in ("start", "end", "text", "label", "score")} for e in entities]
            for entities in linked] == plain
    assert all("kg_id" not in entity for entities in plain for entity in entities)
    single = linker.predict_entities(texts[1], ["drug", "disease"], threshold=0.3, link=True)
    assert [(e["text"], e["kg_id"]) for e in single] == [(e["text"], e["kg_id"]) for e in linked[1]]


def test_link_without_an_index_raises_a_clear_error(tiny_encoder_dir: Path) -> None:
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, teacher_dim=TEACHER_DIM,
                                     distillation_dim=16)
    with pytest.raises(ValueError, match="entity index"):
        model.predict_entities("aspirin helps", ["drug"], link=True)
    no_head = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32)
    no_head.entity_index = toy_index()
    with pytest.raises(ValueError, match="teacher_dim=0"):
        no_head.predict_entities("aspirin helps", ["drug"], link=True)


def test_save_and_load_keep_the_index(linker, tmp_path: Path) -> None:
    linker.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / ENTITY_INDEX_VECTORS).is_file() and (tmp_path / "model" / ENTITY_INDEX_TABLE).is_file()
    loaded = KoGNERModel.from_pretrained(tmp_path / "model")
    assert bool(loaded.linking_head.fitted)
    index = loaded.entity_index
    assert index.kg_ids == linker.entity_index.kg_ids and index.names == linker.entity_index.names
    assert index.types == linker.entity_index.types
    assert torch.allclose(index.vectors, linker.entity_index.vectors, atol=1e-2)  # stored as float16
    text = f"{DRUGS[1]} did not help with {DISEASES[1]} ."
    before = linker.predict_entities(text, ["drug", "disease"], threshold=0.3, link=True)
    after = loaded.predict_entities(text, ["drug", "disease"], threshold=0.3, link=True)
    assert before and [(e["text"], e["kg_id"]) for e in after] == [(e["text"], e["kg_id"]) for e in before]
    assert [e["link_score"] for e in after] == pytest.approx([e["link_score"] for e in before], abs=1e-2)
    # as remote code in a fresh process, with only torch + transformers imported by the user
    script = textwrap.dedent(f"""
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / 'model')!r}, trust_remote_code=True)
        print("|".join(e["kg_id"] for e in model.predict_entities({text!r}, ["drug", "disease"], threshold=0.3,
                                                                   link=True)))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert result.stdout.strip().split("|") == [e["kg_id"] for e in before]


def test_a_model_saved_without_index_loads_with_none(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    model = KoGNERModel.from_encoder(str(tiny_encoder_dir), hidden_size=32, teacher_dim=TEACHER_DIM,
                                     distillation_dim=16)
    model.save_pretrained(tmp_path / "plain")
    assert not (tmp_path / "plain" / ENTITY_INDEX_TABLE).exists()
    assert KoGNERModel.from_pretrained(tmp_path / "plain").entity_index is None


def test_entity_index_rejects_inconsistent_parts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 ids but vectors of shape"):
        EntityIndex(["a", "b"], ["A", "B"], torch.zeros(3, 4))
    toy_index().save(tmp_path)
    (tmp_path / ENTITY_INDEX_VECTORS).unlink()
    with pytest.raises(FileNotFoundError, match=ENTITY_INDEX_VECTORS):
        EntityIndex.load(tmp_path)


def test_linking_benchmark_scores_unseen_and_seen_entities(linker, tmp_path: Path) -> None:
    """``benchmarks/linking.py`` on a toy KG dataset: test links of entities absent from training are the
    entity-disjoint set, the training links the seen set; each is compared with the name baseline."""
    import importlib
    import json

    from datasets import DatasetDict

    examples = [{key: example[key] for key in ("tokens", "ner", "kge")} for example in toy_examples(40)]
    unseen_drug = DRUGS[0]
    train = [example for example in examples if all(link["kg_id"] != f"drug:{unseen_drug}" for link in example["kge"])]
    test = [example for example in examples if example not in train]
    assert train and test
    features = Features({key: NER_FEATURES[key] for key in ("tokens", "ner", "kge")})
    DatasetDict({"train": Dataset.from_list(train, features=features),
                 "validation": Dataset.from_list(test, features=features),
                 "test": Dataset.from_list(test, features=features)}).save_to_disk(tmp_path / "kg-data")
    linker.save_pretrained(tmp_path / "model")
    folder = str(REPO_ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)  # as the script imports its neighbours
    linking = importlib.import_module("linking")
    output = tmp_path / "linking.json"
    assert linking.main(["--model", str(tmp_path / "model"), "--kg-data", str(tmp_path / "kg-data"), "--corpora",
                         "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    assert results["kg_test_entity_disjoint"]["spans"] == len(test)  # one link of the unseen drug per sentence
    assert results["kg_details"]["test"]["distinct_entities_scored"] == 1
    assert results["kg_train_seen_entities"]["spans"] == 2 * len(train)
    assert results["kg_train_seen_entities"]["acc_at_1"] >= 0.9  # the toy linker learned every entity
    assert results["name_baseline"]["acc_at_1"] == 1.0  # exact names
    assert results["kg_dev_entity_disjoint"]["spans"] == len(test)
    assert set(results["kg_test_entity_disjoint"]["by_name_candidates"]) == {"0", "5", "20", "all"}
    assert results["name_candidates_best_on_dev"] in results["kg_dev_entity_disjoint"]["by_name_candidates"]
    assert results["kg_test_entity_disjoint"]["by_name_candidates"]["all"]["acc_at_1"] == 1.0  # unique toy names
    assert results["kg_test_entity_disjoint"]["by_baseline_lookup"]["exact"]["spans"] == len(test)
    assert results["kg_train_seen_entities"]["name_baseline_acc_at_1"] == 1.0


# ------------------------------------------------------------------ names, synonyms, types, NIL, identifiers
def lexicon_index(base: EntityIndex) -> EntityIndex:
    """The toy index (teacher vectors) plus name-only entities: synonyms, identifiers, a homonym of another type."""
    synonyms = [["acetylsalicylic acid"] if kg_id == "drug:aspirin" else [] for kg_id in base.kg_ids]
    xrefs = [["MESH:D001241", "Fyler:1"] if kg_id == "drug:aspirin" else [] for kg_id in base.kg_ids]
    extra = [("disease:hepatitis", "hepatitis", "disease", ["liver inflammation"], ["MESH:D006505"]),
             ("drug:gout", "gout", "drug", [], [])]  # a drug named like a disease
    return EntityIndex(base.kg_ids + [e[0] for e in extra], base.names + [e[1] for e in extra], base.vectors,
                       base.types + [e[2] for e in extra], synonyms + [e[3] for e in extra],
                       xrefs + [e[4] for e in extra])


@pytest.fixture()
def lexicon_linker(linker):
    original = linker.entity_index
    linker.entity_index = lexicon_index(original)
    yield linker
    linker.entity_index, linker.config.linking_nil_threshold = original, None


def _link(model: KoGNERModel, sentence: str, span: tuple[int, int], label: str, top_k: int = 1) -> dict:
    from modeling_kogner.linking_kogner import link_mentions

    words = sentence.split()
    return link_mentions(model, [words], [(0, *span)], [label], top_k=top_k)[0]


def test_synonyms_plurals_and_name_only_entities_link(lexicon_linker) -> None:
    index = lexicon_linker.entity_index
    found = _link(lexicon_linker, "acetylsalicylic acid was given", (0, 1), "drug")
    assert [(index.kg_ids[row], match) for row, _, match in found["candidates"]] == [("drug:aspirin", "synonym")]
    found = _link(lexicon_linker, "patients with Hepatitis .", (2, 2), "disease")  # no teacher vector
    assert [(index.kg_ids[row], match) for row, _, match in found["candidates"]] == [("disease:hepatitis", "name")]
    assert -1.0 <= found["candidates"][0][1] <= 1.0
    found = _link(lexicon_linker, "two migraines .", (1, 1), "disease")  # a plural
    assert index.kg_ids[found["candidates"][0][0]] == "disease:migraine"


def test_type_incompatible_entities_are_never_returned(lexicon_linker) -> None:
    index = lexicon_linker.entity_index
    for label, kind in (("disease", "disease"), ("drug", "drug")):
        found = _link(lexicon_linker, "patients with gout .", (2, 2), label, top_k=10)
        assert found["types"] == (kind,) and found["candidates"]
        assert all(index.types[row] == kind for row, _, _ in found["candidates"])
        assert index.kg_ids[found["candidates"][0][0]] == f"{kind}:gout"
    found = _link(lexicon_linker, "patients with gout .", (2, 2), "thing", top_k=3)
    assert found["types"] is None and found["candidates"]  # a label naming no KG type links to any type


def test_no_link_below_the_threshold_unless_a_name_matches(lexicon_linker) -> None:
    sentence = "we report nothing here ."
    lexicon_linker.config.linking_nil_threshold = None
    assert _link(lexicon_linker, sentence, (2, 2), "drug")["candidates"][0][2] == "vector"
    lexicon_linker.config.linking_nil_threshold = 1.01
    assert _link(lexicon_linker, sentence, (2, 2), "drug")["candidates"] == []
    assert _link(lexicon_linker, "patients with gout .", (2, 2), "disease")["candidates"]  # a name match stays


def test_identifiers_survive_kg_teacher_index_saved_model_and_link(lexicon_linker, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from kogner.teacher.files import entities_table, read_entity_columns
    from modeling_kogner.linking_kogner import add_links

    graph = KnowledgeGraph(["drug:aspirin"], ["aspirin"], ["drug"], [""], [["acetylsalicylic acid"]], [], [], [],
                           xrefs=[["MESH:D001241", "Fyler:1"]])
    (tmp_path / "entities.tsv").write_text(entities_table(graph))
    columns = read_entity_columns(tmp_path / "entities.tsv")
    assert columns["xrefs"] == [["MESH:D001241", "Fyler:1"]]  # KG -> teacher
    lexicon_linker.save_pretrained(tmp_path / "model")
    loaded = KoGNERModel.from_pretrained(tmp_path / "model")  # index -> saved model
    assert loaded.entity_index.xrefs[loaded.entity_index.row_of["drug:aspirin"]] == tuple(columns["xrefs"][0])
    words = "acetylsalicylic acid and hepatitis here".split()
    entities = [{"label": "drug"}, {"label": "disease"}, {"label": "thing"}]
    add_links(loaded, [words], [[SimpleNamespace(start=0, end=1), SimpleNamespace(start=3, end=3),
                                 SimpleNamespace(start=4, end=4)]], [entities])
    assert entities[0]["kg_id"] == "drug:aspirin" and entities[0]["kg_xrefs"] == ["MESH:D001241", "Fyler:1"]
    assert entities[0]["link_match"] == "synonym" and entities[0]["link_types"] == ["drug"]
    assert entities[1]["kg_id"] == "disease:hepatitis" and entities[1]["kg_xrefs"] == ["MESH:D006505"]
    assert entities[2]["link_types"] is None and entities[2]["link_match"] == "vector"


def test_curated_linking_benchmark_scores_coverage_linkers_and_nil(lexicon_linker, tmp_path: Path) -> None:
    """``benchmarks/linking_curated.py`` on a toy PubTator split and a toy lexicon: gold ids map to KG ids through
    xrefs, an id in no node is uncovered (a right NIL for the name linkers), every method is scored."""
    import importlib
    import json

    import pandas as pd

    from kogner.kg.lexicon import lexicon_cache_path

    lexicon = pd.DataFrame({"kg_id": ["drug:aspirin", "disease:gout", "disease:asthma"],
                            "type": ["chemical", "disease", "disease"], "name": ["aspirin", "gout", "asthma"],
                            "synonyms": ["acetylsalicylic acid", "", ""], "xrefs": ["MESH:D001241", "MESH:D006073", ""]})
    lexicon_cache_path(cache_dir=tmp_path / "cache").parent.mkdir(parents=True)
    lexicon.to_parquet(lexicon_cache_path(cache_dir=tmp_path / "cache"))
    title, abstract = "Aspirin and gout", "acetylsalicylic acid was given to patients with gout and unknownium ."
    document = "\n".join([f"1|t|{title}", f"1|a|{abstract}",
                          "1\t0\t7\tAspirin\tChemicalEntity\tD001241",
                          "1\t12\t16\tgout\tDiseaseOrPhenotypicFeature\tD006073",
                          "1\t17\t37\tacetylsalicylic acid\tChemicalEntity\tD001241,D000000",
                          "1\t74\t84\tunknownium\tChemicalEntity\tD999999"]) + "\n\n"
    for split in ("devel", "test"):
        (tmp_path / f"{split}.pubtator").write_text(document)
    lexicon_linker.save_pretrained(tmp_path / "model")  # its index knows the synonym
    folder = str(REPO_ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    benchmark = importlib.import_module("linking_curated")
    output = tmp_path / "linking_curated.json"
    assert benchmark.main(["--model", str(tmp_path / "model"), "--biored", str(tmp_path), "--lexicon-cache",
                           str(tmp_path / "cache"), "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    overall = results["overall"]
    assert overall["gold_mentions"] == 4 and overall["mentions"] == 3 and overall["coverage"] == 0.75
    assert overall["acc_at_1"]["exact_name"] == pytest.approx(2 / 3, abs=1e-3)  # the synonym is not a name
    assert overall["acc_at_1"]["dictionary"] == 1.0 and overall["acc_at_1"]["model"] == 1.0
    assert set(overall["acc_at_5"]) == {"exact_name", "dictionary", "vectors", "model"}
    assert overall["nil"]["uncovered_mentions"] == 1 and overall["nil"]["dictionary"] == 1.0
    assert set(results["per_type"]) == {"chemical", "disease"} and results["per_type"]["disease"]["coverage"] == 1.0
    assert results["nil_threshold"]["chosen_on"] == "BioRED devel"
    assert set(results["end_to_end"]["overall"]["acc_at_1"]) == {"exact_name", "dictionary", "vectors", "model"}


def test_name_links_and_hard_negatives_for_the_linking_fit(tiny_encoder_dir: Path) -> None:
    from kogner.training.linking_heads import homonym_rows, name_links

    index = EntityIndex(["a:1", "b:2", "c:3", "d:4"], ["cold", "Cold", "aspirin", "named only"], torch.randn(3, 4),
                        ["disease", "organism", "drug", "drug"], [[], [], ["acetylsalicylic acid"], []])
    sentences, spans, rows = name_links(index, max_width=8, max_links=100, seed=0)
    pairs = sorted((" ".join(sentences[s][a : b + 1]), index.kg_ids[row]) for (s, a, b), row in zip(spans, rows))
    assert pairs == [("Cold", "b:2"), ("acetylsalicylic acid", "c:3"), ("aspirin", "c:3"), ("cold", "a:1")]
    assert len(name_links(index, 8, 2, seed=0)[2]) == 2
    assert homonym_rows(index) == {0: [1], 1: [0]}  # the name-only entity (no vector) is never a fit target
    model = train_linker(tiny_encoder_dir, steps=0)
    sentences, spans, rows = name_links(model.entity_index, model.config.max_width, 100, seed=0)
    report = fit_linking_heads(model, sentences, spans, rows, steps=20, batch_size=8, candidates=4, progress=False,
                               hard_negatives=True)
    assert report["hard_negatives"] and report["links"] == len(model.entity_index)
