"""Hetionet v1.0 reader."""

from __future__ import annotations

from pathlib import Path

from .graph import KnowledgeGraph
from .tables import NodeRecords, assemble_graph, read_table


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
