"""Inference and training speed of KoGNER against the bare encoder (the floor) and the `gliner` package.

On the same sentences and labels, in one run:
  (i)   the bare encoder's forward pass (AutoModel of the same encoder, batched, no_grad, sentences sorted by
        length like KoGNER does): the physical floor for any model on this encoder;
  (ii)  KoGNER ``batch_predict_entities`` (batch 1 and 32) and a ``predict_entities`` loop;
  (iii) the ``gliner`` package's span model built around the same local encoder (``GLiNER.from_config``, offline),
        predicting with ``GLiNER.inference`` (batch 1 and 32);
and training samples/s of KoGNER (its Trainer and collator) vs the ``gliner`` package's own trainer on the same data.

Reported: sentences/s, tokens/s (the sentences' encoder sub-tokens, identical for every arm, so the token rate
measures useful work), peak RSS growth and (CUDA) peak allocated memory, and the ratios (ii)/(i) and (ii)/(iii).
Speed does not depend on the weights, so ``--random-init`` builds the encoder from its config alone (for machines
without the weights); the heads of KoGNER and gliner are freshly initialised either way unless ``--model`` names a
trained KoGNER model.

Runs where only torch + transformers (+ accelerate) are installed: gliner is skipped with a note when absent, and
``--sentences-file`` (written here with ``--dump-sentences``) replaces the benchmark corpus and ``datasets``.

    python benchmarks/speed.py                      # MiniLM, 256 bc5cdr test sentences, CPU
    python benchmarks/speed.py --dump-sentences /tmp/speed_sentences.json --quick
    python benchmarks/speed.py --device cuda --random-init --encoder ENC_DIR --sentences-file speed_sentences.json
    python benchmarks/speed.py --long-text          # a 1 MB text vs a 1 kB one (benchmarks/long_text.py)
    python benchmarks/speed.py --onnx --onnx-int8 --no-gliner --train-steps 0   # + ONNX Runtime arms (iv)
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from common import RESULTS_DIR, PeakMemory, heavy_processes, machine_info, synchronize, write_json  # noqa: E402
from long_text import add_arguments as add_long_text_arguments, run_long_text  # noqa: E402
from onnx_arms import add_onnx_arguments, onnx_arms, onnx_ratios  # noqa: E402

import torch  # noqa: E402

DEFAULT_LABELS = ["chemical", "disease"]
BATCH_SIZES = (1, 32)


# ---------------------------------------------------------------------------------------------------------- data
def synthetic_sentences(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Biomedical-looking sentences with gold spans, for when neither a sentences file nor the corpus exists."""
    generator = random.Random(seed)
    chemicals = ["aspirin", "cisplatin", "tamoxifen", "lithium carbonate", "doxorubicin", "valproic acid"]
    diseases = ["breast cancer", "nephrotoxicity", "Reye syndrome", "hepatitis", "heart failure", "seizures"]
    fillers = "the patients who received treatment with developed severe after of in and a study showed".split()
    sentences = []
    for _ in range(count):
        tokens: list[str] = []
        ner = []
        for _ in range(generator.randint(2, 5)):
            tokens += generator.sample(fillers, generator.randint(2, 6))
            label, names = generator.choice([("chemical", chemicals), ("disease", diseases)])
            words = generator.choice(names).split()
            ner.append({"start": len(tokens), "end": len(tokens) + len(words) - 1, "label": label})
            tokens += words
        tokens.append(".")
        sentences.append({"tokens": tokens, "ner": ner})
    return sentences


def load_sentences(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], str]:
    """(evaluation sentences, labels, training examples, description of the source)."""
    if args.sentences_file:
        payload = json.loads(Path(args.sentences_file).read_text())
        if not isinstance(payload, dict) or "sentences" not in payload:
            raise ValueError(f"{args.sentences_file}: expected a JSON object with 'sentences' (and 'labels', 'train')")
        for position, sentence in enumerate(payload["sentences"]):
            if not isinstance(sentence, dict) or not isinstance(sentence.get("tokens"), list):
                raise ValueError(f"{args.sentences_file}: sentence #{position} needs a 'tokens' list")
        sentences = payload["sentences"][: args.sentences]
        train = payload.get("train") or sentences
        return sentences, payload.get("labels") or DEFAULT_LABELS, train, f"file {args.sentences_file}"
    try:
        from kogner.corpora.registry import BENCHMARK_LABELS, load_benchmark

        corpus = load_benchmark(args.corpus, "test", data_dir=args.data_dir)
    except (ImportError, FileNotFoundError) as error:
        print(f"note: corpus {args.corpus} unavailable ({error.__class__.__name__}); using synthetic sentences",
              file=sys.stderr)
        sentences = synthetic_sentences(args.sentences)
        return sentences, DEFAULT_LABELS, synthetic_sentences(512, seed=1), "synthetic sentences"
    # A fixed random sample (not the first N) so that sentence lengths are representative.
    rows = sorted(random.Random(0).sample(range(len(corpus)), min(args.sentences, len(corpus))))
    sentences = [{"tokens": corpus[row]["tokens"], "ner": corpus[row]["ner"]} for row in rows]
    train = load_training_examples(args)
    return sentences, list(BENCHMARK_LABELS[args.corpus]), train, f"{args.corpus} test ({len(rows)} sampled)"


def load_training_examples(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The first training examples of the generated KG data (``--train-data``), else synthetic ones."""
    try:
        from datasets import load_from_disk

        data = load_from_disk(args.train_data)["train"]
    except (ImportError, FileNotFoundError, KeyError) as error:
        print(f"note: training data {args.train_data} unavailable ({error}); using synthetic sentences",
              file=sys.stderr)
        return synthetic_sentences(512, seed=1)
    count = min(len(data), 1024)
    return [{"tokens": row["tokens"], "ner": row["ner"]} for row in data.select(range(count))]


# ---------------------------------------------------------------------------------------------------------- models
def load_bare_encoder(encoder: str, random_init: bool, device: str) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModel

    if random_init:
        torch.manual_seed(0)
        model = AutoModel.from_config(AutoConfig.from_pretrained(encoder))
    else:
        model = AutoModel.from_pretrained(encoder)
    return model.to(device).eval()


def load_kogner(args: argparse.Namespace, encoder: str, trained: str | None = None) -> Any:
    """A trained model from ``trained``, else fresh heads (hidden 512, width 8 as in the configs) on ``encoder``."""
    from transformers import AutoConfig, AutoTokenizer

    from modeling_kogner import KoGNERConfig, KoGNERModel

    torch.manual_seed(0)
    if trained:
        model = KoGNERModel.from_pretrained(trained)
    elif args.random_init:
        config = KoGNERConfig(encoder_config=AutoConfig.from_pretrained(encoder).to_dict(), hidden_size=512, max_width=8)
        model = KoGNERModel(config)
        model.tokenizer = AutoTokenizer.from_pretrained(encoder)
    else:
        model = KoGNERModel.from_encoder(encoder, hidden_size=512, max_width=8)
    return model.to(args.device).eval()


def load_gliner(args: argparse.Namespace, encoder: str) -> tuple[Any, str | None]:
    """The gliner package's span model around the same encoder, or (None, why it was skipped)."""
    try:
        from gliner import GLiNER, GLiNERConfig
    except ImportError as error:
        return None, f"gliner not installed ({error}); `pip install gliner` to include it"
    torch.manual_seed(0)
    config = GLiNERConfig(model_name=encoder, max_width=8, hidden_size=512, max_len=384)
    model = GLiNER.from_config(
        config, backbone_from_pretrained=not args.random_init, map_location=args.device, local_files_only=True
    )
    return model, None


# ---------------------------------------------------------------------------------------------------- measurement
def subtoken_count(tokenizer: Any, sentences: Sequence[Sequence[str]]) -> int:
    """Encoder sub-tokens of the sentences' words (no special tokens, no label prompts)."""
    encoded = tokenizer(list(map(list, sentences)), is_split_into_words=True, add_special_tokens=False)
    return sum(len(ids) for ids in encoded["input_ids"])


REPEATS = 1  # set from --repeats


def measure(name: str, run: Callable[[], int], sentences: int, tokens: int, device: str) -> dict[str, Any]:
    """Median time of ``REPEATS`` passes of ``run`` (the caller warms up first), with the peak memory of all passes."""
    gc.collect()
    synchronize(device)
    durations = []
    with PeakMemory(device) as memory:
        for _ in range(REPEATS):
            start = time.perf_counter()
            entities = run()
            synchronize(device)
            durations.append(time.perf_counter() - start)
    seconds = sorted(durations)[len(durations) // 2]
    result = {
        "arm": name,
        "seconds": round(seconds, 4),
        "repeats": REPEATS,
        "sentences_per_s": round(sentences / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_rss_delta_mib": None if memory.rss_delta_mib is None else round(memory.rss_delta_mib, 1),
        "peak_cuda_mib": None if memory.cuda_peak_mib is None else round(memory.cuda_peak_mib, 1),
        "entities_found": entities,
    }
    print(f"  {name:<40} {result['sentences_per_s']:>9.1f} sent/s {result['tokens_per_s']:>10.0f} tok/s", flush=True)
    return result


def bare_encoder_run(encoder: Any, tokenizer: Any, words: list[list[str]], batch_size: int, device: str) -> Callable[[], int]:
    order = sorted(range(len(words)), key=lambda row: len(words[row]))  # as KoGNER sorts windows: less padding

    @torch.no_grad()
    def run() -> int:
        for first in range(0, len(order), batch_size):
            chunk = [words[row] for row in order[first : first + batch_size]]
            batch = tokenizer(chunk, is_split_into_words=True, padding=True, truncation=True, return_tensors="pt")
            encoder(**{key: value.to(device) for key, value in batch.items()}).last_hidden_state
        return 0

    return run


def inference_arms(args: argparse.Namespace, sentences: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from kogner.defaults import resolve_encoder

    encoder_path = resolve_encoder(args.encoder)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    words = [list(sentence["tokens"]) for sentence in sentences]
    texts = [" ".join(tokens) for tokens in words]
    count, tokens = len(words), subtoken_count(tokenizer, words)
    warm = texts[: min(8, count)]
    results: list[dict[str, Any]] = []
    notes: list[str] = []

    bare = load_bare_encoder(encoder_path, args.random_init, args.device)
    for batch_size in BATCH_SIZES:
        bare_encoder_run(bare, tokenizer, words[:8], batch_size, args.device)()
        results.append(measure(f"(i) bare encoder, batch {batch_size}",
                               bare_encoder_run(bare, tokenizer, words, batch_size, args.device),
                               count, tokens, args.device))
    del bare

    kogner = load_kogner(args, encoder_path, args.model)
    threshold = args.threshold
    kogner.batch_predict_entities(warm, labels, threshold, batch_size=8)
    for batch_size in BATCH_SIZES:
        results.append(measure(
            f"(ii) KoGNER batch_predict_entities, batch {batch_size}",
            lambda: sum(map(len, kogner.batch_predict_entities(texts, labels, threshold, batch_size=batch_size))),
            count, tokens, args.device))
    results.append(measure(
        "(ii) KoGNER predict_entities (one call per sentence)",
        lambda: sum(len(kogner.predict_entities(text, labels, threshold)) for text in texts),
        count, tokens, args.device))
    if args.onnx:
        onnx_rows, onnx_notes = onnx_arms(args, kogner, texts, labels, threshold, BATCH_SIZES, count, tokens)
        results += onnx_rows
        notes += onnx_notes
    del kogner

    gliner, skipped = load_gliner(args, encoder_path)
    if gliner is None:
        notes.append(f"(iii) skipped: {skipped}")
        print(f"  (iii) skipped: {skipped}", flush=True)
    else:
        gliner_threshold = 0.5 if threshold is None else threshold
        with torch.no_grad():
            gliner.inference(warm, labels, threshold=gliner_threshold, batch_size=8)
        for batch_size in BATCH_SIZES:
            def run_gliner(batch_size: int = batch_size) -> int:
                with torch.no_grad():
                    found = gliner.inference(texts, labels, threshold=gliner_threshold, batch_size=batch_size)
                return sum(map(len, found))

            results.append(measure(f"(iii) gliner inference, batch {batch_size}", run_gliner, count, tokens,
                                   args.device))
        del gliner
    gc.collect()
    return {"sentences": count, "subtokens": tokens, "labels": labels, "rows": results, "notes": notes}


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """(ii)/(i) and (ii)/(iii) of tokens/s at each batch size."""
    rate = {row["arm"]: row["tokens_per_s"] for row in rows}
    found: dict[str, float] = {}
    for batch_size in BATCH_SIZES:
        kogner = rate.get(f"(ii) KoGNER batch_predict_entities, batch {batch_size}")
        bare = rate.get(f"(i) bare encoder, batch {batch_size}")
        gliner = rate.get(f"(iii) gliner inference, batch {batch_size}")
        if kogner and bare:
            found[f"KoGNER / bare encoder, batch {batch_size}"] = round(kogner / bare, 3)
        if kogner and gliner:
            found[f"KoGNER / gliner, batch {batch_size}"] = round(kogner / gliner, 3)
    found.update(onnx_ratios(rows, BATCH_SIZES))
    return found


# -------------------------------------------------------------------------------------------------------- training
class StepTimer:
    """A TrainerCallback recording the wall clock at every optimizer step (steady-state rate excludes step 1)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.times: list[float] = []

    def __getattr__(self, name: str) -> Any:  # every other TrainerCallback event: do nothing
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        synchronize(self.device)
        self.times.append(time.perf_counter())

    def samples_per_s(self, batch_size: int) -> float | None:
        if len(self.times) < 2:
            return None
        return (len(self.times) - 1) * batch_size / (self.times[-1] - self.times[0])


def train_kogner(args: argparse.Namespace, train: list[dict[str, Any]], output_dir: Path) -> dict[str, Any]:
    from transformers import Trainer, TrainingArguments

    from kogner.training.collator import KoGNERDataCollator
    from kogner.defaults import resolve_encoder

    try:
        from kogner.training.trainer import KoGNERTrainer as TrainerClass
    except ImportError:  # kogner.training.trainer needs `datasets`; the plain Trainer runs the same model and collator
        TrainerClass = Trainer
    model = load_kogner(args, resolve_encoder(args.encoder)).train()  # fresh heads, whatever --model says
    labels = sorted({entity["label"] for example in train for entity in example["ner"]})
    collator = KoGNERDataCollator.from_model(model, negative_label_pool=labels, num_negative_labels=4)
    examples = [{**example, "kge": []} for example in train]
    training_args = TrainingArguments(
        output_dir=str(output_dir / "kogner"), max_steps=args.train_steps, per_device_train_batch_size=args.train_batch,
        learning_rate=1e-4, save_strategy="no", report_to="none", logging_steps=10_000, disable_tqdm=True,
        dataloader_num_workers=0, remove_unused_columns=False, use_cpu=args.device == "cpu", seed=0,
    )
    timer = StepTimer(args.device)
    trainer = TrainerClass(model=model, args=training_args, train_dataset=examples, data_collator=collator,
                           callbacks=[timer])
    with PeakMemory(args.device) as memory:
        trainer.train()
    return _training_row(f"KoGNER ({TrainerClass.__name__} + KoGNERDataCollator)", timer, args, memory)


def train_gliner(args: argparse.Namespace, train: list[dict[str, Any]], output_dir: Path) -> dict[str, Any] | str:
    from kogner.defaults import resolve_encoder

    model, skipped = load_gliner(args, resolve_encoder(args.encoder))
    if model is None:
        return f"gliner training skipped: {skipped}"
    examples = [
        {"tokenized_text": list(example["tokens"]),
         "ner": [[entity["start"], entity["end"], entity["label"]] for entity in example["ner"]]}
        for example in train
    ]
    training_args = model.create_training_args(
        output_dir=str(output_dir / "gliner"), max_steps=args.train_steps,
        per_device_train_batch_size=args.train_batch, learning_rate=1e-4, save_strategy="no", report_to="none",
        logging_steps=10_000, disable_tqdm=True, dataloader_num_workers=0, use_cpu=args.device == "cpu", seed=0,
    )
    timer = StepTimer(args.device)
    model.train()
    original_trainer_init = _add_callback(timer)
    try:
        with PeakMemory(args.device) as memory:
            model.train_model(examples, None, training_args=training_args)
    finally:
        original_trainer_init()
    return _training_row("gliner (its own Trainer and collator)", timer, args, memory)


def _add_callback(timer: StepTimer) -> Callable[[], None]:
    """gliner's train_model builds its Trainer internally: register the timer on every Trainer created meanwhile."""
    from transformers import Trainer

    original = Trainer.__init__

    def init_with_timer(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [timer]
        original(self, *args, **kwargs)

    Trainer.__init__ = init_with_timer

    def restore() -> None:
        Trainer.__init__ = original

    return restore


def _training_row(name: str, timer: StepTimer, args: argparse.Namespace, memory: PeakMemory) -> dict[str, Any]:
    rate = timer.samples_per_s(args.train_batch)
    print(f"  {name:<55} {rate or float('nan'):>8.2f} samples/s", flush=True)
    return {
        "arm": name,
        "steps": len(timer.times),
        "batch_size": args.train_batch,
        "samples_per_s": None if rate is None else round(rate, 2),
        "peak_rss_delta_mib": None if memory.rss_delta_mib is None else round(memory.rss_delta_mib, 1),
        "peak_cuda_mib": None if memory.cuda_peak_mib is None else round(memory.cuda_peak_mib, 1),
    }


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
    lines += ["", "| ratio (tokens/s) | value |", "|---|---|"]
    lines += [f"| {name} | {value:.2f}x |" for name, value in report["ratios"].items()]
    if report.get("training"):
        lines += ["", "| training | steps | batch | samples/s | peak RSS growth (MiB) | peak CUDA (MiB) |",
                  "|---|---|---|---|---|---|"]
        for row in report["training"]:
            lines.append(f"| {row['arm']} | {row['steps']} | {row['batch_size']} | {_fmt(row['samples_per_s'])} | "
                         f"{_fmt(row['peak_rss_delta_mib'])} | {_fmt(row['peak_cuda_mib'])} |")
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
    parser.add_argument("--corpus", default="bc5cdr", help="benchmark corpus whose test split gives the sentences")
    parser.add_argument("--data-dir", default=None, help="benchmark folder (default: ../shared/data/benchmarks)")
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
    args = parser.parse_args(argv)
    if args.quick:
        args.sentences, args.train_steps = min(args.sentences, 32), min(args.train_steps, 4)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no GPU")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    global REPEATS
    args = parse_args(argv)
    REPEATS = max(1, args.repeats)
    if args.long_text:
        args.sentences = max(args.sentences, 100_000)  # every test sentence: as little repetition as possible
    sentences, labels, train, source = load_sentences(args)
    if args.long_text:
        run_long_text(args, sentences, labels, source, load_kogner)
        return 0
    if args.dump_sentences:
        payload = {"source": source, "labels": labels, "sentences": sentences, "train": train}
        Path(args.dump_sentences).write_text(json.dumps(payload))
        print(f"{len(sentences)} sentences and {len(train)} training examples written to {args.dump_sentences}")
        return 0
    if args.no_gliner:
        sys.modules["gliner"] = None  # type: ignore[assignment]  # makes `import gliner` raise ImportError
    report: dict[str, Any] = {
        "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(args.device),
        "busy_with": heavy_processes(),
        "encoder": args.encoder,
        "random_init": args.random_init,
        "sentence_source": source,
    }
    print(f"inference on {len(sentences)} sentences from {source}, labels {labels}, device {args.device}", flush=True)
    report["inference"] = inference_arms(args, sentences, labels)
    report["ratios"] = ratios(report["inference"]["rows"])
    report["notes"] = list(report["inference"].pop("notes"))
    report["training"] = []
    if args.train_steps > 0:
        import tempfile

        print(f"training speed: {args.train_steps} steps of batch {args.train_batch}", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            report["training"].append(train_kogner(args, train, Path(scratch)))
            gliner_row = train_gliner(args, train, Path(scratch))
            if isinstance(gliner_row, str):
                report["notes"].append(gliner_row)
            else:
                report["training"].append(gliner_row)
        rates = {row["arm"].split(" ")[0]: row["samples_per_s"] for row in report["training"]}
        if rates.get("KoGNER") and rates.get("gliner"):
            report["ratios"]["KoGNER / gliner, training samples/s"] = round(rates["KoGNER"] / rates["gliner"], 3)
    if report["busy_with"]:
        report["notes"].append("other heavy jobs were running: " + "; ".join(report["busy_with"]))
    table = markdown(report)
    report["markdown"] = table
    print("\n" + table)
    write_json(Path(args.output), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
