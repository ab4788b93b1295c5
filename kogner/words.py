"""Word splitting for data generation and linking: must match the model's splitter exactly.

Re-exports the model's ``modeling_kogner.processing_kogner.split_words`` (regex ``\\w+|[^\\w\\s]``: runs
of word characters, every other non-space character its own word) so generated data and the model agree, and its
``normalize_mention`` (the key of name matching, in corpus linking and at ``link=True`` alike).
"""

from __future__ import annotations

from modeling_kogner.processing_kogner import normalize_mention, split_words

__all__ = ["split_words", "word_list", "normalize_mention"]


def word_list(text: str) -> list[str]:
    """Just the words of ``text``."""
    return [word for word, _, _ in split_words(text)]
