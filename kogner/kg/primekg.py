"""PrimeKG reader (one ``kg.csv`` with node fields repeated on every edge row)."""

from __future__ import annotations

from pathlib import Path

from .graph import KnowledgeGraph
from .tables import KGFormatError, NodeRecords, assemble_graph, read_table


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
