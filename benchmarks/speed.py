"""Inference and training speed of KoGNER against the bare encoder (the floor) and the `gliner` package.

On the same sentences and labels, in one run:
  (i)   the bare encoder's forward pass (AutoModel of the same encoder, batched, no_grad, sentences sorted by
        length like KoGNER does): the physical floor for any model on this encoder;
  (ii)  KoGNER ``batch_predict_entities`` (batch 1 and 32) and a ``predict_entities`` loop;
  (iii) the ``gliner`` package's span model built around the same local encoder (``GLiNER.from_config``, offline),
        predicting with ``GLiNER.inference`` (batch 1 and 32);
and training samples/s (``--train-steps`` > 0) on the same examples and batches, in this order:
  the bare encoder's forward + backward + AdamW step on KoGNER's batches (a trivial loss on its last hidden state,
  no heads: the floor), KoGNER (its Trainer and collator) and the ``gliner`` package's own trainer; the ratio
  "KoGNER / bare encoder, training samples/s" should be >= 0.6 (see ``speed_training.train_bare_encoder``).

Reported: sentences/s, tokens/s (the sentences' encoder sub-tokens, identical for every arm, so the token rate
measures useful work), peak RSS growth and (CUDA) peak allocated memory, and the ratios (ii)/(i) and (ii)/(iii)
(for training: KoGNER over the bare encoder and over gliner).
Speed does not depend on the weights, so ``--random-init`` builds the encoder from its config alone (for machines
without the weights); the heads of KoGNER and gliner are freshly initialised either way unless ``--model`` names a
trained KoGNER model.

With ``--link --model DIR`` (a saved model with an entity index), also ``batch_predict_entities`` at batch 32 with
``link=False`` vs ``link=True`` (interleaved; target: link=True time / link=False time <= 1.25) and the entity
index's size on disk (< 300 MB) and load time (< 10 s), under ``report["linking"]`` (``speed_linking``).

Modules: ``speed_setup`` (sentences and models), ``speed_inference`` (the inference arms, timed by ``measure``),
``speed_training`` (the training arms), ``long_text``, ``onnx_arms`` and ``speed_linking`` (the ``--long-text``,
``--onnx`` and ``--link`` runs).
Runs where only torch + transformers (+ accelerate) are installed: gliner is skipped with a note when absent, and
``--sentences-file`` (written here with ``--dump-sentences``) replaces the corpus and ``datasets``.

    python -m benchmarks.speed                      # MiniLM, 256 bc5cdr test sentences, CPU
    python -m benchmarks.speed --dump-sentences /tmp/speed_sentences.json --quick
    python -m benchmarks.speed --device cuda --random-init --encoder ENC_DIR --sentences-file speed_sentences.json
    python -m benchmarks.speed --long-text          # a 1 MB text vs a 1 kB one (benchmarks/long_text.py)
    python -m benchmarks.speed --onnx --onnx-int8 --no-gliner --train-steps 0   # + ONNX Runtime arms (iv)
    python -m benchmarks.speed --link --model runs/demo/model --no-gliner --train-steps 0   # + linking cost
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json
from benchmarks.long_text import add_arguments as add_long_text_arguments, run_long_text
from benchmarks.onnx_arms import add_onnx_arguments
from benchmarks.speed_inference import inference_arms, ratios
from benchmarks.speed_linking import add_link_arguments, check_link_arguments, linking_arms, linking_markdown
from benchmarks.speed_setup import load_kogner, load_sentences
from benchmarks.speed_training import train_bare_encoder, train_gliner, train_kogner, training_ratios


# ---------------------------------------------------------------------------------------------------------- output
def markdown(report: dict[str, Any]) -> str:
    inference = report["inference"]
    lines = [
        f"Inference: {inference['sentences']} sentences ({inference['subtokens']} encoder sub-tokens), labels "
        f"{', '.join(inference['labels'])}, device {report['machine']['device']}",
        "",
        "| arm | sentences/s | tokens/s | peak RSS growth (MiB) | peak CUDA (MiB) | entities |",
        "|---|---|---|---|---|---|",
    ]
    for row in inference["rows"]:
        lines.append(
            f"| {row['arm']} | {row['sentences_per_s']:.1f} | {row['tokens_per_s']:.0f} | "
            f"{_fmt(row['peak_rss_delta_mib'])} | {_fmt(row['peak_cuda_mib'])} | {row['entities_found']} |"
        )
    lines += ["", "| ratio (tokens/s; training: samples/s) | value |", "|---|---|"]
    lines += [f"| {name} | {value:.2f}x |" for name, value in report["ratios"].items()]
    if report.get("training"):
        lines += ["", "| training | steps | batch | samples/s | peak RSS growth (MiB) | peak CUDA (MiB) |",
                  "|---|---|---|---|---|---|"]
        for row in report["training"]:
            lines.append(f"| {row['arm']} | {row['steps']} | {row['batch_size']} | {_fmt(row['samples_per_s'])} | "
                         f"{_fmt(row['peak_rss_delta_mib'])} | {_fmt(row['peak_cuda_mib'])} |")
    if report.get("linking"):
        lines += ["", *linking_markdown(report["linking"])]
    for note in report["notes"]:
        lines.append(f"\nNote: {note}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="minilm",
                        help="encoder directory or Hub id shared by all arms ('minilm' = the offline all-MiniLM-L6-v2)")
    parser.add_argument("--model", default=None,
                        help="a trained KoGNER model directory for arm (ii) (default: fresh heads on --encoder)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--random-init", action="store_true",
                        help="build encoders from their config with random weights (only config + tokenizer needed)")
    parser.add_argument("--sentences", type=int, default=256, help="number of sentences to predict on")
    parser.add_argument("--sentences-file", default=None,
                        help="JSON {'sentences': [{'tokens': [...], 'ner': [...]}], 'labels': [...], 'train': [...]} "
                             "used instead of the corpus (see --dump-sentences)")
    parser.add_argument("--dump-sentences", default=None,
                        help="write the sentences, labels and training examples used here to this JSON file and exit")
    parser.add_argument("--corpus", default="bc5cdr", help="corpus whose test split gives the sentences")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--train-data", default="runs/data", help="generated KG dataset (train split) for training speed")
    parser.add_argument("--threshold", type=float, default=None,
                        help="decision threshold for both models (default: KoGNER's own, 0.5 for gliner)")
    parser.add_argument("--train-steps", type=int, default=30, help="optimizer steps per training arm (0: skip)")
    parser.add_argument("--train-batch", type=int, default=8, help="training batch size")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed passes per arm, the median is reported (use 5+ on a GPU, where one pass is short)")
    parser.add_argument("--no-gliner", action="store_true", help="skip the gliner package arms")
    parser.add_argument("--quick", action="store_true", help="32 sentences and 4 training steps (a smoke run)")
    parser.add_argument("--output", default=str(RESULTS_DIR / "speed.json"), help="JSON results file")
    add_long_text_arguments(parser)
    add_onnx_arguments(parser)
    add_link_arguments(parser)
    args = parser.parse_args(argv)
    check_link_arguments(parser, args)
    if args.quick:
        args.sentences, args.train_steps = min(args.sentences, 32), min(args.train_steps, 4)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no GPU")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.long_text:
        args.sentences = max(args.sentences, 100_000)  # every test sentence: as little repetition as possible
    sentences, labels, train, source = load_sentences(args)
    if args.long_text:
        run_long_text(args, sentences, labels, source, load_kogner)
        return 0
    if args.dump_sentences:
        payload = {"source": source, "labels": labels, "sentences": sentences, "train": train}
        write_json(args.dump_sentences, payload, announce=False)
        print(f"{len(sentences)} sentences and {len(train)} training examples written to {args.dump_sentences}")
        return 0
    if args.no_gliner:
        sys.modules["gliner"] = None  # type: ignore[assignment]  # makes `import gliner` raise ImportError
    report: dict[str, Any] = {
        **provenance(command_line("speed", argv), args.device),
        "encoder": args.encoder,
        "random_init": args.random_init,
        "sentence_source": source,
    }
    if args.link:  # first: its index load is then the process's first read of the index
        report["linking"] = linking_arms(args, sentences, labels)
    print(f"inference on {len(sentences)} sentences from {source}, labels {labels}, device {args.device}", flush=True)
    report["inference"] = inference_arms(args, sentences, labels)
    report["ratios"] = ratios(report["inference"]["rows"])
    report["notes"] = list(report["inference"].pop("notes"))
    report["training"] = []
    if args.train_steps > 0:
        import tempfile

        print(f"training speed: {args.train_steps} steps of batch {args.train_batch}", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            report["training"].append(train_bare_encoder(args, train, Path(scratch)))  # the floor, first
            report["training"].append(train_kogner(args, train, Path(scratch)))
            gliner_row = train_gliner(args, train, Path(scratch))
            if isinstance(gliner_row, str):
                report["notes"].append(gliner_row)
            else:
                report["training"].append(gliner_row)
        report["ratios"].update(training_ratios(report["training"]))
    if report["busy_with"]:
        report["notes"].append("other heavy jobs were running: " + "; ".join(report["busy_with"]))
    table = markdown(report)
    report["markdown"] = table
    print("\n" + table)
    write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
