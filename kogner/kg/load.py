"""One entry point over every knowledge-graph reader."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .biokg_lite import load_biokg_lite
from .csv_tables import load_biomedgraphica, load_csv_kg
from .graph import KnowledgeGraph
from .hetionet import load_hetionet
from .primekg import load_primekg
from .tables import load_table_kg

KG_NAMES = ("biokg-lite", "table", "hetionet", "primekg", "csv", "biomedgraphica")


def load_kg(name: str, **options) -> KnowledgeGraph:
    """Load a knowledge graph by adapter name.

    * ``biokg-lite``: options of :func:`kogner.kg.biokg_lite.load_biokg_lite` (``caps``, ...).
    * ``table``: ``nodes``, ``edges``.            * ``hetionet``: ``nodes``, ``edges``.
    * ``primekg``: ``kg_file``.                    * ``biomedgraphica``: ``root``.
    * ``csv``: ``node_tables``, ``edge_tables``, ``attribute_tables`` (spec objects).
    All take ``strict``.
    """
    loaders = {
        "biokg-lite": load_biokg_lite,
        "table": load_table_kg, "hetionet": load_hetionet, "primekg": load_primekg,
        "csv": load_csv_kg, "biomedgraphica": load_biomedgraphica,
    }
    if name not in loaders:
        raise ValueError(f"unknown KG {name!r}; expected one of {', '.join(KG_NAMES)}")
    return loaders[name](**options)


def parse_kg_options(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``--kg-option``) -> ``load_kg`` options; values parsed as JSON when possible."""
    options: dict[str, Any] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ValueError(f"--kg-option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options
