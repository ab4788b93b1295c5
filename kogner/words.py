"""Word splitting for data generation and linking: must match the model's splitter exactly.

Re-exports the model's ``modeling_kogner.processing_kogner.split_words`` (regex ``\\w+|[^\\w\\s]``: runs
of word characters, every other non-space character its own word) so generated data and the model agree.
"""

from __future__ import annotations

from modeling_kogner.processing_kogner import split_words

__all__ = ["split_words", "word_list", "normalize_mention"]


def word_list(text: str) -> list[str]:
    """Just the words of ``text``."""
    return [word for word, _, _ in split_words(text)]


def normalize_mention(text: str) -> str:
    """Case-folded words joined by single spaces: ``"IL-2 "`` and ``"il - 2"`` both give ``"il - 2"``."""
    return " ".join(word.casefold() for word, _, _ in split_words(text))
