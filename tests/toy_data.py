"""A small learnable NER task shared by the model and training tests: 30 sentences, 2 entity types."""

from __future__ import annotations

import random

from modeling_kogner.processing_kogner import split_words

DRUGS = ["aspirin", "ibuprofen", "metformin", "cisplatin", "warfarin", "insulin glargine", "tamoxifen", "heparin"]
DISEASES = ["asthma", "type 2 diabetes", "gout", "migraine", "breast cancer", "psoriasis", "malaria", "anemia"]
PATTERNS = [
    "{drug} was given to patients with {disease} .",
    "We report {disease} after treatment with {drug} .",
    "In this cohort , {drug} reduced symptoms of {disease} .",
    "{disease} did not respond to {drug} in two cases .",
    "The effect of {drug} on {disease} remains unclear .",
]


def _locate(words: list[str], phrase: str) -> tuple[int, int]:
    target = [word for word, _, _ in split_words(phrase)]
    for start in range(len(words) - len(target) + 1):
        if words[start : start + len(target)] == target:
            return start, start + len(target) - 1
    raise ValueError(f"{phrase!r} not in {words}")


def toy_examples(count: int = 30, seed: int = 0) -> list[dict]:
    """Schema examples (tokens, ner, kge) with KG ids ``drug:<name>`` / ``disease:<name>``."""
    rng = random.Random(seed)
    examples = []
    for index in range(count):
        drug, disease = rng.choice(DRUGS), rng.choice(DISEASES)
        sentence = PATTERNS[index % len(PATTERNS)].format(drug=drug, disease=disease)
        words = [word for word, _, _ in split_words(sentence)]
        ner, kge = [], []
        for phrase, label in ((drug, "drug"), (disease, "disease")):
            start, end = _locate(words, phrase)
            ner.append({"start": start, "end": end, "label": label})
            kge.append({"start": start, "end": end, "kg_id": f"{label}:{phrase}"})
        examples.append({"tokens": words, "ner": ner, "kge": kge, "text": sentence})
    return examples


def toy_kg_ids() -> list[str]:
    return [f"drug:{name}" for name in DRUGS] + [f"disease:{name}" for name in DISEASES]
