"""Pre-processing for KoGNER: words with character offsets, windows over long texts, batches, span targets.

Spans use one fixed layout everywhere: for a window of ``N`` words and maximum width ``W``, span ``(start, end)``
(word indices, ``end`` inclusive) sits at flat index ``start * W + (end - start)``; spans running past the last word
are masked out. Windows split long texts into overlapping pieces that fit the encoder, so nothing is truncated.

Everything here is linear in the text: one tokenizer call per batch of texts, windows planned in one pass. Two inputs
the tokenizer cannot take are made safe without moving any offset: a lone surrogate (``"\\ud800"``) is read as U+FFFD,
and a single word with more sub-tokens than a window holds keeps only a window's worth (its first sub-token, which
represents it, is unchanged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

WORD_PATTERN = re.compile(r"\w+|[^\w\s]")
SURROGATE_PATTERN = re.compile("[\ud800-\udfff]")
REPLACEMENT_CHARACTER = "\ufffd"


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split ``text`` into words (runs of word characters) and single punctuation marks.

    Returns ``(word, start_char, end_char)`` triples with ``text[start_char:end_char] == word``. Hyphens and other
    punctuation become words of their own, as in the biomedical benchmark corpora ("Cisplatin - induced").
    """
    return [(match.group(), match.start(), match.end()) for match in WORD_PATTERN.finditer(text)]


def normalize_mention(text: str) -> str:
    """Case-folded words joined by single spaces: ``"IL-2 "`` and ``"il - 2"`` both give ``"il - 2"``."""
    return " ".join(word.casefold() for word, _, _ in split_words(text))


def span_flat_index(start: int, end: int, max_width: int) -> int:
    """Flat index of span ``(start, end)`` (inclusive word indices) in the ``N * max_width`` span layout."""
    return start * max_width + (end - start)


def normalize_labels(labels: Sequence[str] | str) -> list[str]:
    """Validate entity-type names and merge duplicates (first occurrence kept, order kept).

    Raises:
        ValueError: no labels, or a label that is not a non-empty string.
    """
    if isinstance(labels, str):
        labels = [labels]
    if labels is None or len(labels) == 0:
        raise ValueError("labels must name at least one entity type, e.g. ['disease', 'chemical']")
    unique: list[str] = []
    for position, label in enumerate(labels):
        if not isinstance(label, str):
            raise ValueError(f"label #{position} must be a string, got {type(label).__name__}: {label!r}")
        label = label.strip()
        if not label:
            raise ValueError(f"label #{position} is empty; every entity type needs a name")
        surrogate = SURROGATE_PATTERN.search(label)
        if surrogate:
            raise ValueError(
                f"label #{position} {label!r} contains a lone surrogate (U+{ord(surrogate.group()):04X}) at character "
                f"{surrogate.start()}, which is not valid Unicode text; decode your input with errors='replace'"
            )
        if label not in unique:
            unique.append(label)
    return unique


def encodable_words(words: Sequence[str]) -> Sequence[str]:
    """Words as the tokenizer can take them: lone surrogates (``"\\ud800"``, which no UTF-8 tokenizer accepts)
    become U+FFFD, one character for one, so word counts and character offsets stay those of the original text.

    Valid Unicode (the usual case, checked once for the whole list) is returned as is.
    """
    try:
        "".join(words).encode("utf-8")
    except UnicodeEncodeError:
        return [SURROGATE_PATTERN.sub(REPLACEMENT_CHARACTER, word) for word in words]
    return words


def check_threshold(threshold: float, name: str = "threshold") -> float:
    """Return ``threshold`` as a float, or raise ``ValueError`` (naming it ``name``) if it is not a number in [0, 1].

    The one check of a decision threshold: the config, ``predict_entities`` and the command lines use it."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {threshold!r}")
    return float(threshold)


@dataclass
class Window:
    """A piece of one text that the encoder sees at once.

    Attributes:
        example_index: which text of the batch it comes from.
        word_offset: index, in the whole text, of the window's first word.
        num_words: words in the window.
        token_ids: encoder input ids, special tokens included.
        word_positions: position in ``token_ids`` of each word's first sub-token.
        content_end: position in ``token_ids`` after the last sub-token of the text (where the suffix starts).
    """

    example_index: int
    word_offset: int
    num_words: int
    token_ids: list[int]
    word_positions: list[int]
    content_end: int

    def sub_token_range(self, start: int, end: int) -> tuple[int, int]:
        """``[first, stop)`` positions in ``token_ids`` of the sub-tokens of window words ``start..end`` (inclusive)."""
        first = self.word_positions[start]
        stop = next((p for p in self.word_positions[end + 1 :] if p > self.word_positions[end]), self.content_end)
        return first, stop


def encoder_token_limit(tokenizer: Any, encoder_config: Any) -> int:
    """Largest input length (special tokens included) that both the tokenizer and the encoder accept."""
    limits = [getattr(encoder_config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
    if not limits:
        return 512
    limit = min(limits)
    if getattr(encoder_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "longformer"):
        limit = min(limit, getattr(encoder_config, "max_position_embeddings", limit) - 2)  # padding_idx offset
    return limit


def plan_windows(token_counts: Sequence[int], max_words: int, stride: int, max_tokens: int) -> list[tuple[int, int]]:
    """Cut a text into ``[start, end)`` word windows of at most ``max_words`` words and ``max_tokens`` sub-tokens.

    Consecutive windows overlap by ``max_words - stride`` words (fewer only when the token budget shortens a window),
    so every span no longer than the overlap lies whole inside some window.

    Raises:
        ValueError: a single word has more sub-tokens than ``max_tokens``.
    """
    total = len(token_counts)
    if total == 0:
        return []
    if total <= max_words and sum(token_counts) <= max_tokens:
        return [(0, total)]
    overlap = max_words - stride
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end, tokens = start, 0
        while end < total and end - start < max_words and tokens + token_counts[end] <= max_tokens:
            tokens += token_counts[end]
            end += 1
        if end == start:
            raise ValueError(
                f"word #{start} has {token_counts[start]} sub-tokens, more than the encoder accepts ({max_tokens})"
            )
        windows.append((start, end))
        if end == total:
            return windows
        start = max(end - overlap, start + 1)


def special_token_frame(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after one sequence (``[CLS]``/``[SEP]``, ``<s>``/``</s>``)."""
    bare = tokenizer(["probe"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    framed = tokenizer(["probe"], is_split_into_words=True, add_special_tokens=True)["input_ids"]
    for start in range(len(framed) - len(bare) + 1):
        if framed[start : start + len(bare)] == bare:
            return list(framed[:start]), list(framed[start + len(bare) :])
    raise ValueError(f"cannot locate the text between the special tokens of {type(tokenizer).__name__}")


class WordBatchEncoder:
    """Turns lists of words into encoder windows and padded batches, with a fixed tokenizer and limits."""

    def __init__(self, tokenizer: Any, max_tokens: int, max_words: int, stride: int) -> None:
        self.tokenizer = tokenizer
        self.max_words = max_words
        self.stride = stride
        self.prefix_ids, self.suffix_ids = special_token_frame(tokenizer)
        self.prefix_length = len(self.prefix_ids)
        self.max_content_tokens = max_tokens - len(self.prefix_ids) - len(self.suffix_ids)
        if self.max_content_tokens < 1:
            raise ValueError(f"encoder token limit {max_tokens} leaves no room for text")
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def windows(self, batch_words: Sequence[Sequence[str]]) -> list[Window]:
        """Tokenize each text's words once and cut it into windows (texts without words give none)."""
        windows: list[Window] = []
        non_empty = [index for index, words in enumerate(batch_words) if len(words) > 0]
        if not non_empty:
            return windows
        encoding = self.tokenizer(
            [list(encodable_words(batch_words[index])) for index in non_empty],
            is_split_into_words=True,
            add_special_tokens=False,
        )
        for row, example_index in enumerate(non_empty):
            ids, word_ids = encoding["input_ids"][row], encoding.word_ids(row)
            first_token, token_counts = self._word_tokens(word_ids, len(batch_words[example_index]))
            if max(token_counts) > self.max_content_tokens:
                ids, first_token, token_counts = self._cap_word_tokens(ids, word_ids, len(token_counts))
            for start, end in plan_windows(token_counts, self.max_words, self.stride, self.max_content_tokens):
                windows.append(self._window(example_index, ids, first_token, token_counts, start, end))
        return windows

    @staticmethod
    def _word_tokens(word_ids: Sequence[int | None], num_words: int) -> tuple[list[int], list[int]]:
        """Position of each word's first sub-token (-1: none) and its number of sub-tokens."""
        first_token = [-1] * num_words
        token_counts = [0] * num_words
        for position, word_id in enumerate(word_ids):
            if word_id is None:
                continue
            token_counts[word_id] += 1
            if first_token[word_id] < 0:
                first_token[word_id] = position
        return first_token, token_counts

    def _cap_word_tokens(
        self, ids: list[int], word_ids: Sequence[int | None], num_words: int
    ) -> tuple[list[int], list[int], list[int]]:
        """Keep at most a window's worth of sub-tokens of each word (only its first one represents it), so that a
        pathological word (a 1 MB run of letters, a long sequence) fills one window instead of failing the text."""
        kept_ids: list[int] = []
        kept_word_ids: list[int | None] = []
        seen = [0] * num_words
        for token, word_id in zip(ids, word_ids):
            if word_id is not None:
                if seen[word_id] >= self.max_content_tokens:
                    continue
                seen[word_id] += 1
            kept_ids.append(token)
            kept_word_ids.append(word_id)
        return (kept_ids, *self._word_tokens(kept_word_ids, num_words))

    def _window(
        self, example_index: int, ids: list[int], first_token: list[int], counts: list[int], start: int, end: int
    ) -> Window:
        token_start = next((first_token[i] for i in range(start, end) if first_token[i] >= 0), None)
        if token_start is None:  # only words the tokenizer drops entirely (e.g. zero-width characters)
            token_start, token_end = 0, 0
        else:
            token_end = token_start + sum(counts[start:end])
        content = ids[token_start:token_end]
        token_ids = self.prefix_ids + content + self.suffix_ids
        positions: list[int] = []
        previous = self.prefix_length - 1 if self.prefix_length > 0 else 0
        for word in range(start, end):
            if first_token[word] >= 0:
                previous = first_token[word] - token_start + self.prefix_length
            # A word without sub-tokens borrows the position of the token before it.
            positions.append(previous)
        return Window(example_index, start, end - start, token_ids, positions, len(token_ids) - len(self.suffix_ids))

    def collate(self, windows: Sequence[Window]) -> dict[str, torch.Tensor]:
        """Pad windows into ``input_ids``/``attention_mask`` ``[B, T]`` and ``word_index``/``word_mask`` ``[B, N]``."""
        max_tokens = max(len(window.token_ids) for window in windows)
        max_words = max(max(window.num_words for window in windows), 1)
        batch_size = len(windows)
        input_ids = torch.full((batch_size, max_tokens), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((batch_size, max_tokens), dtype=torch.long)
        word_index = torch.zeros((batch_size, max_words), dtype=torch.long)
        word_mask = torch.zeros((batch_size, max_words), dtype=torch.bool)
        for row, window in enumerate(windows):
            input_ids[row, : len(window.token_ids)] = torch.tensor(window.token_ids, dtype=torch.long)
            attention_mask[row, : len(window.token_ids)] = 1
            word_index[row, : window.num_words] = torch.tensor(window.word_positions, dtype=torch.long)
            word_mask[row, : window.num_words] = True
        return {"input_ids": input_ids, "attention_mask": attention_mask, "word_index": word_index, "word_mask": word_mask}


def encode_labels(tokenizer: Any, labels: Sequence[str], max_label_tokens: int) -> dict[str, torch.Tensor]:
    """Tokenize entity-type names into ``label_input_ids``/``label_attention_mask`` ``[C, L]``.

    Raises:
        ValueError: a label longer than ``max_label_tokens`` sub-tokens (it would otherwise be cut silently).
    """
    encoding = tokenizer(list(labels), padding=True, return_tensors="pt")
    lengths = encoding["attention_mask"].sum(dim=1)
    for label, length in zip(labels, lengths.tolist()):
        if length > max_label_tokens:
            raise ValueError(
                f"label {label!r} has {length} tokens, more than max_label_tokens={max_label_tokens}; "
                "use a shorter entity-type name"
            )
    return {"label_input_ids": encoding["input_ids"], "label_attention_mask": encoding["attention_mask"]}


def span_targets(
    entities: Iterable[tuple[int, int, int]], num_words: int, num_labels: int, max_width: int
) -> tuple[torch.Tensor, int]:
    """Multi-hot targets ``[num_words * max_width, num_labels]`` for ``(start, end, label_id)`` entities.

    Returns the targets and how many entities could not be represented (wider than ``max_width``).
    """
    targets = torch.zeros((num_words * max_width, num_labels), dtype=torch.float)
    too_wide = 0
    for start, end, label_id in entities:
        if end - start >= max_width:
            too_wide += 1
            continue
        targets[span_flat_index(start, end, max_width), label_id] = 1.0
    return targets, too_wide
