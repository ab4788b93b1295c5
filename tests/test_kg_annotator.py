"""The KG annotator: longest type-aware match of KG names on real sentences, with kge ids (tiny hand-made lexicon)."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import load_from_disk

from kogner.datagen.kg_annotator import AnnotationStats, AnnotatorSettings, KGAnnotator, name_rows
from kogner.kg.lexicon import LexiconEntry
from kogner.schema import validate_dataset
from kogner.words import word_list

LEXICON = [
    LexiconEntry("MONDO:0007254", "disease", "breast cancer", ("mammary carcinoma",), ()),
    LexiconEntry("MONDO:0004992", "disease", "cancer", (), ()),
    LexiconEntry("HP:0001250", "phenotype", "Seizure", ("Epileptic seizure",), ()),
    LexiconEntry("NCBIGene:672", "gene", "BRCA1", (), ()),
    LexiconEntry("NCBIGene:3569", "gene", "IL6", ("interleukin 6",), ()),
    LexiconEntry("NCBIGene:4233", "gene", "MET", (), ()),
    LexiconEntry("CHEBI:15377", "chemical", "water", (), ()),
    LexiconEntry("HP:0000001", "phenotype", "All", (), ()),  # HPO's root term: a very common word
    LexiconEntry("CL:0000084", "cell type", "T cell", (), ()),
    LexiconEntry("CVCL_9999", "cell line", "T cell", (), ()),
    LexiconEntry("NCBITaxon:10090", "organism", "Mus musculus", ("mouse",), ()),
    LexiconEntry("NCBITaxon:99999", "organism", "mouse", (), ()),
]


def spans(record: dict) -> list[tuple[str, str]]:
    return [(" ".join(record["tokens"][span["start"]:span["end"] + 1]), span["label"]) for span in record["ner"]]


def annotate(text: str, **settings) -> dict:
    return KGAnnotator(LEXICON, AnnotatorSettings(**settings)).annotate(word_list(text))


def test_longest_match_wins_and_labels_are_kg_types() -> None:
    record = annotate("Mutations in BRCA1 cause breast cancer and Seizures in a mouse .")
    assert spans(record) == [("BRCA1", "gene"), ("breast cancer", "disease"), ("Seizures", "phenotype"),
                             ("mouse", "organism")]  # plural and case by normalize_name; not "cancer" alone


def test_kge_links_carry_every_id_of_the_matched_type_and_respect_the_teacher() -> None:
    record = annotate("BRCA1 and IL-6 in the mouse .")
    assert {(link["start"], link["kg_id"]) for link in record["kge"]} == {
        (0, "NCBIGene:672"), (2, "NCBIGene:3569"), (7, "NCBITaxon:10090"), (7, "NCBITaxon:99999")}
    assert spans(record)[1] == ("IL - 6", "gene")  # IL-6 = IL6: punctuation inside a match is free
    stats = AnnotationStats()
    taught = KGAnnotator(LEXICON, teacher_ids={"NCBIGene:672"}).annotate(word_list("BRCA1 and IL6"), stats)
    assert [link["kg_id"] for link in taught["kge"]] == ["NCBIGene:672"]
    assert len(taught["ner"]) == 2 and stats.links_outside_teacher == 1  # IL6: a label without a target
    assert annotate("the mouse", max_ids=1)["kge"] == []  # two organisms named "mouse": no link, still a label


def test_a_common_word_does_not_match_unless_it_is_an_acronym_in_its_own_case() -> None:
    record = annotate("All of them met him and drank water ; MET was amplified .")
    assert spans(record) == [("MET", "gene")]
    assert spans(annotate("All of them", common_zipf=6.0)) == []
    assert ("water", "chemical") in spans(annotate("drank water", common_zipf=None))


def test_case_length_types_and_ambiguity_settings() -> None:
    assert spans(annotate("brca1 and Brca1", title_case_acronyms=False)) == []  # an acronym keeps its case
    assert spans(annotate("brca1 and Brca1")) == [("Brca1", "gene")]  # or is title-cased (mouse genes)
    assert spans(annotate("BRCA1", min_chars=6)) == []
    assert spans(annotate("BRCA1 in breast cancer", types=("disease",))) == [("breast cancer", "disease")]
    text = "T cells were counted ."
    assert spans(annotate(text, ambiguous="skip")) == []  # "T cell" names a cell type and a cell line
    assert spans(annotate(text, ambiguous="all")) == [("T cells", "cell type"), ("T cells", "cell line")]
    assert spans(annotate(text, ambiguous="priority")) == [("T cells", "cell type")]
    assert spans(annotate("breast , cancer")) == [("cancer", "disease")]  # a comma the name lacks breaks it
    with pytest.raises(ValueError, match="ambiguous"):
        AnnotatorSettings(ambiguous="first")


def test_a_name_table_and_with_settings_give_the_same_matches() -> None:
    text = word_list("Mutations in BRCA1 cause breast cancer .")
    from_table = KGAnnotator(name_rows(LEXICON))
    assert from_table.annotate(text) == KGAnnotator(LEXICON).annotate(text)
    assert spans(from_table.with_settings(AnnotatorSettings(types=("gene",))).annotate(text)) == [("BRCA1", "gene")]


def test_annotated_dataset_is_saved_in_the_schema(tmp_path: Path) -> None:
    from kogner.datagen.kg_annotator import annotate_to_folder

    text = tmp_path / "abstracts.txt"
    text.write_text("BRCA1 mutations cause breast cancer. Water is common.\n\nSeizures in the mouse.\n", encoding="utf-8")
    summary = annotate_to_folder(KGAnnotator(LEXICON), str(text), tmp_path / "out")
    saved = load_from_disk(str(tmp_path / "out"))
    validate_dataset(saved)
    assert list(saved) == ["train"] and len(saved["train"]) == 3
    assert summary["matches_per_type"] == {"disease": 1, "gene": 1, "organism": 1, "phenotype": 1}
    assert (tmp_path / "out" / "README.md").is_file()


def test_cli_settings_follow_the_options() -> None:
    from data_scripts.kg_annotate import parse_args, settings_from_args

    args = parse_args(["--source", "craft", "--out", "runs/x", "--types", "disease", "cell type",
                       "--common-zipf", "none", "--ambiguous", "skip", "--min-chars", "4"])
    settings = settings_from_args(args)
    assert settings.types == ("disease", "cell type") and settings.common_zipf is None
    assert settings.ambiguous == "skip" and settings.min_chars == 4
    assert settings_from_args(parse_args(["--source", "a.txt", "--out", "o"])) == AnnotatorSettings()
