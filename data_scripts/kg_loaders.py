"""Readers that turn knowledge-graph files into a :class:`KnowledgeGraph`.

Layouts (see /work/shared/data/KG_LAYOUTS.md):

* ``table``    — the project's generic format: a node table (``id, name, type`` and optional
  ``description``, ``synonyms`` separated by ``|``) and an edge table (``head, relation, tail``),
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

from data_scripts.kg_types import KnowledgeGraph

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
    """Load the generic format: nodes ``id,name,type[,description][,synonyms]``, edges ``head,relation,tail``."""
    node_table = read_table(nodes, ["id", "name", "type"], ["description", "synonyms"])
    records = NodeRecords(
        ids=[v.strip() for v in node_table["id"]],
        names=[v.strip() for v in node_table["name"]],
        types=[v.strip() for v in node_table["type"]],
        descriptions=[v.strip() for v in node_table["description"]],
        synonyms=[split_synonyms(v) for v in node_table["synonyms"]],
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
    }).to_csv(nodes, sep="\t", index=False, quoting=3, escapechar="\\")
    ids = np.asarray(graph.node_ids, dtype=object)
    pd.DataFrame({
        "head": ids[graph.edge_heads], "relation": graph.edge_relations, "tail": ids[graph.edge_tails],
    }).to_csv(edges, sep="\t", index=False, quoting=3, escapechar="\\")


# --------------------------------------------------------------------------------------------
# Hetionet
# --------------------------------------------------------------------------------------------


def load_hetionet(nodes: str | Path, edges: str | Path, *, strict: bool = False) -> KnowledgeGraph:
    """Hetionet v1.0: ``nodes.tsv`` (id, name, kind) and ``edges.sif(.gz)`` (source, metaedge, target).

    Types are the lower-cased kinds (``"Biological Process"`` -> ``"biological process"``); relations
    keep Hetionet's metaedge abbreviations (``GpBP``).
    """
    node_table = read_table(nodes, ["id", "name", "kind"])
    records = NodeRecords(
        ids=list(node_table["id"]), names=list(node_table["name"]),
        types=[kind.strip().lower() for kind in node_table["kind"]],
        descriptions=[""] * len(node_table), synonyms=[[] for _ in range(len(node_table))], path=str(nodes),
    )
    edge_table = read_table(edges, ["source", "metaedge", "target"])
    return assemble_graph(
        records, edge_table["source"], edge_table["metaedge"], edge_table["target"],
        edges_path=str(edges), strict=strict, source="hetionet",
    )


# --------------------------------------------------------------------------------------------
# PrimeKG
# --------------------------------------------------------------------------------------------

PRIMEKG_COLUMNS = ["relation", "display_relation", "x_id", "x_type", "x_name", "x_source",
                   "y_id", "y_type", "y_name", "y_source"]


def load_primekg(kg_file: str | Path, *, relation_column: str = "relation", strict: bool = False) -> KnowledgeGraph:
    """PrimeKG ``kg.csv``: node id ``"<source>:<id>"``, type from ``x_type`` with ``_`` -> space."""
    table = read_table(kg_file, PRIMEKG_COLUMNS)
    if relation_column not in ("relation", "display_relation"):
        raise ValueError(f"relation_column must be 'relation' or 'display_relation', not {relation_column!r}")
    records = NodeRecords.empty(str(kg_file))
    seen: dict[str, tuple[str, int]] = {}
    endpoints: dict[str, list[str]] = {"x": [], "y": []}
    for side in ("x", "y"):
        ids = (table[f"{side}_source"] + ":" + table[f"{side}_id"]).tolist()
        endpoints[side] = ids
        node_types = table[f"{side}_type"].str.replace("_", " ").str.strip().tolist()
        for offset, (node_id, node_type, name) in enumerate(zip(ids, node_types, table[f"{side}_name"])):
            known = seen.get(node_id)
            if known is None:
                seen[node_id] = (node_type, offset + 2)
                records.ids.append(node_id)
                records.names.append(name)
                records.types.append(node_type)
                records.descriptions.append("")
                records.synonyms.append([])
            elif known[0] != node_type:
                raise KGFormatError(kg_file, offset + 2, f"node {node_id!r} has type {node_type!r} here but "
                                                         f"{known[0]!r} on line {known[1]}")
    return assemble_graph(records, endpoints["x"], table[relation_column].tolist(), endpoints["y"],
                          edges_path=str(kg_file), strict=strict, source="primekg")


# --------------------------------------------------------------------------------------------
# Generic CSV with configurable columns (BioMedGraphica)
# --------------------------------------------------------------------------------------------


@dataclass
class NodeTableSpec:
    """Where node fields live in one table. Give ``type_column`` or a constant ``node_type``."""

    path: str | Path
    id_column: str
    name_column: str | None = None
    type_column: str | None = None
    node_type: str | None = None
    description_column: str | None = None
    synonyms_column: str | None = None
    synonym_separator: str = SYNONYM_SEPARATOR


@dataclass
class AttributeTableSpec:
    """A table adding a description to nodes defined elsewhere (rows with unknown ids are ignored)."""

    path: str | Path
    id_column: str
    description_column: str


@dataclass
class EdgeTableSpec:
    """Where edge fields live. Give ``relation_column`` or a constant ``relation``."""

    path: str | Path
    head_column: str
    tail_column: str
    relation_column: str | None = None
    relation: str | None = None


def load_csv_kg(
    node_tables: Sequence[NodeTableSpec],
    edge_tables: Sequence[EdgeTableSpec],
    attribute_tables: Sequence[AttributeTableSpec] = (),
    *,
    strict: bool = False,
    source: str = "csv",
) -> KnowledgeGraph:
    """Load nodes and edges spread over several tables with configurable column names."""
    if not node_tables:
        raise ValueError("load_csv_kg needs at least one node table")
    records = NodeRecords.empty(str(node_tables[0].path))
    origin: dict[str, tuple[str, int]] = {}
    for spec in node_tables:
        if (spec.type_column is None) == (spec.node_type is None):
            raise ValueError(f"{spec.path}: give exactly one of type_column / node_type")
        optional = [c for c in (spec.name_column, spec.description_column, spec.synonyms_column) if c]
        table = read_table(spec.path, [spec.id_column] + ([spec.type_column] if spec.type_column else []), optional)
        for offset, node_id in enumerate(table[spec.id_column].str.strip()):
            line = offset + 2
            if node_id in origin:
                first_path, first_line = origin[node_id]
                raise KGFormatError(spec.path, line, f"duplicate node id {node_id!r} (first in {first_path}, "
                                                     f"line {first_line})")
            if not node_id:
                raise KGFormatError(spec.path, line, "empty node id")
            origin[node_id] = (str(spec.path), line)
            records.ids.append(node_id)
            records.names.append(table[spec.name_column].iat[offset].strip() if spec.name_column else node_id)
            records.types.append(table[spec.type_column].iat[offset].strip() if spec.type_column else spec.node_type)
            records.descriptions.append(
                table[spec.description_column].iat[offset].strip() if spec.description_column else "")
            records.synonyms.append(split_synonyms(table[spec.synonyms_column].iat[offset], spec.synonym_separator)
                                    if spec.synonyms_column else [])
    position = {node_id: row for row, node_id in enumerate(records.ids)}
    for spec in attribute_tables:
        table = read_table(spec.path, [spec.id_column, spec.description_column])
        for node_id, description in zip(table[spec.id_column].str.strip(), table[spec.description_column]):
            row = position.get(node_id)
            if row is not None and description.strip():
                records.descriptions[row] = description.strip()
    heads: list[str] = []
    relations: list[str] = []
    tails: list[str] = []
    graph: KnowledgeGraph | None = None
    total_dropped = 0
    # Edge tables are checked one at a time so that errors name the right file and line.
    for spec in edge_tables:
        if (spec.relation_column is None) == (spec.relation is None):
            raise ValueError(f"{spec.path}: give exactly one of relation_column / relation")
        required = [spec.head_column, spec.tail_column] + ([spec.relation_column] if spec.relation_column else [])
        table = read_table(spec.path, required)
        rel = table[spec.relation_column].str.strip().tolist() if spec.relation_column else [spec.relation] * len(table)
        part = assemble_graph(records, table[spec.head_column].str.strip(), rel, table[spec.tail_column].str.strip(),
                              edges_path=str(spec.path), strict=strict, source=source)
        total_dropped += part.dropped_edges
        ids = records.ids
        heads.extend(ids[i] for i in part.edge_heads)
        relations.extend(part.edge_relations.tolist())
        tails.extend(ids[i] for i in part.edge_tails)
    graph = assemble_graph(records, heads, relations, tails, strict=strict, source=source)
    graph.dropped_edges = total_dropped
    return graph


def load_biomedgraphica(root: str | Path, *, strict: bool = False) -> KnowledgeGraph:
    """A BioMedGraphica(-Conn) download: ``Entity/<T>/*_Display_Name.csv`` + ``Relation/*.csv``.

    Types come from the entity folder (lower-cased); descriptions from ``*_Description_Combined.csv``
    (its first column other than the id column) when present.
    """
    root = Path(root)
    entity_dirs = sorted(p for p in (root / "Entity").iterdir() if p.is_dir()) if (root / "Entity").is_dir() else []
    if not entity_dirs:
        raise KGFormatError(root / "Entity", None, "no entity-type folders found")
    node_specs: list[NodeTableSpec] = []
    attribute_specs: list[AttributeTableSpec] = []
    for folder in entity_dirs:
        names = sorted(folder.glob("*_Display_Name.csv"))
        if not names:
            raise KGFormatError(folder, None, "no *_Display_Name.csv file")
        header = table_columns(names[0])
        id_column = next((c for c in header if c.endswith("_ID")), None)
        name_column = next((c for c in header if c.endswith("_Name")), None)
        if id_column is None or name_column is None:
            raise KGFormatError(names[0], 1, f"expected an '*_ID' and a '*_Name' column, found {header}")
        node_specs.append(NodeTableSpec(names[0], id_column, name_column, node_type=folder.name.lower()))
        for description_file in sorted(folder.glob("*_Description*.csv")):
            columns = table_columns(description_file)
            others = [c for c in columns if c != id_column]
            if not others:
                raise KGFormatError(description_file, 1, "no description column next to the id column")
            attribute_specs.append(AttributeTableSpec(description_file, id_column, others[0]))
    relation_files = sorted((root / "Relation").glob("*.csv"))
    if not relation_files:
        raise KGFormatError(root / "Relation", None, "no relation CSV found")
    edge_specs = [EdgeTableSpec(path, "BMGC_From_ID", "BMGC_To_ID", relation_column="Type") for path in relation_files]
    return load_csv_kg(node_specs, edge_specs, attribute_specs, strict=strict, source="biomedgraphica")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

KG_NAMES = ("biokg-lite", "table", "hetionet", "primekg", "csv", "biomedgraphica")


def load_kg(name: str, **options) -> KnowledgeGraph:
    """Load a knowledge graph by adapter name.

    * ``biokg-lite``: options of :func:`data_scripts.biokg_lite.load_biokg_lite` (``caps``, ...).
    * ``table``: ``nodes``, ``edges``.            * ``hetionet``: ``nodes``, ``edges``.
    * ``primekg``: ``kg_file``.                    * ``biomedgraphica``: ``root``.
    * ``csv``: ``node_tables``, ``edge_tables``, ``attribute_tables`` (spec objects).
    All take ``strict``.
    """
    if name == "biokg-lite":
        from data_scripts.biokg_lite import load_biokg_lite

        return load_biokg_lite(**options)
    loaders = {
        "table": load_table_kg, "hetionet": load_hetionet, "primekg": load_primekg,
        "csv": load_csv_kg, "biomedgraphica": load_biomedgraphica,
    }
    if name not in loaders:
        raise ValueError(f"unknown KG {name!r}; expected one of {', '.join(KG_NAMES)}")
    return loaders[name](**options)
