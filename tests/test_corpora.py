"""The corpus registry (tags -> prompts, source columns, bad input), training mixes and the entity-disjoint KG split."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from conftest import SHARED_BENCHMARKS
from kogner.corpora.mix import load_training_mix, parse_source_weights, resolve_eval_sets
from kogner.corpora.registry import (
    ADDED_CORPORA, CORPUS_LABELS, CORPUS_TAGS, SOURCE_FEATURES, EmptySplitError, UnmappedTagError, load_corpus_split,
    load_corpora, load_corpus,
)
from kogner.datagen.build import split_records
from kogner.schema import NER_FEATURES


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_registered_tag_has_a_natural_language_prompt() -> None:
    assert set(ADDED_CORPORA) <= set(CORPUS_TAGS)
    assert CORPUS_TAGS["craft"] == {"GGP": "gene or gene product", "Taxon": "organism", "CHEBI": "chemical",
                                    "CL": "cell type", "GO": "cellular component", "SO": "sequence feature"}
    assert CORPUS_LABELS["bionlp13pc"] == ["gene or gene product", "chemical", "protein complex", "cellular component"]
    assert CORPUS_LABELS["bionlp11id"] == ["protein", "organism", "chemical", "regulon or operon"]
    for tags in CORPUS_TAGS.values():
        for tag, prompt in tags.items():
            assert prompt.strip() and "_" not in prompt, (tag, prompt)


@pytest.mark.skipif(not SHARED_BENCHMARKS.is_dir(), reason=f"no corpora at {SHARED_BENCHMARKS}")
def test_registry_maps_every_tag_found_in_the_shared_corpora() -> None:
    folders = sorted(path.name for path in SHARED_BENCHMARKS.iterdir() if path.is_dir())
    assert set(folders) <= set(CORPUS_TAGS), f"unregistered corpus folders: {set(folders) - set(CORPUS_TAGS)}"
    for folder in folders:
        tags = set()
        for path in (SHARED_BENCHMARKS / folder).glob("*.tsv"):
            with path.open(encoding="utf-8") as handle:
                tags.update(line.rstrip("\r\n").split("\t")[-1][2:] for line in handle if "\t" in line)
        tags.discard("")
        assert tags == set(CORPUS_TAGS[folder]), (folder, tags ^ set(CORPUS_TAGS[folder]))


def test_corpus_loads_with_its_source_columns(tmp_path: Path) -> None:
    write(tmp_path / "craft" / "train.tsv", "The\tO\nnucleus\tB-GO\nof\tO\nmouse\tB-Taxon\ncells\tB-CL\n")
    dataset = load_corpus("craft", "train", data_dir=tmp_path)
    assert dataset.features == SOURCE_FEATURES
    assert dataset[0]["corpus"] == "craft"
    assert dataset[0]["annotated_labels"] == CORPUS_LABELS["craft"]
    assert [span["label"] for span in dataset[0]["ner"]] == ["cellular component", "organism", "cell type"]
    assert load_corpus_split("craft", "train", data_dir=tmp_path).features == NER_FEATURES  # the plain schema


def test_unmapped_tag_names_corpus_tag_and_where_the_mapping_lives(tmp_path: Path) -> None:
    write(tmp_path / "bionlp09" / "test.tsv", "p53\tB-Protein\nbinds\tO\nDNA\tB-Nucleic_acid\n")
    with pytest.raises(UnmappedTagError) as error:
        load_corpus_split("bionlp09", "test", data_dir=tmp_path)
    message = str(error.value)
    assert "'bionlp09'" in message and "'Nucleic_acid'" in message and "kogner/corpora/registry.py" in message
    assert "CORPUS_TAGS['bionlp09']" in message
    extra = load_corpus_split("bionlp09", "test", data_dir=tmp_path, label_map={"Nucleic_acid": "nucleic acid"})
    assert [span["label"] for span in extra[0]["ner"]] == ["protein", "nucleic acid"]


def test_empty_split_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "ex_ptm" / "devel.tsv", "\n\n")
    with pytest.raises(EmptySplitError, match=f"'ex_ptm' split 'validation': {path} holds no sentence"):
        load_corpus_split("ex_ptm", "dev", data_dir=tmp_path)


def test_missing_corpus_folder_is_skipped_with_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path / "bionlp09" / "train.tsv", "p53\tB-Protein\n")
    with caplog.at_level(logging.WARNING):
        loaded = load_corpora(["bionlp09", "bc4chemd"], "train", data_dir=tmp_path)
        mix = load_training_mix(["bc4chemd", "bionlp09"], data_dir=str(tmp_path))
        sets = resolve_eval_sets(["bc4chemd", "bionlp09:train"], data_dir=str(tmp_path), default_split="test")
    assert list(loaded) == ["bionlp09"] and len(mix) == 1 and list(sets) == ["bionlp09:train"]
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [f"corpus bc4chemd: folder {tmp_path / 'bc4chemd'} is missing, skipped"] * 3
    with pytest.raises(ValueError, match="every source of --train_data"):
        load_training_mix(["bc4chemd"], data_dir=str(tmp_path))


def test_training_mix_carries_each_source_and_its_annotated_types(tmp_path: Path) -> None:
    write(tmp_path / "bc2gm" / "train.tsv", "BRCA1\tB-GENE\nmutations\tO\n")
    kg = tmp_path / "kg"
    row = {"tokens": ["gout", "and", "aspirin"], "kge": [],
           "ner": [{"start": 0, "end": 0, "label": "disease"}, {"start": 2, "end": 2, "label": "chemical"}]}
    rare = {"tokens": ["HeLa"], "ner": [{"start": 0, "end": 0, "label": "cell line"}], "kge": []}
    DatasetDict(train=Dataset.from_list([row], features=NER_FEATURES),
                test=Dataset.from_list([rare], features=NER_FEATURES)).save_to_disk(str(kg))
    mix = load_training_mix(["bc2gm", str(kg)], data_dir=str(tmp_path))
    assert mix.features == SOURCE_FEATURES
    by_corpus = {example["corpus"]: example["annotated_labels"] for example in mix}
    # a generated dataset annotates every type found in any of its splits, a corpus its registered types
    assert by_corpus == {"bc2gm": ["gene"], "kg": ["cell line", "chemical", "disease"]}
    mix.save_to_disk(str(tmp_path / "saved_mix"))  # a saved mix keeps its own source columns
    again = load_training_mix([str(tmp_path / "saved_mix")])
    assert sorted(again["corpus"]) == ["bc2gm", "kg"]


def test_source_weights_change_how_often_a_source_is_sampled(tmp_path: Path) -> None:
    write(tmp_path / "bionlp09" / "train.tsv", "".join(f"p{i}\tB-Protein\n\n" for i in range(300)))
    write(tmp_path / "bc2gm" / "train.tsv", "".join(f"g{i}\tB-GENE\n\n" for i in range(100)))
    sources = ["bionlp09", "bc2gm"]
    plain = load_training_mix(sources, data_dir=str(tmp_path), seed=1)
    weighted = load_training_mix(sources, data_dir=str(tmp_path), seed=1, weights={"bc2gm": 3.0})
    assert plain["corpus"].count("bc2gm") == 100 and len(plain) == 400  # by size: one pass over each
    first = weighted.select(range(300))["corpus"]
    assert 0.4 < first.count("bc2gm") / 300 < 0.6  # 3 x 100 against 300: half of the draws
    assert set(weighted["tokens"][i][0] for i in range(len(weighted)) if weighted[i]["corpus"] == "bionlp09") == {
        f"p{i}" for i in range(300)}  # sampled until every source was seen whole
    assert weighted["tokens"] == load_training_mix(sources, data_dir=str(tmp_path), seed=1,
                                                   weights={"bc2gm": 3.0})["tokens"]  # deterministic per seed
    with pytest.raises(ValueError, match="not in --train_data: craft"):
        load_training_mix(sources, data_dir=str(tmp_path), weights={"craft": 2.0})
    for bad in ("bc2gm", "bc2gm=0", "=2", "bc2gm=x"):
        with pytest.raises(ValueError, match="SOURCE=WEIGHT"):
            parse_source_weights([bad])
    assert parse_source_weights(["runs/data=1.5"]) == {"runs/data": 1.5}


# ------------------------------------------------------------------------------ entity-disjoint KG split
def kg_records(count: int = 300, seed: int = 0) -> list[dict]:
    """Sentences of 2-3 KG entities as in generated data: most entities rare, a few hubs in many sentences."""
    import random

    rng = random.Random(seed)
    records = []
    for _ in range(count):
        ids = [f"KG:hub{rng.randrange(4)}" if rng.random() < 0.2 else f"KG:{rng.randrange(600)}"
               for _ in range(rng.choice([2, 2, 3]))]
        ids = list(dict.fromkeys(ids))
        labels = [rng.choice(["gene", "disease"]) for _ in ids]
        records.append({"tokens": [kg_id.replace(":", "") for kg_id in ids] + ["."],
                        "ner": [{"start": p, "end": p, "label": label} for p, label in enumerate(labels)],
                        "kge": [{"start": p, "end": p, "kg_id": kg_id} for p, kg_id in enumerate(ids)]})
    return records


def entity_ids(dataset: Dataset) -> set[str]:
    return {link["kg_id"] for links in dataset["kge"] for link in links}


def test_entity_disjoint_split_holds_out_entities() -> None:
    records = kg_records()
    split = split_records(records, 0.1, 0.1, seed=3, strategy="entity-disjoint")
    train, validation, test = (entity_ids(split[name]) for name in ("train", "validation", "test"))
    assert test and validation
    assert not test & train and not validation & train and not test & validation
    assert len(split["test"]) >= 0.08 * len(records) and len(split["validation"]) >= 0.08 * len(records)
    assert len(split["train"]) >= 0.6 * len(records)  # few sentences are dropped for straddling two splits
    again = split_records(records, 0.1, 0.1, seed=3, strategy="entity-disjoint")
    assert again["test"]["tokens"] == split["test"]["tokens"]  # seeded


def test_random_split_stays_the_default_and_shares_entities() -> None:
    records = kg_records()
    split = split_records(records, 0.1, 0.1, seed=3)
    assert sum(len(part) for part in split.values()) == len(records)
    assert entity_ids(split["test"]) & entity_ids(split["train"])  # why the disjoint split exists
    with pytest.raises(ValueError, match="strategy"):
        split_records(records, 0.1, 0.1, seed=3, strategy="by-type")
