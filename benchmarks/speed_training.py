"""The training arms of ``benchmarks.speed``: samples/s of KoGNER's Trainer and collator against the ``gliner``
package's own trainer on the same examples, steps and batch size."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.measure import PeakMemory, synchronize
from benchmarks.speed_setup import load_gliner, load_kogner


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
