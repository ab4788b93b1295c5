"""The in-memory knowledge graph shared by the KG adapters, the teacher and the data generator.

Columnar on purpose: BioMedGraphica-scale graphs (3.1 M nodes, 56.8 M edges) must fit, so nodes
are parallel lists and edges are integer arrays of node rows, not Python objects per edge.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class KnowledgeGraph:
    """Nodes as parallel lists (row i describes node i) and edges as rows into them.

    Attributes:
        node_ids: source identifier of each node, e.g. ``"HP:0001250"`` (unique).
        names: display name of each node.
        types: entity type of each node, natural language (``"disease"``, ``"cell line"``).
        descriptions: free-text description, ``""`` when absent.
        synonyms: alternative names, ``[]`` when absent.
        edge_heads: int64 array ``[E]`` of head node rows.
        edge_relations: array ``[E]`` of relation names (str).
        edge_tails: int64 array ``[E]`` of tail node rows.
        source: a short human-readable name of where the graph came from.
        xrefs: other identifiers of each node as its sources spell them (alternative ids and
            cross-references such as ``"OMIM:219700"``, ``"UMLS:C0010674"``), ``[]`` when absent;
            not part of :meth:`fingerprint`.
        dropped_edges: edges the loader dropped because their head or tail was not a known node.
    """

    node_ids: list[str]
    names: list[str]
    types: list[str]
    descriptions: list[str]
    synonyms: list[list[str]]
    edge_heads: np.ndarray
    edge_relations: np.ndarray
    edge_tails: np.ndarray
    source: str = ""
    xrefs: list[list[str]] | None = None
    dropped_edges: int = field(default=0, compare=False)
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.node_ids)
        if self.xrefs is None:
            self.xrefs = [[] for _ in range(n)]
        for name in ("names", "types", "descriptions", "synonyms", "xrefs"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"KnowledgeGraph.{name} has {len(getattr(self, name))} rows, expected {n}")
        self.edge_heads = np.asarray(self.edge_heads, dtype=np.int64)
        self.edge_tails = np.asarray(self.edge_tails, dtype=np.int64)
        self.edge_relations = np.asarray(self.edge_relations, dtype=object)
        if not (len(self.edge_heads) == len(self.edge_tails) == len(self.edge_relations)):
            raise ValueError("edge_heads, edge_relations and edge_tails must have the same length")

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_edges(self) -> int:
        return int(len(self.edge_heads))

    @property
    def index(self) -> dict[str, int]:
        """Node id -> row."""
        if self._index is None:
            self._index = {node_id: row for row, node_id in enumerate(self.node_ids)}
        return self._index

    def type_names(self) -> list[str]:
        """Distinct entity types, sorted."""
        return sorted(set(self.types))

    def relation_names(self) -> list[str]:
        """Distinct relation names, sorted."""
        return sorted(set(self.edge_relations.tolist()))

    def fingerprint(self) -> str:
        """A content hash (nodes, types, names, edges) used to key cached teacher stages."""
        digest = hashlib.sha256()
        for values in (self.node_ids, self.names, self.types, self.descriptions):
            digest.update("\x1f".join(values).encode("utf-8"))
            digest.update(b"\x1e")
        digest.update(self.edge_heads.tobytes())
        digest.update(self.edge_tails.tobytes())
        digest.update("\x1f".join(map(str, self.edge_relations.tolist())).encode("utf-8"))
        return digest.hexdigest()[:16]
