"""Text handling around the model: sentence splitting of long inputs, and label descriptions in the label prompt.

Sentence splitting uses ``pysbd`` (a maintained rule-based splitter with the abbreviation, decimal and citation
rules biomedical abstracts need: "e.g.", "i.v.", "et al. 1999", "71.5 yrs"). It is imported inside a ``try`` block
in `sentence_spans` on purpose: this file is remote code, and ``transformers`` refuses to load remote code unless
every import outside a ``try`` block is installed. A Hub user therefore needs only torch and transformers to load
the model, and ``pysbd`` only when asking for ``split_sentences=True`` (a clear ``ImportError`` says so). A splitter
of our own would have spared that dependency but not the years of edge cases pysbd's rule set already covers.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .processing_kogner import encode_labels

SPLITTER_REQUIREMENT = "pysbd==0.3.4"


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the sentences of ``text`` (surrounding whitespace left out).

    Each sentence runs from where the splitter starts it to where the next one starts, so every non-space character
    of ``text`` lies in exactly one sentence whatever the splitter does with whitespace.

    Raises:
        ImportError: ``pysbd`` is not installed.
    """
    try:
        import pysbd
    except ImportError as error:
        raise ImportError(
            f"split_sentences=True needs the sentence splitter pysbd: pip install {SPLITTER_REQUIREMENT} "
            "(or pass split_sentences=False)"
        ) from error
    starts: list[int] = []
    cursor = 0
    # A new Segmenter per call: pysbd keeps the text being segmented on the object, so one shared instance is not
    # safe across threads (the Gradio demo answers requests concurrently).
    for segment in pysbd.Segmenter(language="en", clean=False).segment(text):
        piece = segment.strip()
        if not piece:
            continue
        start = text.find(piece, cursor)
        if start < 0:  # pysbd changed this sentence's characters: it stays with the sentence before it
            continue
        starts.append(start)
        cursor = start + len(piece)
    if not starts and text.strip():
        starts = [0]
    spans = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        end = len(text[start:end].rstrip()) + start
        if index == 0:
            start = len(text) - len(text.lstrip())
        spans.append((start, end))
    return spans


def predict_by_sentence(
    predict: Callable[..., list[list[dict[str, Any]]]], texts: Sequence[str], **kwargs: Any
) -> list[list[dict[str, Any]]]:
    """Run ``predict`` (a ``batch_predict_entities``) on the sentences of each text, offsets back in each text.

    All sentences of all texts go through ``predict`` in one call (so they are batched together); an entity found in
    a sentence that starts at character ``s`` of its text gets ``start + s``/``end + s``, so
    ``text[start:end] == entity["text"]`` holds for the original text. Entities never cross a sentence boundary.
    """
    owners: list[tuple[int, int]] = []
    sentences: list[str] = []
    for index, text in enumerate(texts):
        for start, end in sentence_spans(text):
            owners.append((index, start))
            sentences.append(text[start:end])
    found = predict(sentences, **kwargs)  # even with no sentence: the arguments are checked all the same
    results: list[list[dict[str, Any]]] = [[] for _ in texts]
    for (index, offset), entities in zip(owners, found):
        for entity in entities:
            results[index].append({**entity, "start": entity["start"] + offset, "end": entity["end"] + offset})
    return results


# ------------------------------------------------------------------------------------------------ label descriptions
def resolve_label_descriptions(
    labels: Sequence[str] | Mapping[str, str | None] | str, label_descriptions: Mapping[str, str] | None
) -> tuple[Sequence[str] | str, dict[str, str]]:
    """Split ``labels`` given as ``{name: description or None}`` into names and descriptions, merged with
    ``label_descriptions`` (which wins where both describe a label).

    Raises:
        ValueError: ``label_descriptions`` is not a mapping.
    """
    descriptions: dict[str, str] = {}
    if isinstance(labels, Mapping):
        descriptions.update({name: text for name, text in labels.items() if text is not None})
        labels = list(labels)
    if label_descriptions is not None:
        if not isinstance(label_descriptions, Mapping):
            raise ValueError(
                "label_descriptions must be a mapping {label: description}, got "
                f"{type(label_descriptions).__name__}"
            )
        descriptions.update(label_descriptions)
    return labels, descriptions


def label_prompts(labels: Sequence[str], label_descriptions: Mapping[str, str] | None = None) -> list[str]:
    """What the label encoder reads for each label: ``"name: description"`` (GLiNER-style) or the bare name.

    ``labels`` are normalized names (see ``normalize_labels``); the model still returns the name as the label.

    Raises:
        ValueError: a description for a label not in ``labels``, or one that is not a non-empty string.
    """
    if not label_descriptions:
        return list(labels)
    descriptions = {str(name).strip(): text for name, text in label_descriptions.items()}
    unknown = sorted(name for name in descriptions if name not in labels)
    if unknown:
        raise ValueError(f"label_descriptions name labels that were not asked for: {unknown}; labels are {list(labels)}")
    prompts = []
    for name in labels:
        description = descriptions.get(name)
        if description is None:
            prompts.append(name)
            continue
        if not isinstance(description, str) or not description.strip():
            raise ValueError(f"the description of label {name!r} must be a non-empty string, got {description!r}")
        prompts.append(f"{name}: {' '.join(description.split())}")
    return prompts


def encode_label_prompts(
    tokenizer: Any, labels: Sequence[str], prompts: Sequence[str], max_label_tokens: int, max_prompt_tokens: int
) -> dict[str, Any]:
    """Tokenize label prompts: bare names may have ``max_label_tokens`` tokens, described labels as many as the
    label encoder accepts (``max_prompt_tokens``).

    Raises:
        ValueError: a name or a described label longer than its limit.
    """
    if list(prompts) == list(labels):
        return encode_labels(tokenizer, labels, max_label_tokens)
    for name, prompt in zip(labels, prompts):
        length = len(tokenizer(prompt)["input_ids"])
        if prompt == name and length > max_label_tokens:
            raise ValueError(
                f"label {name!r} has {length} tokens, more than max_label_tokens={max_label_tokens}; "
                "use a shorter entity-type name"
            )
        if prompt != name and length > max_prompt_tokens:
            raise ValueError(
                f"label {name!r} with its description has {length} tokens, more than the label encoder accepts "
                f"({max_prompt_tokens}); shorten the description"
            )
    return encode_labels(tokenizer, prompts, max(max_label_tokens, max_prompt_tokens))
