"""The entity index a model links spans to: KG ids, names, types, synonyms, identifiers and teacher vectors.

The first ``len(vectors)`` entities carry a teacher vector ``H`` (the teacher's sample of the graph); the others
(the rest of the graph's lexicon) carry only names, synonyms and identifiers: they are found by name and scored by
the text encoder's vector of their name (`linking_kogner`). Saved next to the weights as
``entity_index.safetensors`` (``H``, float16, and each text column as one UTF-8 byte tensor: rows joined by
newlines, a row's synonyms and identifiers by ``\\x1f``; the normalised names and synonyms,
`names_kogner.normalize_name`, sorted for binary search) and ``entity_index.json`` (entity count, type names,
format), so that an index of a million entities loads in seconds. Indexes of the first format (lists of ids,
names and types in the JSON, vectors alone in the safetensors) still load. Imports only torch, safetensors and
this package.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .names_kogner import normalize_name

ENTITY_INDEX_VECTORS = "entity_index.safetensors"
ENTITY_INDEX_TABLE = "entity_index.json"
TABLE_FORMAT = 2
NAME_KEYS_VERSION = 1  # bump when normalize_name changes: stored keys of another version are recomputed
_ROWS, _ITEMS = "\n", "\x1f"


def _clean(text: str) -> str:
    return text.replace(_ROWS, " ").replace(_ITEMS, " ").replace("\r", " ")


class JoinedRows(Sequence):
    """A read-only column of string tuples kept as one joined string per row (split when read)."""

    def __init__(self, rows: Sequence[str]) -> None:
        self.rows = rows

    @classmethod
    def of(cls, values: Sequence[Sequence[str]] | None, length: int) -> "JoinedRows":
        if values is None:
            return cls([""] * length)
        if isinstance(values, JoinedRows):
            return values
        return cls([_ITEMS.join(_clean(v) for v in row if v) for row in values])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, row: int) -> tuple[str, ...]:  # type: ignore[override]
        value = self.rows[row]
        return tuple(value.split(_ITEMS)) if value else ()


def _bytes_tensor(text: str) -> torch.Tensor:
    data = text.encode("utf-8")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8)


def _text(tensor: torch.Tensor) -> str:
    return tensor.numpy().tobytes().decode("utf-8")


class NameLookup:
    """Sorted normalised names and synonyms (``keys``) with the row of each and whether it is a synonym: found by
    binary search, so a loaded index needs no dictionary of a million names."""

    def __init__(self, keys: list[str], rows: list[int], synonym: list[bool]) -> None:
        if not len(keys) == len(rows) == len(synonym):
            raise ValueError(f"name lookup: {len(keys)} keys, {len(rows)} rows, {len(synonym)} flags")
        self.keys, self.rows, self.synonym = keys, rows, synonym

    @classmethod
    def build(cls, name_keys: Sequence[str]) -> "NameLookup":
        entries = []
        for row, keys in enumerate(name_keys):
            seen = set()
            for position, key in enumerate(keys.split(_ITEMS)):
                if key and key not in seen:
                    seen.add(key)
                    entries.append((key, row, position > 0))
        entries.sort()
        return cls([e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries])

    def find(self, key: str) -> list[tuple[int, bool]]:
        """``(row, is_synonym)`` of ``key``, rows ascending."""
        if not key:
            return []
        first = bisect.bisect_left(self.keys, key)
        stop = bisect.bisect_right(self.keys, key, first)
        return list(zip(self.rows[first:stop], self.synonym[first:stop]))


class EntityIndex:
    """The KG entities a model links spans to.

    Args:
        kg_ids, names: one per entity (``M``).
        vectors: teacher vectors ``H`` ``[N, r]`` of the first ``N <= M`` entities.
        types: KG type of each entity (``""`` when unknown).
        synonyms, xrefs: per entity, other names and other identifiers (``"OMIM:219700"``) it is known by.
    """

    def __init__(
        self, kg_ids: Sequence[str], names: Sequence[str], vectors: torch.Tensor, types: Sequence[str] | None = None,
        synonyms: Sequence[Sequence[str]] | None = None, xrefs: Sequence[Sequence[str]] | None = None,
        name_keys: Sequence[str] | None = None,
    ) -> None:
        if vectors.dim() != 2 or vectors.shape[0] > len(kg_ids):
            raise ValueError(f"entity index: {len(kg_ids)} ids but vectors of shape {list(vectors.shape)}")
        lengths = {"names": len(names), "types": len(types) if types is not None else len(kg_ids),
                   "synonyms": len(synonyms) if synonyms is not None else len(kg_ids),
                   "xrefs": len(xrefs) if xrefs is not None else len(kg_ids)}
        wrong = {column: n for column, n in lengths.items() if n != len(kg_ids)}
        if wrong:
            raise ValueError(f"entity index: {len(kg_ids)} ids but " + ", ".join(f"{n} {c}" for c, n in wrong.items()))
        if len(kg_ids) == 0:
            raise ValueError("entity index: no entities")
        self.kg_ids = list(kg_ids)
        self.names = list(names)
        self.types = list(types) if types is not None else [""] * len(self.kg_ids)
        self.synonyms = JoinedRows.of(synonyms, len(self.kg_ids))
        self.xrefs = JoinedRows.of(xrefs, len(self.kg_ids))
        self.vectors = vectors.detach().float().cpu()
        self._name_keys = list(name_keys) if name_keys is not None else None
        self._projected: tuple[tuple, torch.Tensor] | None = None
        self._row_of: dict[str, int] | None = None
        self._lookup: NameLookup | None = None
        self._type_rows: dict[str, torch.Tensor] = {}
        self._type_names: list[str] | None = None
        self.name_vectors: dict[tuple, dict[int, torch.Tensor]] = {}  # linking map key -> row -> name vector

    def __len__(self) -> int:
        return len(self.kg_ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def num_vectors(self) -> int:
        """How many entities (the first rows) carry a teacher vector."""
        return int(self.vectors.shape[0])

    @property
    def row_of(self) -> dict[str, int]:
        """KG id -> row of the index (the first row of an id listed twice)."""
        if self._row_of is None:
            self._row_of = {}
            for row, kg_id in enumerate(self.kg_ids):
                self._row_of.setdefault(kg_id, row)
        return self._row_of

    def type_names(self) -> list[str]:
        """Distinct non-empty entity types, sorted (computed once: like `type_mask`, it assumes ``types`` fixed)."""
        if self._type_names is None:
            self._type_names = sorted({t for t in self.types if t})
        return list(self._type_names)

    def type_mask(self, allowed: Sequence[str]) -> torch.Tensor:
        """Bool ``[N]``: which entities with a teacher vector have one of the ``allowed`` types."""
        key = "\x1f".join(sorted(allowed))
        if key not in self._type_rows:
            wanted = set(allowed)
            self._type_rows[key] = torch.tensor([t in wanted for t in self.types[: self.num_vectors]], dtype=torch.bool)
        return self._type_rows[key]

    def name_keys(self) -> list[str]:
        """Per entity, its normalised name and synonyms joined by ``\\x1f`` (the name's key first)."""
        if self._name_keys is None:
            self._name_keys = [_ITEMS.join([normalize_name(name), *(normalize_name(s) for s in self.synonyms[row])])
                               for row, name in enumerate(self.names)]
        return self._name_keys

    def name_lookup(self) -> "NameLookup":
        """Every normalised name and synonym, sorted, with its row (built from `name_keys` unless loaded)."""
        if self._lookup is None:
            self._lookup = NameLookup.build(self.name_keys())
        return self._lookup

    def matches(self, text: str) -> list[tuple[int, bool]]:
        """``(row, is_synonym)`` of the entities whose name or a synonym normalises like ``text``, in index order."""
        return self.name_lookup().find(normalize_name(text))

    def rows_named(self, text: str) -> list[int]:
        """Rows of the entities whose name (not a synonym) normalises like ``text``, in index order."""
        return [row for row, is_synonym in self.matches(text) if not is_synonym]

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``entity_index.safetensors`` (``H`` as float16: half the size, same cosine ranking; the text
        columns and the sorted name lookup as UTF-8 byte tensors) and ``entity_index.json`` (what they are)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        type_names = sorted(set(self.types))
        code = {name: chr(48 + number) for number, name in enumerate(type_names)}
        lookup = self.name_lookup()
        texts = {"kg_ids": _ROWS.join(map(_clean, self.kg_ids)), "names": _ROWS.join(map(_clean, self.names)),
                 "type_codes": "".join(code[t] for t in self.types), "synonyms": _ROWS.join(self.synonyms.rows),
                 "xrefs": _ROWS.join(self.xrefs.rows), "lookup_keys": _ROWS.join(lookup.keys)}
        tensors = {"vectors": self.vectors.half().contiguous(),
                   "lookup_rows": torch.tensor(lookup.rows, dtype=torch.int32),
                   "lookup_synonym": torch.tensor(lookup.synonym, dtype=torch.bool)}
        tensors.update({f"text_{name}": _bytes_tensor(text) for name, text in texts.items()})
        table = {"format": TABLE_FORMAT, "entities": len(self), "with_vectors": self.num_vectors,
                 "type_names": type_names, "name_keys_version": NAME_KEYS_VERSION, "columns": sorted(texts)}
        save_file(tensors, str(directory / ENTITY_INDEX_VECTORS),
                  metadata={"entities": str(len(self)), "with_vectors": str(self.num_vectors)})
        temporary = directory / (ENTITY_INDEX_TABLE + ".partial")
        temporary.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
        temporary.replace(directory / ENTITY_INDEX_TABLE)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "EntityIndex":
        """Read an index written by [`save`]; a missing or inconsistent file raises an error naming it."""
        return cls.from_files(Path(directory) / ENTITY_INDEX_TABLE, Path(directory) / ENTITY_INDEX_VECTORS)

    @classmethod
    def from_table(cls, table: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "EntityIndex":
        """An index from the JSON table and the safetensors tensors (either format)."""
        vectors = tensors["vectors"]
        if table.get("format", 1) < 2:  # lists of ids, names and types in the JSON table
            return cls(table["kg_ids"], table["names"], vectors, table.get("types"))
        count = int(table["entities"])

        def rows(column: str) -> list[str]:
            values = _text(tensors[f"text_{column}"]).split(_ROWS)
            if len(values) != count:
                raise ValueError(f"column {column!r} has {len(values)} rows, expected {count}")
            return values

        type_names = table["type_names"]
        codes = _text(tensors["text_type_codes"])
        if len(codes) != count:
            raise ValueError(f"{len(codes)} type codes, expected {count}")
        index = cls(rows("kg_ids"), rows("names"), vectors, [type_names[ord(c) - 48] for c in codes],
                    JoinedRows(rows("synonyms")), JoinedRows(rows("xrefs")))
        if table.get("name_keys_version") == NAME_KEYS_VERSION:
            keys = _text(tensors["text_lookup_keys"]).split(_ROWS)
            index._lookup = NameLookup(keys, tensors["lookup_rows"].tolist(), tensors["lookup_synonym"].tolist())
        return index

    @classmethod
    def from_files(cls, table_path: str | os.PathLike, vectors_path: str | os.PathLike) -> "EntityIndex":
        from safetensors.torch import load_file

        for path in (table_path, vectors_path):
            if not Path(path).is_file():
                raise FileNotFoundError(f"entity index file {path} is missing")
        table = json.loads(Path(table_path).read_text(encoding="utf-8"))
        tensors = load_file(str(vectors_path))
        if "vectors" not in tensors:
            raise ValueError(f"{vectors_path} has no tensor 'vectors'")
        try:
            return cls.from_table(table, tensors)
        except (KeyError, ValueError, IndexError) as error:
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
        """Unit-norm ``entity_map(H)`` ``[N, D]`` (cached while the map's weights are unchanged)."""
        weight = entity_map.weight
        key = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
        if self._projected is None or self._projected[0] != key:
            with torch.no_grad():
                vectors = entity_map(self.vectors.to(weight.device, weight.dtype))
            self._projected = (key, torch.nn.functional.normalize(vectors.float(), dim=-1))
        return self._projected[1]
