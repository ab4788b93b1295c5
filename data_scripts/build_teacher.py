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
from pathlib import Path

from kogner.kg.arguments import add_kg_arguments, load_kg_from_args
from kogner.kg.biokg_lite import edge_type_counts
from kogner.teacher import build_teacher, describe, measured
from kogner.teacher.arguments import add_teacher_arguments, settings_from_args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_kg_arguments(parser)
    add_teacher_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder (teacher.safetensors, entities.tsv, teacher.json)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    caps = {name: value for name, value in vars(args).items() if name == "cap" or name.startswith("cap_")}
    for name, value in caps.items():
        if value is not None and value < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 (no cap) or a positive number of entities, got {value}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file; expected a folder (created if missing)")
    try:
        args.settings = settings_from_args(args)
    except (ValueError, OSError) as error:  # a bad value names its option: one line, no traceback
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # read when the tokenizer first runs, not at import
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pykeen", "torch_max_mem", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with measured() as load_stats:
        graph = load_kg_from_args(args)
    print(f"loaded {args.kg}: {graph.num_nodes} nodes, {graph.num_edges} edges "
          f"({getattr(graph, 'dropped_edges', 0)} dropped) in {load_stats['wall_time_s']:.1f}s", file=sys.stderr)
    result = build_teacher(graph, args.out, args.settings, progress=not args.no_progress,
                           extra_timings={"load_kg": load_stats},
                           kg_description={"adapter": args.kg, "dropped_edges": int(getattr(graph, "dropped_edges", 0)),
                                           "edge_types": edge_type_counts(graph)})
    print(describe(result.summary))
    print(f"wrote {Path(args.out) / 'teacher.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
