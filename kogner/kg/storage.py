"""Exact on-disk storage of a built graph (Parquet), used to cache expensive graph builds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from .graph import KnowledgeGraph

CACHE_VERSION = 2  # 2: nodes carry xrefs
_SYNONYM_JOIN = "\x1f"


def stable_key(payload: object) -> str:
    """A short hash of a JSON-able payload (cache keys)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def write_graph_parquet(graph: KnowledgeGraph, folder: Path) -> None:
    """Exact round-trip storage of a graph (nodes.parquet + edges.parquet; edges written last)."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": graph.node_ids, "name": graph.names, "type": graph.types,
                  "description": graph.descriptions,
                  "synonyms": [_SYNONYM_JOIN.join(s) for s in graph.synonyms],
                  "xrefs": [_SYNONYM_JOIN.join(x) for x in graph.xrefs]}).to_parquet(folder / "nodes.parquet")
    pd.DataFrame({"head": graph.edge_heads, "relation": graph.edge_relations.astype(str),
                  "tail": graph.edge_tails}).to_parquet(folder / "edges.parquet.tmp")
    (folder / "edges.parquet.tmp").replace(folder / "edges.parquet")


def read_graph_parquet(folder: Path, source: str) -> KnowledgeGraph:
    """The graph written by :func:`write_graph_parquet`."""
    nodes = pd.read_parquet(folder / "nodes.parquet")
    edges = pd.read_parquet(folder / "edges.parquet")
    graph = KnowledgeGraph(
        node_ids=nodes["id"].tolist(), names=nodes["name"].tolist(), types=nodes["type"].tolist(),
        descriptions=nodes["description"].tolist(),
        synonyms=[s.split(_SYNONYM_JOIN) if s else [] for s in nodes["synonyms"]],
        xrefs=[x.split(_SYNONYM_JOIN) if x else [] for x in nodes["xrefs"]] if "xrefs" in nodes else None,
        edge_heads=edges["head"].to_numpy(), edge_relations=edges["relation"].to_numpy(dtype=object),
        edge_tails=edges["tail"].to_numpy(), source=source)
    return graph
