"""Corpus sentences as documents for ``abstracts``: consecutive sentences joined into one text, gold entities as
character spans of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

CharSpan = tuple[int, int, str]  # (start char, end char exclusive, label)


@dataclass
class Document:
    """Consecutive corpus sentences joined into one text, with each sentence's character span and the gold entities
    as character spans of that text."""

    text: str
    sentences: list[tuple[int, int]]
    gold: list[CharSpan]


def read_documents(
    corpus: str, split: str, data_dir: str | None, sentences_per_document: int, detokenize: bool = True
) -> tuple[list[Document], str]:
    """The documents of a corpus split and how they were formed.

    Files with ``-DOCSTART-`` lines (JNLPBA) give their own documents; the others (NCBI-disease, BC5CDR, BC2GM list
    the sentences of each abstract consecutively, without a boundary) are cut into pseudo-abstracts of
    ``sentences_per_document`` consecutive sentences. Sentences are joined by one space, as a whole abstract would
    be passed to ``predict_entities``; within a sentence the corpus tokens are joined as running text
    (`space_before`), or by single spaces with ``detokenize=False``. Either way the model sees the same words (its
    word splitter separates punctuation whatever the spaces); only a sentence splitter sees the difference.
    """
    from kogner.corpora.iob import DOCSTART, iob_to_spans, read_iob_sentences
    from kogner.corpora.registry import SPLIT_FILES, resolve_data_dir, tag_label

    split = {"dev": "validation", "devel": "validation"}.get(split, split)
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}: expected one of {sorted(SPLIT_FILES)}")
    path = resolve_data_dir(data_dir) / corpus / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (corpus {corpus!r}, split {split!r}); set --data-dir")
    lines = path.read_text(encoding="utf-8").splitlines()
    doc_starts = [number for number, line in enumerate(lines, start=1) if line.split("\t")[0].strip() == DOCSTART]
    groups: list[list[Any]] = []
    for sentence in read_iob_sentences(path):
        if doc_starts:
            document = sum(1 for line in doc_starts if line < sentence.first_line)
            while len(groups) < document:
                groups.append([])
            groups[document - 1].append(sentence)
        elif not groups or len(groups[-1]) >= sentences_per_document:
            groups.append([sentence])
        else:
            groups[-1].append(sentence)
    how = "-DOCSTART- documents" if doc_starts else f"{sentences_per_document} consecutive sentences per document"
    documents = [_document(group, iob_to_spans, tag_label, detokenize) for group in groups if group]
    return documents, how + (", detokenized" if detokenize else ", tokens joined by spaces")


NO_SPACE_BEFORE = {".", ",", ";", ":", "?", "!", ")", "]", "}", "%", "/", "-", "'s"}
NO_SPACE_AFTER = {"(", "[", "{", "/", "-"}


def space_before(tokens: Sequence[str], position: int) -> bool:
    """Whether running text would have a space before ``tokens[position]`` (a light detokenizer: "0 . 5 mg / kg
    i . p ." reads "0.5 mg/kg i.p.", "sirolimus - induced" reads "sirolimus-induced", "( 21 % )" reads "(21%)")."""
    if position == 0:
        return False
    token, previous = tokens[position], tokens[position - 1]
    if token in NO_SPACE_BEFORE or previous in NO_SPACE_AFTER:
        return False
    before = tokens[position - 2] if position >= 2 else ""
    if previous == "." and (before.isdigit() and token.isdigit() or len(before) == 1 and len(token) == 1
                            and before.isalpha() and token.isalpha()):
        return False  # decimals, and abbreviations such as i.p., e.g.
    return True


def _document(sentences: Sequence[Any], iob_to_spans: Any, tag_label: Any, detokenize: bool = True) -> Document:
    text_parts: list[str] = []
    spans: list[tuple[int, int]] = []
    gold: list[CharSpan] = []
    cursor = 0
    for sentence in sentences:
        starts, ends = [], []
        for position, token in enumerate(sentence.tokens):
            # Between sentences always a space; within one, as running text (or always, without detokenize).
            if text_parts and (not starts or not detokenize or space_before(sentence.tokens, position)):
                text_parts.append(" ")
                cursor += 1
            starts.append(cursor)
            text_parts.append(token)
            cursor += len(token)
            ends.append(cursor)
        spans.append((starts[0], ends[-1]))
        gold += [(starts[first], ends[last], tag_label(tag)) for first, last, tag in iob_to_spans(sentence.tags)]
    return Document("".join(text_parts), spans, gold)


def char_spans(entities: Sequence[dict[str, Any]]) -> list[CharSpan]:
    return [(entity["start"], entity["end"], entity["label"]) for entity in entities]
