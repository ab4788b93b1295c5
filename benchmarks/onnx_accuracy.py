"""What ONNX export and int8 quantisation cost in accuracy, on dev sentences (bc5cdr validation by default).

The model is exported (float32 graphs + the int8 span scorer) and the same sentences are predicted by torch, ONNX
Runtime float32 and ONNX Runtime int8. Reported:

- score deltas: ``|p_onnx - p_torch|`` over every span x label probability of every window (mean, 99th percentile,
  max), and the share of span x label decisions that flip at the threshold;
- agreement: strict span F1 of each variant's entities against torch's (torch = reference);
- gold F1 of each variant (strict spans) — meaningful only for a trained model (``--model``); with fresh heads
  (``--encoder``, the default when no model is given) only the deltas and the agreement mean anything.

    python -m benchmarks.onnx_accuracy --model runs/demo/model --sentences 500
    python -m benchmarks.onnx_accuracy --encoder minilm --sentences 200      # untrained heads: deltas only

Results: benchmarks/results/onnx_accuracy.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any, Sequence

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", default=None, help="a saved (trained) KoGNER model directory")
    source.add_argument("--encoder", default="minilm", help="without --model: fresh heads on this encoder")
    parser.add_argument("--corpus", default="bc5cdr")
    parser.add_argument("--split", default="validation", help="validation (default); never test")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--sentences", type=int, default=500, help="the first N sentences of the split")
    parser.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default=str(RESULTS_DIR / "onnx_accuracy.json"), help="JSON results file")
    return parser.parse_args(argv)


def probabilities(predictor: Any, batches: list[dict[str, Any]], labels: list[str]) -> list[Any]:
    """Sigmoid scores ``[B, N * W, C]`` of each batch, masked to real spans, as flat numpy arrays."""
    import numpy as np
    import torch

    found = []
    for batch in batches:
        if hasattr(predictor, "span_session"):  # KoGNERONNXModel
            feed = {key: value.numpy() for key, value in batch["inputs"].items()}
            feed["label_embeddings"] = predictor.label_vectors(labels)
            names = {node.name for node in predictor.span_session.get_inputs()}
            logits = torch.from_numpy(predictor.span_session.run(None, {k: feed[k] for k in names})[0])
        else:
            with torch.no_grad():
                logits = predictor(**batch["inputs"], label_embeddings=predictor.label_vectors(labels)).logits
        found.append(np.asarray(torch.sigmoid(logits)[batch["valid"]].float()))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import numpy as np
    import torch

    from kogner.corpora.registry import EVALUATION_CORPUS_LABELS, load_corpus_split
    from kogner.evaluation.metrics import gold_spans, span_scores
    from kogner.onnx import KoGNERONNXModel, export_onnx
    from modeling_kogner import KoGNERModel

    if args.model:
        model = KoGNERModel.from_pretrained(args.model)
    else:
        from kogner.defaults import resolve_encoder

        torch.manual_seed(0)
        model = KoGNERModel.from_encoder(resolve_encoder(args.encoder), hidden_size=512, max_width=8)
    model.eval()
    dataset = load_corpus_split(args.corpus, args.split, data_dir=args.data_dir)
    dataset = dataset.select(range(min(args.sentences, len(dataset))))
    labels = list(EVALUATION_CORPUS_LABELS.get(args.corpus) or [])
    words = [list(tokens) for tokens in dataset["tokens"]]
    threshold = model.config.threshold if args.threshold is None else args.threshold
    windows = model.word_encoder.windows(words)
    batches = []
    for first in range(0, len(windows), args.batch_size):
        chunk = windows[first : first + args.batch_size]
        inputs = model.word_encoder.collate(chunk)
        lengths = torch.tensor([window.num_words for window in chunk])
        flat = torch.arange(inputs["word_index"].shape[1] * model.config.max_width)
        ends = flat // model.config.max_width + flat % model.config.max_width
        batches.append({"inputs": inputs, "valid": ends[None, :] < lengths[:, None]})

    report: dict[str, Any] = {**provenance(command_line("onnx_accuracy", argv)),
                              "model": args.model or f"fresh heads on {args.encoder} (untrained)",
                              "corpus": args.corpus, "split": args.split, "sentences": len(words), "labels": labels,
                              "threshold": threshold}
    gold = [gold_spans(example) for example in dataset]
    with tempfile.TemporaryDirectory() as directory:
        report["export"] = export_onnx(model, directory, quantize=True)
        variants = {"torch": model, "onnx fp32": KoGNERONNXModel.from_pretrained(directory),
                    "onnx int8": KoGNERONNXModel.from_pretrained(directory, quantized=True)}
        scores = {name: probabilities(predictor, batches, labels) for name, predictor in variants.items()}
        spans = {}
        for name, predictor in variants.items():
            found = predictor.predict_word_spans(words, labels, threshold, batch_size=args.batch_size)
            spans[name] = [[(span.start, span.end, labels[span.label]) for span in sentence] for sentence in found]
    reference = np.concatenate([array.ravel() for array in scores["torch"]])
    # How much of the decision rests on scores that small deltas can flip (high for untrained heads).
    report["torch_scores_within_0.1_of_threshold"] = float((np.abs(reference - threshold) < 0.1).mean())
    report["variants"] = {}
    for name in variants:
        values = np.concatenate([array.ravel() for array in scores[name]])
        delta = np.abs(values - reference)
        agreement = span_scores(spans["torch"], spans[name])
        report["variants"][name] = {
            "mean_abs_score_delta": float(delta.mean()), "p99_abs_score_delta": float(np.quantile(delta, 0.99)),
            "max_abs_score_delta": float(delta.max()),
            "decisions_flipped": float(((values >= threshold) != (reference >= threshold)).mean()),
            "span_pairs_compared": int(values.size),
            "agreement_f1_vs_torch": agreement["f1"], "entities": agreement["predicted"],
            "gold_f1": span_scores(gold, spans[name])["f1"],
        }
    lines = ["| variant | mean abs score delta | p99 | max | decisions flipped | entity agreement F1 vs torch | gold F1 |",
             "|---|---|---|---|---|---|---|"]
    for name, row in report["variants"].items():
        lines.append(f"| {name} | {row['mean_abs_score_delta']:.2e} | {row['p99_abs_score_delta']:.2e} | "
                     f"{row['max_abs_score_delta']:.2e} | {100 * row['decisions_flipped']:.3f}% | "
                     f"{100 * row['agreement_f1_vs_torch']:.1f} | {100 * row['gold_f1']:.1f} |")
    report["markdown"] = "\n".join(lines)
    print("\n" + report["markdown"] + "\n")
    write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
