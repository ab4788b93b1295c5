"""Entity linking: a span is linked to the KG entity whose teacher vector is nearest to it in a shared space.

Two queries (``config.linking_query``). ``"mean_tokens"`` (default): the mean of the distilled encoder's sub-token
states over the span, mapped by the linking head's ``query_projection``; entities ``H`` by its
``entity_projection``; both maps fitted for retrieval after training (`kogner.training.linking_heads`). ``"span"``:
the distillation space itself, where training pulls ``MLP_span(span)`` towards ``MLP_dist(H_e)`` for spans linked to
entity ``e`` (paper eq. 6); the span vector is trained to type spans, so it keeps less of their identity. Either
way a span is linked to the entity whose vector is nearest by cosine similarity. The entities (KG ids, names, types
and teacher vectors ``H``) form an [`EntityIndex`], saved next to the weights as ``entity_index.safetensors``
(``H``, float16) and ``entity_index.json`` (ids, names, types) when the model was trained with a teacher. Imports
only torch, transformers (and safetensors, one of its dependencies).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch

from .configuration_kogner import ALL_NAMES
from .processing_kogner import normalize_mention

ENTITY_INDEX_VECTORS = "entity_index.safetensors"
ENTITY_INDEX_TABLE = "entity_index.json"
NO_INDEX_MESSAGE = (
    "link=True needs the model's entity index ({files}), which is saved with a model trained with a teacher "
    "(train.py --teacher DIR with dist_weight > 0); this model has none. Set one with "
    "model.entity_index = EntityIndex(kg_ids, names, teacher_vectors)."
)


class EntityIndex:
    """The KG entities a model links spans to: ids, names, types and their teacher vectors ``H`` ``[M, r]``."""

    def __init__(
        self, kg_ids: Sequence[str], names: Sequence[str], vectors: torch.Tensor, types: Sequence[str] | None = None
    ) -> None:
        if vectors.dim() != 2 or vectors.shape[0] != len(kg_ids):
            raise ValueError(f"entity index: {len(kg_ids)} ids but vectors of shape {list(vectors.shape)}")
        if len(names) != len(kg_ids) or (types is not None and len(types) != len(kg_ids)):
            raise ValueError(f"entity index: {len(kg_ids)} ids, {len(names)} names, "
                             f"{len(types) if types is not None else 'no'} types")
        if len(kg_ids) == 0:
            raise ValueError("entity index: no entities")
        self.kg_ids = list(kg_ids)
        self.names = list(names)
        self.types = list(types) if types is not None else [""] * len(self.kg_ids)
        self.vectors = vectors.detach().float().cpu()
        self._projected: tuple[tuple, torch.Tensor] | None = None
        self._row_of: dict[str, int] | None = None
        self._rows_by_name: dict[str, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.kg_ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def row_of(self) -> dict[str, int]:
        """KG id -> row of the index (the first row of an id listed twice)."""
        if self._row_of is None:
            self._row_of = {}
            for row, kg_id in enumerate(self.kg_ids):
                self._row_of.setdefault(kg_id, row)
        return self._row_of

    def rows_named(self, text: str) -> list[int]:
        """Rows of the entities whose name equals ``text`` after `normalize_mention` (case-folded, words as the model
        splits them), in index order."""
        if self._rows_by_name is None:
            self._rows_by_name = {}
            for row, name in enumerate(self.names):
                self._rows_by_name.setdefault(normalize_mention(name), []).append(row)
        return self._rows_by_name.get(normalize_mention(text), [])

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``entity_index.safetensors`` (``H`` as float16: half the size, same cosine ranking) and the table."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": self.vectors.half().contiguous()}, str(directory / ENTITY_INDEX_VECTORS),
                  metadata={"entities": str(len(self))})
        table = {"kg_ids": self.kg_ids, "names": self.names, "types": self.types}
        (directory / ENTITY_INDEX_TABLE).write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "EntityIndex":
        """Read an index written by [`save`]; a missing or inconsistent file raises an error naming it."""
        return cls.from_files(Path(directory) / ENTITY_INDEX_TABLE, Path(directory) / ENTITY_INDEX_VECTORS)

    @classmethod
    def from_files(cls, table_path: str | os.PathLike, vectors_path: str | os.PathLike) -> "EntityIndex":
        from safetensors.torch import load_file

        for path in (table_path, vectors_path):
            if not Path(path).is_file():
                raise FileNotFoundError(f"entity index file {path} is missing")
        table = json.loads(Path(table_path).read_text(encoding="utf-8"))
        vectors = load_file(str(vectors_path)).get("vectors")
        if vectors is None:
            raise ValueError(f"{vectors_path} has no tensor 'vectors'")
        try:
            return cls(table["kg_ids"], table["names"], vectors, table.get("types"))
        except (KeyError, ValueError) as error:
            raise ValueError(f"{table_path} and {vectors_path} do not form an entity index: {error}") from error

    @classmethod
    def find(cls, name_or_path: Any, **hub_kwargs: Any) -> "EntityIndex | None":
        """The index saved with a model (a local folder or a Hub repo), or ``None`` when it has none."""
        if name_or_path is None:
            return None
        if Path(str(name_or_path)).is_dir():
            directory = Path(str(name_or_path)) / hub_kwargs.get("subfolder", "")
            has_index = (directory / ENTITY_INDEX_TABLE).is_file() or (directory / ENTITY_INDEX_VECTORS).is_file()
            return cls.load(directory) if has_index else None
        from transformers.utils import cached_file

        keys = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")
        options = {key: hub_kwargs[key] for key in keys if key in hub_kwargs}
        paths = [cached_file(str(name_or_path), name, _raise_exceptions_for_missing_entries=False,
                             _raise_exceptions_for_connection_errors=False, **options)
                 for name in (ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS)]
        return cls.from_files(*paths) if all(paths) else None

    def projected(self, entity_map: torch.nn.Linear) -> torch.Tensor:
        """Unit-norm ``entity_map(H)`` ``[M, D]`` (cached while the map's weights are unchanged)."""
        weight = entity_map.weight
        key = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
        if self._projected is None or self._projected[0] != key:
            with torch.no_grad():
                vectors = entity_map(self.vectors.to(weight.device, weight.dtype))
            self._projected = (key, torch.nn.functional.normalize(vectors.float(), dim=-1))
        return self._projected[1]


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
    from .processing_kogner import span_flat_index

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
            for row, position in enumerate(chunk):
                for number, start, end in wanted[position]:
                    if mean_tokens:
                        token_first, token_stop = windows[position].sub_token_range(start, end)
                        vector = hidden[row, token_first : max(token_stop, token_first + 1)].mean(dim=0)
                    else:
                        vector = window_spans[row, span_flat_index(start, end, max_width)]
                    result[number] = vector.float().cpu()
    finally:
        model.train(was_training)
    return result


@torch.no_grad()
def span_vectors(
    model: Any, batch_words: Sequence[Sequence[str]], spans: Sequence[tuple[int, int, int]], batch_size: int = 8
) -> torch.Tensor:
    """Unit-norm linking vectors ``[K, D]`` of ``spans``: the query map of `linking_queries`."""
    query_map, _ = linking_maps(model)
    weight = query_map.weight
    representations = linking_queries(model, batch_words, spans, batch_size)
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
        named = set(index.rows_named(text)) if name_candidates != 0 else set()
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


def add_links(
    model: Any,
    batch_words: Sequence[Sequence[str]],
    spans_per_text: Sequence[Sequence[Any]],
    entities_per_text: Sequence[list[dict[str, Any]]],
    batch_size: int = 8,
) -> None:
    """Add ``kg_id``, ``kg_name`` and ``link_score`` (cosine) to each entity; entity ``j`` of a text is its span
    ``j`` (``.start``/``.end`` word indices)."""
    index = check_linkable(model)
    spans = [(text, span.start, span.end) for text, found in enumerate(spans_per_text) for span in found]
    links = iter(link_spans(model, batch_words, spans, 1, batch_size))
    for entities in entities_per_text:
        for entity in entities:
            row, score = next(links)[0]
            entity.update(kg_id=index.kg_ids[row], kg_name=index.names[row], link_score=round(score, 4))
