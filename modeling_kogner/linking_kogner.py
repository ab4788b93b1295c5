"""Entity linking: a span is linked to a KG entity of a compatible type, found by name or by its vector.

Two queries (``config.linking_query``). ``"mean_tokens"`` (default): the mean of the distilled encoder's sub-token
states over the span, mapped by the linking head's ``query_projection``; entities ``H`` by its
``entity_projection``; both maps fitted for retrieval after training (`kogner.training.linking_heads`). ``"span"``:
the distillation space itself, where training pulls ``MLP_span(span)`` towards ``MLP_dist(H_e)`` for spans linked to
entity ``e`` (paper eq. 6). The entities form an [`EntityIndex`] (`index_kogner`) saved next to the weights.

``link=True`` (`add_links`): candidates are the entities whose name or synonym equals the span's text after
`names_kogner.normalize_name` (case, plurals, hyphens, Greek letters), restricted to the KG types the predicted label
may denote (`label_kg_types`; a label naming no KG type allows any type, and the output says so); vectors rank them
(cosine of the span's query with the entity's teacher vector, or, for an entity without one, with the query of its
name read alone) and link spans no name matches (nearest teacher vector of a compatible type). A link found by
vector alone whose cosine is below ``config.linking_nil_threshold`` is no link (``kg_id`` None). The queries of
predicted spans come from the prediction's own encoder pass (`queries_kogner`), not from a second one. Imports only
torch, transformers (and safetensors, one of its dependencies).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .configuration_kogner import ALL_NAMES
from .index_kogner import ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS, EntityIndex
from .names_kogner import normalize_name
from .processing_kogner import split_words
from .queries_kogner import SpanQueries, window_query

__all__ = ["ENTITY_INDEX_TABLE", "ENTITY_INDEX_VECTORS", "EntityIndex", "add_links", "check_linkable",
           "label_kg_types", "link_mentions", "link_spans", "rank_entities"]

NO_INDEX_MESSAGE = (
    "link=True needs the model's entity index ({files}), which is saved with a model trained with a teacher "
    "(train.py --teacher DIR with dist_weight > 0); this model has none. Set one with "
    "model.entity_index = EntityIndex(kg_ids, names, teacher_vectors)."
)
MAX_NAME_CANDIDATES = 64
"""At most this many same-name entities of a span are scored (in index order: teacher entities first)."""
# Words of an entity label -> the KG types it may denote, best first (a label is matched word by word, after
# normalize_name; "cell line" is tried before "cell").
LABEL_WORDS_KG_TYPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cell line", ("cell line",)), ("cell type", ("cell type",)),
    ("gene", ("gene",)), ("protein", ("gene",)), ("dna", ("gene",)), ("rna", ("gene",)), ("enzyme", ("gene",)),
    ("receptor", ("gene",)),
    ("disease", ("disease", "phenotype")), ("disorder", ("disease", "phenotype")),
    ("syndrome", ("disease", "phenotype")), ("cancer", ("disease",)), ("tumor", ("disease",)),
    ("phenotype", ("phenotype", "disease")), ("symptom", ("phenotype", "disease")),
    ("sign", ("phenotype", "disease")),
    ("chemical", ("chemical",)), ("drug", ("chemical",)), ("compound", ("chemical",)),
    ("medication", ("chemical",)), ("molecule", ("chemical",)), ("metabolite", ("chemical",)),
    ("organism", ("organism",)), ("species", ("organism",)), ("taxon", ("organism",)),
    ("bacterium", ("organism",)), ("virus", ("organism",)),
    ("anatomy", ("anatomy",)), ("anatomical", ("anatomy",)), ("tissue", ("anatomy",)), ("organ", ("anatomy",)),
    ("body part", ("anatomy",)), ("cell", ("cell type", "cell line")),
)


def label_kg_types(label: str, kg_types: Sequence[str]) -> tuple[str, ...] | None:
    """The KG types (among ``kg_types``) an entity predicted as ``label`` may link to, best first; ``None`` when the
    label names none of them (it may then link to any type)."""
    key = f" {normalize_name(label)} "
    present = {normalize_name(t): t for t in kg_types}
    found: list[str] = []
    if key.strip() in present:
        found.append(present[key.strip()])
    for words, types in LABEL_WORDS_KG_TYPES:
        if f" {words} " in key:
            found += [present[normalize_name(t)] for t in types if normalize_name(t) in present]
            if words in ("cell line", "cell type"):
                key = key.replace(f" {words} ", " ")
    return tuple(dict.fromkeys(found)) or None


def check_linkable(model: Any) -> EntityIndex:
    """The model's index, or a clear error saying why it cannot link."""
    index = getattr(model, "entity_index", None)
    if index is None:
        raise ValueError(NO_INDEX_MESSAGE.format(files=f"{ENTITY_INDEX_VECTORS} + {ENTITY_INDEX_TABLE}"))
    if model.distillation_head is None:
        raise ValueError("link=True needs a distillation head: this model was built with teacher_dim=0")
    head = getattr(model, "linking_head", None) if model.config.linking_query == "mean_tokens" else None
    if model.config.linking_query == "mean_tokens" and head is None:
        raise ValueError("linking_query='mean_tokens' needs a linking head, and this model was built without one "
                         "(linking_query='span'): set model.config.linking_query = 'span'")
    if head is not None and not bool(head.fitted):
        raise ValueError("link=True: the linking head of this model was never fitted. Fit it on training links: "
                         "python -m kogner.training.linking_heads --model MODEL --train_data DATA --out DIR "
                         "(or set model.config.linking_query = 'span' to link with the distillation head)")
    if index.dim != model.config.teacher_dim:
        raise ValueError(f"the entity index has vectors of size {index.dim}, the model's teacher_dim is "
                         f"{model.config.teacher_dim}: they come from different teachers")
    return index


def linking_maps(model: Any) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """The ``(query map, entity map)`` that put spans and entities into the linking space (``config.linking_query``):
    the linking head's two maps, or the distillation head's ``MLP_span`` and ``MLP_dist``."""
    if model.config.linking_query == "mean_tokens":
        return model.linking_head.query_projection, model.linking_head.entity_projection
    return model.distillation_head.span_projection, model.distillation_head.teacher_projection


@torch.no_grad()
def linking_queries(
    model: Any, batch_words: Sequence[Sequence[str]], spans: Sequence[tuple[int, int, int]], batch_size: int = 8
) -> torch.Tensor:
    """The linking queries of ``spans`` = ``(text index, start, end)`` (words, end inclusive, at most ``max_width``
    words), before the query map, each taken from the first window of its text that holds it:
    ``[K, d]`` mean sub-token states (``linking_query="mean_tokens"``) or ``[K, hidden_size]`` span vectors."""
    from .layers_kogner import first_sub_tokens

    max_width = model.config.max_width
    windows = model.word_encoder.windows(batch_words)
    by_text: dict[int, list[int]] = {}
    for position, window in enumerate(windows):
        by_text.setdefault(window.example_index, []).append(position)
    wanted: dict[int, list[tuple[int, int, int]]] = {}  # window position -> [(span number, window start, end)]
    for number, (text, start, end) in enumerate(spans):
        if not 0 <= end - start < max_width:
            raise ValueError(f"span {start}..{end} of text #{text} is not 1..{max_width} words long")
        for position in by_text.get(text, []):
            window = windows[position]
            if window.word_offset <= start and end < window.word_offset + window.num_words:
                wanted.setdefault(position, []).append((number, start - window.word_offset, end - window.word_offset))
                break
        else:
            raise ValueError(f"span {start}..{end} is outside text #{text}")
    mean_tokens = model.config.linking_query == "mean_tokens"
    size = model.encoder.config.hidden_size if mean_tokens else model.config.hidden_size
    result = torch.zeros((len(spans), size))
    was_training = model.training
    model.eval()
    try:
        positions = sorted(wanted)
        for first in range(0, len(positions), batch_size):
            chunk = positions[first : first + batch_size]
            batch = {key: value.to(model.device) for key, value in
                     model.word_encoder.collate([windows[p] for p in chunk]).items()}
            encoded = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            hidden = encoded.last_hidden_state
            if not mean_tokens:
                window_spans, _ = model.span_representation(first_sub_tokens(hidden, batch["word_index"]),
                                                            batch["word_mask"].bool())
            states = hidden if mean_tokens else window_spans
            for row, position in enumerate(chunk):
                for number, start, end in wanted[position]:
                    vector = window_query(states[row], windows[position], start, end, mean_tokens, max_width)
                    result[number] = vector.float().cpu()
    finally:
        model.train(was_training)
    return result


@torch.no_grad()
def span_vectors(
    model: Any, batch_words: Sequence[Sequence[str]], spans: Sequence[tuple[int, int, int]], batch_size: int = 8,
    known: SpanQueries | None = None,
) -> torch.Tensor:
    """Unit-norm linking vectors ``[K, D]`` of ``spans``: the query map of `linking_queries`. ``known``: the queries
    the prediction forward already read (`SpanQueries`); only the spans it lacks are encoded again."""
    query_map, _ = linking_maps(model)
    weight = query_map.weight
    found = [known.get(*span) if known is not None else None for span in spans]
    missing = [number for number, vector in enumerate(found) if vector is None]
    if missing:
        encoded = linking_queries(model, batch_words, [spans[number] for number in missing], batch_size)
        for number, vector in zip(missing, encoded):
            found[number] = vector
    representations = torch.stack(found) if found else torch.zeros((0, weight.shape[1]))
    projected = query_map(representations.to(weight.device, weight.dtype)).float().cpu()
    return torch.nn.functional.normalize(projected, dim=-1)


def rank_entities(
    queries: torch.Tensor, entities: torch.Tensor, texts: Sequence[str], index: EntityIndex, top_k: int,
    name_candidates: int | str,
) -> list[list[tuple[int, float]]]:
    """For each unit-norm query ``[K, D]`` (span text ``texts[k]``), the ``top_k`` entities of ``entities`` ``[M, D]``
    as ``(index row, cosine)``. Entities named like the span (`EntityIndex.rows_named`) come first, nearest first:
    those among the ``name_candidates`` nearest, or anywhere in the index with ``"all"`` (exact names as candidates,
    the vectors choosing among homonyms); ``0`` ranks by the vectors alone."""
    if not len(texts):
        return []
    scores = queries @ entities.T
    depth = min(top_k if name_candidates == ALL_NAMES else max(top_k, name_candidates), len(index))
    top_scores, top_rows = scores.topk(depth, dim=-1)
    found = []
    for span_scores, text, rows, values in zip(scores, texts, top_rows.tolist(), top_scores.tolist()):
        ranked = list(zip(rows, values))
        named = {row for row in index.rows_named(text) if row < len(entities)} if name_candidates != 0 else set()
        if name_candidates != ALL_NAMES:
            named &= set(rows[:name_candidates])
        first = sorted(((row, float(span_scores[row])) for row in named), key=lambda pair: (-pair[1], pair[0]))
        found.append((first + [pair for pair in ranked if pair[0] not in named])[:top_k])
    return found


def link_spans(
    model: Any,
    batch_words: Sequence[Sequence[str]],
    spans: Sequence[tuple[int, int, int]],
    top_k: int = 1,
    batch_size: int = 8,
    name_candidates: int | str | None = None,
) -> list[list[tuple[int, float]]]:
    """For each ``(text index, start, end)`` span, the ``top_k`` nearest entities as ``(index row, cosine)``, same-name
    entities first as `rank_entities` puts them (``name_candidates``: default ``config.linking_name_candidates``)."""
    index = check_linkable(model)
    if not spans:
        return []
    named = model.config.linking_name_candidates if name_candidates is None else name_candidates
    queries = span_vectors(model, batch_words, spans, batch_size)
    entities = index.projected(linking_maps(model)[1]).to(queries.device)
    texts = [" ".join(batch_words[text][start : end + 1]) for text, start, end in spans]
    return rank_entities(queries, entities, texts, index, top_k, named)


@torch.no_grad()
def name_vectors(model: Any, index: EntityIndex, rows: Sequence[int], batch_size: int = 128) -> dict[int, torch.Tensor]:
    """Unit-norm linking vectors of the names of entity ``rows``: the query of each name read alone, through the
    query map (the text encoder's vector of the name); cached on the index while the map is unchanged. Names the
    tokenizer reads alike (the same sub-tokens, e.g. differing only in case for an uncased one) share one
    encoding; names are encoded shortest first (little padding)."""
    query_map = linking_maps(model)[0]
    weight = query_map.weight
    cache = index.name_vectors.setdefault((weight.data_ptr(), weight._version), {})
    missing = [row for row in dict.fromkeys(rows) if row not in cache]
    if missing:
        words_of = {row: tuple([word for word, _, _ in split_words(index.names[row])][: model.config.max_width]
                               or [index.kg_ids[row]]) for row in missing}
        names = list(dict.fromkeys(words_of.values()))
        windows = {window.example_index: window for window in reversed(model.word_encoder.windows(names))}
        read_as = {words: (tuple(windows[number].token_ids), tuple(windows[number].word_positions))
                   for number, words in enumerate(names)}
        distinct = sorted(dict.fromkeys(read_as.values()), key=lambda key: (len(key[0]), key))
        first_words = {key: words for words, key in reversed(read_as.items())}
        encoded = [first_words[key] for key in distinct]
        queries = linking_queries(model, encoded, [(number, 0, len(w) - 1) for number, w in enumerate(encoded)],
                                  batch_size)
        vectors = torch.nn.functional.normalize(query_map(queries.to(weight.device, weight.dtype)).float(), dim=-1)
        by_key = dict(zip(distinct, vectors.cpu()))
        cache.update((row, by_key[read_as[words]]) for row, words in words_of.items())
    return {row: cache[row] for row in rows}


def name_scores(model: Any, index: EntityIndex, queries: torch.Tensor, scores: torch.Tensor,
                matched: Sequence[Sequence[tuple[int, bool]]]) -> list[list[tuple[int, float, str]]]:
    """Per span, its same-name entities ``matched[k]`` = ``[(row, is_synonym)]`` as ``(row, cosine, "name" or
    "synonym")``, best first (ties: index order): ``scores[k, row]`` for an entity with a teacher vector, the
    cosine with its name's vector (`name_vectors`) for the others; gathered in one indexing and one product."""
    with_vectors = scores.shape[1]
    pairs = [(number, row) for number, found in enumerate(matched) for row, _ in found]
    if not pairs:
        return [[] for _ in matched]
    numbers, rows = torch.tensor(pairs).T
    values = torch.empty(len(pairs), dtype=scores.dtype)
    inside = rows < with_vectors
    values[inside] = scores[numbers[inside], rows[inside]].cpu()
    if not bool(inside.all()):
        lexicon = rows[~inside].tolist()
        by_name = name_vectors(model, index, lexicon)
        names = torch.stack([by_name[row] for row in lexicon]).to(queries.device, queries.dtype)
        values[~inside] = (queries[numbers[~inside]] * names).sum(dim=-1).cpu()
    flat = iter(values.tolist())
    return [sorted(((row, next(flat), "synonym" if is_synonym else "name") for row, is_synonym in found),
                   key=lambda item: (-item[1], item[0])) for found in matched]


def link_mentions(
    model: Any,
    batch_words: Sequence[Sequence[str]],
    spans: Sequence[tuple[int, int, int]],
    labels: Sequence[str],
    top_k: int = 1,
    batch_size: int = 8,
    use_names: bool = True,
    nil_threshold: float | None | str = "config",
    queries: torch.Tensor | None = None,
) -> list[dict[str, Any]]:
    """Candidates of each ``(text index, start, end)`` span predicted as ``labels[k]`` (module docstring);
    ``use_names=False`` ranks by the vectors alone; ``nil_threshold`` overrides ``config.linking_nil_threshold``;
    ``queries``: the spans' `span_vectors` when the caller has them (else they are computed here). The vector
    search is one product of the queries with the index and one top-k per set of allowed types.

    Returns per span ``{"candidates": [(row, score, match)], "types": allowed KG types or None}``: up to ``top_k``
    entities, name/synonym matches first (``match`` ``"name"``, ``"synonym"``), then vector neighbours
    (``"vector"``), each group best score first; only types compatible with the label; a lone vector neighbour below
    ``config.linking_nil_threshold`` is dropped, so an empty list means "no link".
    """
    index = check_linkable(model)
    if not spans:
        return []
    if queries is None:
        queries = span_vectors(model, batch_words, spans, batch_size)
    entities = index.projected(linking_maps(model)[1]).to(queries.device)
    scores = queries @ entities.T
    texts = [" ".join(batch_words[text][start : end + 1]) for text, start, end in spans]
    kg_types = index.type_names()
    types_of = {label: label_kg_types(label, kg_types) for label in dict.fromkeys(labels)}
    allowed = [types_of[label] for label in labels]
    matched = [[(row, is_synonym) for row, is_synonym in index.matches(text)
                if types is None or index.types[row] in types][:MAX_NAME_CANDIDATES] if use_names else []
               for text, types in zip(texts, allowed)]
    named = name_scores(model, index, queries, scores, matched)
    nearest: list[list[tuple[int, float]]] = [[] for _ in spans]
    for types in dict.fromkeys(allowed):  # one masked top-k per set of allowed types
        numbers = [number for number, wanted in enumerate(allowed) if wanted == types]
        group = scores[numbers]
        if types is not None:
            group = group.masked_fill(~index.type_mask(types).to(group.device), float("-inf"))
        depth = min(top_k + max(len(named[number]) for number in numbers), len(entities))
        values, rows = group.topk(depth, dim=-1)
        for number, span_rows, span_values in zip(numbers, rows.tolist(), values.tolist()):
            nearest[number] = list(zip(span_rows, span_values))
    threshold = getattr(model.config, "linking_nil_threshold", None) if nil_threshold == "config" else nil_threshold
    results = []
    for found, neighbours, types in zip(named, nearest, allowed):
        seen = {row for row, _, _ in found}
        candidates = (found + [(row, value, "vector") for row, value in neighbours
                               if row not in seen and value != float("-inf")])[:top_k]
        if not found and candidates and threshold is not None and candidates[0][1] < threshold:
            candidates = []
        results.append({"candidates": candidates, "types": types})
    return results


def add_links(
    model: Any,
    batch_words: Sequence[Sequence[str]],
    spans_per_text: Sequence[Sequence[Any]],
    entities_per_text: Sequence[list[dict[str, Any]]],
    batch_size: int = 8,
    span_queries: SpanQueries | None = None,
) -> None:
    """Add the link of each entity (entity ``j`` of a text is its span ``j``, ``.start``/``.end`` word indices):
    ``kg_id``, ``kg_name``, ``kg_type``, ``kg_xrefs`` (the entity's other identifiers), ``link_score`` (cosine),
    ``link_match`` (``"name"``, ``"synonym"`` or ``"vector"``) and ``link_types`` (the KG types the label allows, or
    ``None``: the label names no KG type, so any type may link); ``kg_id`` None (and no name, type, score) is "no
    link". ``span_queries``: the spans' linking queries read during prediction (`SpanQueries`), so that only the
    spans it lacks go through the encoder again."""
    index = check_linkable(model)
    spans = [(text, span.start, span.end) for text, found in enumerate(spans_per_text) for span in found]
    labels = [entity["label"] for entities in entities_per_text for entity in entities]
    queries = span_vectors(model, batch_words, spans, batch_size, span_queries) if spans else None
    links = iter(link_mentions(model, batch_words, spans, labels, 1, batch_size, queries=queries))
    for entities in entities_per_text:
        for entity in entities:
            link = next(links)
            if link["candidates"]:
                row, score, match = link["candidates"][0]
                entity.update(kg_id=index.kg_ids[row], kg_name=index.names[row], kg_type=index.types[row],
                              kg_xrefs=list(index.xrefs[row]), link_score=round(score, 4), link_match=match)
            else:
                entity.update(kg_id=None, kg_name=None, kg_type=None, kg_xrefs=[], link_score=None, link_match=None)
            entity["link_types"] = list(link["types"]) if link["types"] is not None else None
