"""The training arms of ``benchmarks.speed``: samples/s of KoGNER's Trainer and collator against the bare encoder's
forward + backward + optimizer step on the same batches (the floor) and against the ``gliner`` package's own trainer,
on the same examples, steps and batch size."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from benchmarks.measure import PeakMemory, synchronize
from benchmarks.speed_setup import load_bare_encoder, load_gliner, load_kogner

BARE_ARM = "bare encoder (forward + backward + AdamW, same batches)"


class StepTimer:
    """A TrainerCallback (or called after each step of a hand-written loop) recording the wall clock at every
    optimizer step (steady-state rate excludes step 1)."""

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


def trainer_settings(args: argparse.Namespace, output_dir: Path) -> dict[str, Any]:
    """The ``TrainingArguments`` every training arm shares: ``--train-steps`` steps of ``--train-batch``, lr 1e-4,
    seed 0, no checkpoints, logging or progress bar, loading in the main process."""
    return {
        "output_dir": str(output_dir), "max_steps": args.train_steps, "per_device_train_batch_size": args.train_batch,
        "learning_rate": 1e-4, "save_strategy": "no", "report_to": "none", "logging_steps": 10_000,
        "disable_tqdm": True, "dataloader_num_workers": 0, "use_cpu": args.device == "cpu", "seed": 0,
    }


def trainer_batches(examples: Sequence[Any], batch_size: int, steps: int, seed: int = 0) -> Iterator[list[Any]]:
    """The first ``steps`` batches that Hugging Face's Trainer (``seed``, no ``data_seed``, one process) draws.

    Its training sampler is accelerate's ``SeedableRandomSampler``: epoch ``e`` visits ``torch.randperm(n)`` drawn
    from a generator seeded ``seed + e``, cut into batches of ``batch_size``, the epoch's last one possibly short
    (``dataloader_drop_last`` is off). ``tests/test_speed.py`` checks this against a real Trainer.
    """
    if not examples:
        raise ValueError("no training examples")
    produced, epoch = 0, 0
    while produced < steps:
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed + epoch)).tolist()
        for first in range(0, len(order), batch_size):
            if produced == steps:
                return
            yield [examples[index] for index in order[first : first + batch_size]]
            produced += 1
        epoch += 1


def train_bare_encoder(args: argparse.Namespace, train: list[dict[str, Any]], output_dir: Path) -> dict[str, Any]:
    """The floor of training speed: the bare encoder that KoGNER's model wraps, trained on KoGNER's batches.

    The encoder is loaded as the bare-encoder inference arm loads it (``load_bare_encoder``: ``AutoModel`` of
    ``resolve_encoder(--encoder)``, random weights with ``--random-init``). Identical to the KoGNER arm: the examples,
    the batches and their order (``trainer_batches`` reproduces the Trainer's seed-0 sampler), the encoder inputs
    (each batch goes through a ``WordBatchEncoder`` built as ``KoGNERModel.word_encoder`` builds it, with
    ``KoGNERConfig``'s default window limits: the same sub-token windows, special tokens and padding to the batch's
    longest window as ``KoGNERDataCollator``), collation inside the timed step, and the optimizer (the class and
    settings the Trainer derives from the same ``trainer_settings``: AdamW, lr 1e-4, no weight decay). Not identical,
    by design: there are no label prompts, span heads or KoGNER loss (the loss is the mean square of the last hidden
    state), and no Trainer loop (no gradient clipping, learning-rate schedule, callbacks or loss logging). Each step
    is forward, backward, optimizer step, zero_grad; the rate is timed by ``StepTimer`` like the other arms (the first
    step excluded) and the memory of the whole loop is measured by ``PeakMemory``.
    """
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from kogner.defaults import resolve_encoder
    from modeling_kogner import KoGNERConfig
    from modeling_kogner.processing_kogner import WordBatchEncoder, encoder_token_limit

    encoder_path = resolve_encoder(args.encoder)
    encoder = load_bare_encoder(encoder_path, args.random_init, args.device).train()
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    defaults = KoGNERConfig()
    word_encoder = WordBatchEncoder(tokenizer, encoder_token_limit(tokenizer, encoder.config),
                                    defaults.max_words_per_window, defaults.window_stride)
    training_args = TrainingArguments(**trainer_settings(args, output_dir / "bare"))
    optimizer_class, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(training_args)
    # The Trainer puts the weight decay in its parameter groups, not in these kwargs (torch's AdamW default is 0.01).
    optimizer = optimizer_class(encoder.parameters(), **{"weight_decay": training_args.weight_decay,
                                                         **optimizer_kwargs})
    timer = StepTimer(args.device)
    with PeakMemory(args.device) as memory:
        for examples in trainer_batches(train, args.train_batch, args.train_steps):
            batch = word_encoder.collate(word_encoder.windows([example["tokens"] for example in examples]))
            hidden = encoder(input_ids=batch["input_ids"].to(args.device),
                             attention_mask=batch["attention_mask"].to(args.device)).last_hidden_state
            hidden.float().pow(2).mean().backward()
            optimizer.step()
            optimizer.zero_grad()
            timer.on_step_end()
    return _training_row(BARE_ARM, timer, args, memory)


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
    training_args = TrainingArguments(**trainer_settings(args, output_dir / "kogner"), remove_unused_columns=False)
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
    training_args = model.create_training_args(**trainer_settings(args, output_dir / "gliner"))
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


def training_ratios(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """KoGNER's training samples/s over the bare encoder's (the floor; the target is >= 0.6) and over gliner's, each
    rounded to 3 decimals, for the arms that ran and got a rate."""
    rates = {row["arm"].split(" ")[0]: row["samples_per_s"] for row in rows}
    found: dict[str, float] = {}
    for other, name in (("bare", "bare encoder"), ("gliner", "gliner")):
        if rates.get("KoGNER") and rates.get(other):
            found[f"KoGNER / {name}, training samples/s"] = round(rates["KoGNER"] / rates[other], 3)
    return found


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
