"""``kogner-annotate``: tag every document of a collection with a KoGNER model (and link the entities to the KG).

    kogner-annotate --model runs/demo/model --labels disease chemical gene --input abstracts.jsonl --output out/
    kogner-annotate --model M --labels disease --input 'papers/**/*.txt' --output out/ --format pubtator --link
    accelerate launch --multi_gpu --num_processes 2 -m kogner.annotate --model M --labels disease ... # 2 processes

A thin entry point over `kogner.annotate.run.annotate_corpus`; exit status 0 on success, 1 with a one-line
message for an input, output folder or model that cannot be used, 130 when interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .formats import OUTPUT_FILES
from .inputs import INPUT_FORMATS, AnnotateInputError
from .run import BACKENDS, AnnotateOptions, annotate_corpus, format_summary
from .shards import OutputFolderError

EPILOG = """\
output folder: annotations.<jsonl|pubtator|bioc.xml>, skipped.jsonl (documents not annotated, with the reason),
summary.json (counts per label, skipped, time, documents/s), run.json and shards/ (what a rerun resumes from).
A rerun of the same command after a crash or kill skips the finished shards and gives the same output; a folder
written with another model, label set, threshold or options is refused.

several processes (CPUs or GPUs, one node or several):
  accelerate launch --multi_gpu --num_processes 2 -m kogner.annotate --model M --labels disease --input IN --output OUT
each process annotates every N-th shard; process 0 merges them in input order.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kogner-annotate", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Annotate a collection of documents with a KoGNER model: resumable, multi-process, with "
        "optional KG links, written as JSONL, PubTator or BioC XML.",
    )
    parser.add_argument("--model", required=True,
                        help="saved model folder or Hub id (with --backend onnx*: a folder written by export_onnx)")
    parser.add_argument("--labels", nargs="+", required=True, help="entity types to find, e.g. disease chemical gene")
    parser.add_argument("--input", required=True,
                        help="a folder or glob of .txt files (one document each), a JSONL file ({id, text} per "
                        "line), a PubTator file (title + abstract), or a datasets source (saved folder or Hub id)")
    parser.add_argument("--output", required=True, help="output folder (new, or the folder of this run to resume)")
    parser.add_argument("--format", dest="output_format", choices=sorted(OUTPUT_FILES), default="jsonl",
                        help="output format (default: jsonl)")
    parser.add_argument("--link", action="store_true",
                        help="add kg_id, kg_name and link_score to each entity (needs a model with an entity index)")
    parser.add_argument("--split-sentences", action="store_true",
                        help="predict sentence by sentence (pysbd); entities never cross a sentence boundary")
    parser.add_argument("--threshold", type=float, default=None, help="decision threshold in [0, 1] (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default: 32)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="torch (default; the GPU of each process when there is one), or ONNX Runtime on the CPU "
                        "with the fp32 or int8 graphs of an export")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="auto",
                        help="how to read --input (default: auto, from the path and the file contents)")
    parser.add_argument("--text-column", default="text", help="datasets input: the column holding the text")
    parser.add_argument("--id-column", default="id", help="datasets input: the id column (default: the row number "
                        "when absent)")
    parser.add_argument("--split", default=None, help="datasets input: the split (needed when there are several)")
    parser.add_argument("--shard-size", type=int, default=1000,
                        help="documents per shard, the unit of resume and of the split between processes")
    parser.add_argument("--max-chars", type=int, default=1_000_000,
                        help="documents longer than this many characters are skipped (listed in skipped.jsonl)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = AnnotateOptions(**vars(args))
    try:
        options.check()
    except ValueError as error:
        parser.error(str(error))
    try:
        summary = annotate_corpus(options)
    except (AnnotateInputError, OutputFolderError, FileNotFoundError, NotADirectoryError, ValueError) as error:
        print(f"kogner-annotate: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"kogner-annotate: interrupted; rerun the same command to resume from the finished shards in "
              f"{options.output}", file=sys.stderr)
        return 130
    if summary is not None:
        print(format_summary(summary))
    return 0
