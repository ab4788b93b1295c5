"""Export a trained KoGNER model to ONNX (encoder + span and label heads; decoding stays in Python).

Examples:
  python data_scripts/export_onnx.py --model runs/demo/model --out runs/demo/onnx
  python data_scripts/export_onnx.py --model runs/demo/model --out runs/demo/onnx --quantize   # + an int8 span scorer

Then, with only onnxruntime doing the forward passes:
  from kogner.onnx import KoGNERONNXModel
  KoGNERONNXModel.from_pretrained("runs/demo/onnx").predict_entities(text, ["disease", "chemical"])

The export is checked against torch before it is written off as done: logits must agree within 1e-4.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kogner.onnx import export_onnx


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved KoGNER model directory (save_pretrained output)")
    parser.add_argument("--out", required=True, help="output folder: *.onnx graphs, config, tokenizer, onnx_export.json")
    parser.add_argument("--quantize", action="store_true",
                        help="also write an int8 span scorer (ONNX Runtime dynamic quantisation; load with quantized=True)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    args = parser.parse_args(argv)
    if not Path(args.model).is_dir():
        parser.error(f"--model {args.model} is not a directory; expected a saved KoGNER model")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file; expected a folder (created if missing)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # read when the tokenizer first runs, not at import
    try:
        metadata = export_onnx(args.model, args.out, quantize=args.quantize, opset=args.opset)
    except ValueError as error:  # a model without the heads the export needs: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(metadata, indent=2))
    print(f"ONNX export written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
