"""Readers that turn knowledge-graph files into a :class:`KnowledgeGraph`.

Layouts (see /work/shared/data/KG_LAYOUTS.md):

* ``table``    — the project's generic format: a node table (``id, name, type`` and optional
  ``description``, ``synonyms`` and ``xrefs`` separated by ``|``) and an edge table (``head, relation, tail``),
  each TSV, CSV (optionally ``.gz``) or Parquet.
* ``hetionet`` — ``hetionet-v1.0-nodes.tsv`` (id, name, kind) + ``hetionet-v1.0-edges.sif(.gz)``.
* ``primekg``  — PrimeKG's single ``kg.csv`` (one row per edge, node fields repeated).
* ``csv``      — node and edge tables with configurable column names (:class:`NodeTableSpec`,
  :class:`EdgeTableSpec`); ``biomedgraphica`` walks a BioMedGraphica folder with it.
* ``biokg-lite`` — the offline default merged from data inside PyPI packages (``biokg_lite.py``).

Every adapter ends in :func:`assemble_graph`, which enforces the shared rules: unique ids,
a non-empty graph, and edges to unknown ids dropped and counted (an error with ``strict=True``).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .graph import KnowledgeGraph

logger = logging.getLogger(__name__)

SYNONYM_SEPARATOR = "|"


class KGFormatError(ValueError):
    """Bad knowledge-graph input; the message names the file, the line and the problem."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


# --------------------------------------------------------------------------------------------
# Reading tables
# --------------------------------------------------------------------------------------------


def _separator_for(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    return "," if last == ".csv" else "\t"


def table_columns(path: str | Path) -> list[str]:
    """Column names of a TSV/CSV(.gz)/Parquet table (reads only the header / schema)."""
    path = Path(path)
    if not path.exists():
        raise KGFormatError(path, None, "file not found")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n")
    return [c.strip().strip('"') for c in header.split(_separator_for(path))] if header else []


def read_table(path: str | Path, required: Sequence[str], optional: Sequence[str] = ()) -> pd.DataFrame:
    """Read a TSV/CSV(.gz)/Parquet table as strings and check its columns.

    Missing values become ``""``. Raises :class:`KGFormatError` naming line 1 (the header) when a
    required column is missing.
    """
    path = Path(path)
    wanted = list(required) + [c for c in optional if c not in required]
    columns = table_columns(path)
    missing = [c for c in required if c not in columns]
    if missing:
        raise KGFormatError(path, 1, f"missing required column(s) {missing}; found columns {columns}")
    present = [c for c in wanted if c in columns]
    if path.suffix.lower() == ".parquet":
        table = pd.read_parquet(path, columns=present).fillna("").astype(str)
    else:
        table = pd.read_csv(
            path, sep=_separator_for(path), usecols=present, dtype=str, keep_default_na=False,
            na_filter=False, quoting=0 if _separator_for(path) == "," else 3, encoding="utf-8",
        )
    table = table[present]
    for column in wanted:
        if column not in table.columns:
            table[column] = ""
    return table


# --------------------------------------------------------------------------------------------
# Building the graph
# --------------------------------------------------------------------------------------------


@dataclass
class NodeRecords:
    """Columnar node rows gathered by an adapter before assembly."""

    ids: list[str]
    names: list[str]
    types: list[str]
    descriptions: list[str]
    synonyms: list[list[str]]
    path: str = "<nodes>"
    first_line: int = 2  # file line of row 0 (header on line 1)
    xrefs: list[list[str]] | None = None  # None: no identifiers besides the ids

    @classmethod
    def empty(cls, path: str = "<nodes>") -> NodeRecords:
        return cls([], [], [], [], [], path=path)


def split_synonyms(value: str, separator: str = SYNONYM_SEPARATOR) -> list[str]:
    """``"a|b| c"`` -> ``["a", "b", "c"]`` (empty parts dropped)."""
    return [part.strip() for part in value.split(separator) if part.strip()] if value else []


def assemble_graph(
    nodes: NodeRecords,
    heads: Iterable[str],
    relations: Iterable[str],
    tails: Iterable[str],
    *,
    edges_path: str = "<edges>",
    edge_first_line: int = 2,
    strict: bool = False,
    source: str = "",
) -> KnowledgeGraph:
    """Check the shared rules and build the :class:`KnowledgeGraph`.

    Raises :class:`KGFormatError` for duplicate ids, empty ids/types and an empty graph; edges whose
    head or tail is unknown are dropped and counted in ``graph.dropped_edges`` (an error if ``strict``).
    """
    if not nodes.ids:
        raise KGFormatError(nodes.path, None, "empty graph: no nodes")
    index: dict[str, int] = {}
    for row, node_id in enumerate(nodes.ids):
        line = nodes.first_line + row
        if not node_id:
            raise KGFormatError(nodes.path, line, "empty node id")
        if not nodes.types[row]:
            raise KGFormatError(nodes.path, line, f"node {node_id!r} has an empty type")
        if node_id in index:
            first = nodes.first_line + index[node_id]
            raise KGFormatError(nodes.path, line, f"duplicate node id {node_id!r} (first on line {first})")
        index[node_id] = row
    names = [name if name else node_id for name, node_id in zip(nodes.names, nodes.ids)]

    head_rows: list[int] = []
    tail_rows: list[int] = []
    kept_relations: list[str] = []
    dropped = 0
    for offset, (head, relation, tail) in enumerate(zip(heads, relations, tails)):
        head_row = index.get(head)
        tail_row = index.get(tail)
        if head_row is None or tail_row is None:
            if strict:
                unknown = head if head_row is None else tail
                raise KGFormatError(edges_path, edge_first_line + offset, f"edge refers to unknown node id {unknown!r}")
            dropped += 1
            continue
        if not relation:
            raise KGFormatError(edges_path, edge_first_line + offset, "empty relation")
        head_rows.append(head_row)
        tail_rows.append(tail_row)
        kept_relations.append(relation)
    if dropped:
        logger.warning("%s: dropped %d edge(s) whose head or tail is not a known node id", edges_path, dropped)
    graph = KnowledgeGraph(
        node_ids=list(nodes.ids),
        names=names,
        types=list(nodes.types),
        descriptions=list(nodes.descriptions),
        synonyms=[list(s) for s in nodes.synonyms],
        xrefs=None if nodes.xrefs is None else [list(x) for x in nodes.xrefs],
        edge_heads=np.asarray(head_rows, dtype=np.int64),
        edge_relations=np.asarray(kept_relations, dtype=object),
        edge_tails=np.asarray(tail_rows, dtype=np.int64),
        source=source,
    )
    graph._index = index
    graph.dropped_edges = dropped
    return graph


# --------------------------------------------------------------------------------------------
# Generic table format
# --------------------------------------------------------------------------------------------


def load_table_kg(nodes: str | Path, edges: str | Path, *, strict: bool = False) -> KnowledgeGraph:
    """Load the generic format: nodes ``id,name,type[,description][,synonyms][,xrefs]``, edges ``head,relation,tail``.

    ``synonyms`` and ``xrefs`` are ``|``-separated.
    """
    node_table = read_table(nodes, ["id", "name", "type"], ["description", "synonyms", "xrefs"])
    records = NodeRecords(
        ids=[v.strip() for v in node_table["id"]],
        names=[v.strip() for v in node_table["name"]],
        types=[v.strip() for v in node_table["type"]],
        descriptions=[v.strip() for v in node_table["description"]],
        synonyms=[split_synonyms(v) for v in node_table["synonyms"]],
        xrefs=[split_synonyms(v) for v in node_table["xrefs"]],
        path=str(nodes),
    )
    edge_table = read_table(edges, ["head", "relation", "tail"])
    return assemble_graph(
        records, edge_table["head"].str.strip(), edge_table["relation"].str.strip(), edge_table["tail"].str.strip(),
        edges_path=str(edges), strict=strict, source=f"table:{Path(nodes).name}",
    )


def save_table_kg(graph: KnowledgeGraph, nodes: str | Path, edges: str | Path) -> None:
    """Write ``graph`` in the generic TSV format (round-trips through :func:`load_table_kg`)."""
    pd.DataFrame({
        "id": graph.node_ids, "name": graph.names, "type": graph.types, "description": graph.descriptions,
        "synonyms": [SYNONYM_SEPARATOR.join(s) for s in graph.synonyms],
        "xrefs": [SYNONYM_SEPARATOR.join(x) for x in graph.xrefs],
    }).to_csv(nodes, sep="\t", index=False, quoting=3, escapechar="\\")
    ids = np.asarray(graph.node_ids, dtype=object)
    pd.DataFrame({
        "head": ids[graph.edge_heads], "relation": graph.edge_relations, "tail": ids[graph.edge_tails],
    }).to_csv(edges, sep="\t", index=False, quoting=3, escapechar="\\")
