"""Node and edge tables with configurable column names, and the BioMedGraphica layout built on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .graph import KnowledgeGraph
from .tables import SYNONYM_SEPARATOR, KGFormatError, NodeRecords, assemble_graph, read_table, split_synonyms, table_columns


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
