"""Name normalisation for entity linking: the key under which names, synonyms and mentions meet.

The usual normalisation of biomedical linkers (dictionary sieves, SapBERT-style preprocessing):
Unicode compatibility forms, Greek letters spelled out (``α`` -> ``alpha``), lower case,
possessives and punctuation removed (hyphens, slashes, brackets and commas become spaces), letters
and digits split (``IL6`` = ``IL-6`` = ``il 6``), Roman numerals ``ii``-``ix`` as digits (``i`` after words such as ``type``), and each word
singularised with a few suffix rules (``hepatocytes`` -> ``hepatocyte``, ``viruses`` -> ``virus``).
The result is a lookup key, not a display form: both sides of a comparison must go through it.
"""

from __future__ import annotations

import re
import unicodedata

GREEK_LETTERS = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
    "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi",
    "ο": "omicron", "π": "pi", "ρ": "rho", "σ": "sigma", "ς": "sigma", "τ": "tau", "υ": "upsilon",
    "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
}
ROMAN_NUMERALS = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
_GREEK = re.compile("|".join(GREEK_LETTERS))
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")
_INVARIANT_ENDINGS = ("ss", "us", "is", "ous", "ys")
_NUMBERED = {"type", "class", "grade", "stage", "phase", "group", "complex", "factor"}  # "type I" -> "type 1"


def singular(word: str) -> str:
    """A lower-case word's singular by suffix rules (``cells`` -> ``cell``, ``arteries`` -> ``artery``)."""
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_INVARIANT_ENDINGS):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes", "uses")):
        return word[:-2]
    return word[:-1]


def normalize_name(text: str) -> str:
    """The linking key of a name or mention: ``"Hepatocytes"`` -> ``"hepatocyte"``, ``"TNF-α"`` -> ``"tnf alpha"``.

    Returns ``""`` for text without letters or digits.
    """
    if text.isascii():
        text = _POSSESSIVE.sub("", text.lower())
    else:
        text = unicodedata.normalize("NFKC", text).lower()
        text = _GREEK.sub(lambda m: f" {GREEK_LETTERS[m.group(0)]} ", text)
        text = _POSSESSIVE.sub("", text)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _LETTER_DIGIT.sub(" ", _NON_WORD.sub(" ", text))
    words = text.split()
    words = [("1" if word == "i" and index and words[index - 1] in _NUMBERED else ROMAN_NUMERALS.get(word, word))
             for index, word in enumerate(words)]
    return " ".join(singular(word) for word in words)
