"""The fair peer baseline: the `gliner` package trained with its own code on KoGNER's data and steps, scored by our scorer.

Same encoder (offline MiniLM by default), same training sentences (``--train-data``, as for train.py, converted to
gliner's ``{"tokenized_text", "ner": [[start, end, label]]}``), same steps, batch size, learning rates and seed as
KoGNER's run; then gliner predicts on each corpus' test split with its batch API and its character offsets are
mapped back to word indices and scored with ``kogner.evaluation.metrics.span_scores`` (strict span+type), exactly
as ``evaluate.py`` scores KoGNER. With ``--dev`` the threshold is chosen on those dev sets by the same procedure as
KoGNER's (`kogner.evaluation.threshold`); ``benchmarks.supervised`` runs the peer this way in the same run.

    python -m benchmarks.peer --quick                 # 30 steps, 100 sentences per corpus (a smoke run)
    python -m benchmarks.peer --steps 900             # the cpu-demo budget
    python -m benchmarks.peer --train-data runs/data bionlp09 --dev bionlp09 runs/data   # threshold from dev sets
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json


def to_gliner_format(dataset: Any) -> list[dict[str, Any]]:
    """Schema examples -> gliner training records (word indices, end inclusive, as gliner expects)."""
    return [
        {"tokenized_text": list(tokens), "ner": [[entity["start"], entity["end"], entity["label"]] for entity in ner]}
        for tokens, ner in zip(dataset["tokens"], dataset["ner"])
    ]


def word_offsets(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The sentence as text (words joined by single spaces) and each word's character span in it."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), offsets


def char_span_to_words(start: int, end: int, offsets: list[tuple[int, int]]) -> tuple[int, int] | None:
    """Word indices (end inclusive) covering the characters ``[start, end)``; None when no word is touched."""
    covered = [index for index, (word_start, word_end) in enumerate(offsets) if word_start < end and start < word_end]
    return (covered[0], covered[-1]) if covered else None


def gliner_scored_spans(model: Any, sentences: Sequence[Sequence[str]], labels: list[str], threshold: float,
                        batch_size: int, description: str) -> list[list[tuple[int, int, str, float]]]:
    """gliner's predictions as ``(start word, end word, label, score)`` per sentence."""
    import torch

    spans: list[list[tuple[int, int, str, float]]] = []
    chunk = batch_size * 8
    with tqdm(total=len(sentences), desc=description, unit="sent") as bar, torch.no_grad():
        for first in range(0, len(sentences), chunk):
            prepared = [word_offsets(tokens) for tokens in sentences[first : first + chunk]]
            found = model.inference([text for text, _ in prepared], labels, threshold=threshold, batch_size=batch_size)
            for (_, offsets), entities in zip(prepared, found):
                sentence = []
                for entity in entities:
                    words = char_span_to_words(entity["start"], entity["end"], offsets)
                    if words is not None:
                        sentence.append((words[0], words[1], entity["label"], float(entity["score"])))
                spans.append(sentence)
            bar.update(len(prepared))
    return spans


def gliner_spans(model: Any, sentences: Sequence[Sequence[str]], labels: list[str], threshold: float,
                 batch_size: int, description: str) -> list[list[tuple[int, int, str]]]:
    """gliner's predictions as ``(start word, end word, label)`` per sentence."""
    found = gliner_scored_spans(model, sentences, labels, threshold, batch_size, description)
    return [[(start, end, label) for start, end, label, _ in sentence] for sentence in found]


def gliner_scored_predict(model: Any, batch_size: int = 32, prompting: str = "joint") -> Any:
    """A `kogner.evaluation.threshold.ScoredPredictFn` for a gliner model (``prompting`` as ``--prompting``)."""

    def predict(sentences: Sequence[Sequence[str]], labels: Sequence[str], threshold: float) -> list[list[Any]]:
        prompts = [[label] for label in labels] if prompting == "per-label" else [list(labels)]
        predicted: list[list[Any]] = [[] for _ in sentences]
        for prompt in prompts:
            found = gliner_scored_spans(model, sentences, prompt, threshold, batch_size, f"{'/'.join(prompt)} @ {threshold}")
            for sentence, spans in zip(predicted, found):
                sentence.extend(spans)
        return predicted

    return predict


def train_gliner(train: list[dict[str, Any]], *, encoder: str, steps: int, batch_size: int, seed: int,
                 learning_rate: float, encoder_learning_rate: float, output_dir: str, device: str) -> tuple[Any, float]:
    """Train gliner (MiniLM-sized heads as KoGNER's: width 8, hidden 512, dropout 0.4) and save it; (model, seconds)."""
    from kogner.defaults import resolve_encoder

    model = build_gliner(resolve_encoder(encoder), max_width=8, hidden_size=512, dropout=0.4, device=device)
    training_args = model.create_training_args(
        output_dir=output_dir, max_steps=steps, per_device_train_batch_size=batch_size,
        learning_rate=encoder_learning_rate, others_lr=learning_rate, weight_decay=0.01,
        lr_scheduler_type="cosine", warmup_ratio=0.1, save_strategy="no", report_to="none", logging_steps=50,
        dataloader_num_workers=0, use_cpu=device == "cpu", seed=seed,
    )
    start = time.perf_counter()
    model.train_model(train, None, training_args=training_args)
    seconds = time.perf_counter() - start
    model.save_pretrained(output_dir)
    return model, seconds


def build_gliner(encoder: str, max_width: int, hidden_size: int, dropout: float, device: str) -> Any:
    from gliner import GLiNER, GLiNERConfig

    config = GLiNERConfig(model_name=encoder, max_width=max_width, hidden_size=hidden_size, dropout=dropout,
                          max_len=384)
    return GLiNER.from_config(config, backbone_from_pretrained=True, map_location=device, local_files_only=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="minilm", help="encoder directory or Hub id ('minilm' = offline MiniLM)")
    parser.add_argument("--train-data", default=["runs/data"], help="training source(s) as for train.py (train split)",
                        nargs="+")
    parser.add_argument("--corpora", nargs="*", default=None,
                        help="evaluation sources as for evaluate.py (default: every evaluation corpus present + runs/data:test)")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--steps", type=int, default=900, help="optimizer steps (cpu-demo.yaml: 900)")
    parser.add_argument("--batch-size", type=int, default=8, help="training batch size (cpu-demo.yaml: 8)")
    parser.add_argument("--seed", type=int, default=42, help="training seed (cpu-demo.yaml: 42)")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="heads' learning rate (cpu-demo: 1e-4)")
    parser.add_argument("--encoder-learning-rate", type=float, default=3e-5, help="encoder learning rate (3e-5)")
    parser.add_argument("--threshold", type=float, nargs="+", default=[0.5, 0.3],
                        help="decision threshold(s) at prediction time; each is scored on the same trained model "
                             "(0.5 = gliner's default, 0.3 = configs/cpu-demo.yaml's)")
    parser.add_argument("--dev", nargs="+", default=None,
                        help="dev sources (default split: validation) to choose the threshold on instead of --threshold "
                             "(kogner.evaluation.threshold: best mean F1); test splits are refused")
    parser.add_argument("--prompting", choices=["joint", "per-label"], default="joint",
                        help="joint: all of a corpus' labels in one prompt (as KoGNER is scored); per-label: one "
                             "prompt per label, spans merged (gliner's prompt shares the encoder with the text, "
                             "and a short-trained model can go silent when given 5-8 labels at once)")
    parser.add_argument("--max-eval", type=int, default=None, help="first N sentences per evaluation corpus")
    parser.add_argument("--eval-batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--output-dir", default="runs/bench/peer", help="where the trained gliner model is saved")
    parser.add_argument("--quick", action="store_true", help="30 steps and 100 sentences per corpus (a smoke run)")
    parser.add_argument("--output", default=str(RESULTS_DIR / "peer.json"), help="JSON results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps = min(args.steps, 30)
        args.max_eval = min(args.max_eval or 100, 100)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from transformers import set_seed

    from kogner.corpora.mix import load_training_mix, resolve_eval_sets
    from kogner.evaluation.evaluate import markdown_table
    from kogner.evaluation.metrics import gold_spans, span_scores
    from kogner.evaluation.threshold import select_threshold, spans_at

    run_info = provenance(command_line("peer", argv), args.device, seeds=[args.seed])
    set_seed(args.seed)
    train = to_gliner_format(load_training_mix(args.train_data, args.data_dir, args.seed))
    eval_sets = resolve_eval_sets(args.corpora, args.data_dir, "test")
    if args.corpora is None and Path("runs/data").exists():
        eval_sets.update(resolve_eval_sets(["runs/data"], args.data_dir, "test"))
    if not eval_sets:
        print("no evaluation corpus found; pass --corpora or --data-dir", file=sys.stderr)
        return 2
    dev_sets = resolve_eval_sets(args.dev, args.data_dir, "validation") if args.dev else {}

    model, train_seconds = train_gliner(
        train, encoder=args.encoder, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
        learning_rate=args.learning_rate, encoder_learning_rate=args.encoder_learning_rate,
        output_dir=args.output_dir, device=args.device,
    )
    predict = gliner_scored_predict(model, args.eval_batch_size, args.prompting)
    thresholds, threshold_choice = list(args.threshold), None
    if dev_sets:
        if args.max_eval:
            dev_sets = {name: (data.select(range(min(args.max_eval, len(data)))), labels)
                        for name, (data, labels) in dev_sets.items()}
        threshold_choice, _ = select_threshold(predict, dev_sets)
        thresholds = [threshold_choice.threshold]
        print(f"threshold chosen on {', '.join(dev_sets)}: {threshold_choice.threshold}")

    results: dict[str, dict[str, dict[str, Any]]] = {}  # threshold -> corpus -> scores
    eval_seconds, sentences = 0.0, 0
    for name, (dataset, labels) in eval_sets.items():
        if args.max_eval:
            dataset = dataset.select(range(min(args.max_eval, len(dataset))))
        start = time.perf_counter()
        scored = predict(dataset["tokens"], labels, min(thresholds))  # one pass; higher thresholds filter it
        eval_seconds += time.perf_counter() - start
        sentences += len(dataset)
        gold = [gold_spans(example) for example in dataset]
        for threshold in thresholds:
            scores = results.setdefault(str(threshold), {})[name] = span_scores(gold, spans_at(scored, threshold))
            scores["labels"] = labels
    table = "\n\n".join(f"threshold {threshold}:\n\n{markdown_table(per_corpus)}"
                         for threshold, per_corpus in results.items())
    print("\n" + table)
    write_json(args.output, {
        **run_info,
        "settings": {key: value for key, value in vars(args).items() if key != "output"},
        "training_sentences": len(train),
        "train_seconds": round(train_seconds, 1),
        "eval_sentences_per_s": round(sentences / eval_seconds, 2) if eval_seconds else None,
        "threshold_choice": threshold_choice.to_dict() if threshold_choice else None,
        "results": results,
        "markdown": table,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
