"""KoGNERTrainer: the Hugging Face Trainer with KoGNER's composite loss logging, span-level evaluation, resumable
negative sampling and model card."""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from typing import Any, Callable, Mapping, Sequence

import torch
from accelerate.utils import gather_object
from transformers import Trainer
from transformers.trainer_utils import EvalLoopOutput, get_last_checkpoint

from kogner.evaluation.evaluate import predict_spans
from kogner.evaluation.metrics import gold_spans, span_scores
from kogner.schema import dataset_labels
from modeling_kogner.losses_kogner import LossSettings
from .balance import RunningLossBalance

ENCODER_PREFIXES = ("encoder.", "label_encoder.")
COLLATOR_STATE_NAME = "collator_rng_state"
LOSS_BALANCE_STATE_NAME = "loss_balance_state.json"

logger = logging.getLogger(__name__)


class KoGNERTrainer(Trainer):
    """A small Trainer subclass.

    * the training objective (``LossSettings``: loss weights, focal loss, distillation loss) comes from the training
      arguments (`KoGNERTrainingArguments`) and is set as ``model.loss_settings``; with other ``TrainingArguments``
      the model's own ``loss_settings`` stay;
    * ``compute_loss`` returns ``a * lang_loss + b * dist_loss`` (with ``args.loss_balance="running_mean"``, each
      term divided by a running mean of its own value: `kogner.training.balance`) and logs both raw parts and the
      distillation share of the loss actually optimised;
    * ``evaluation_loop`` decodes spans (sharded over processes) instead of collecting logits, and reports strict
      micro P/R/F1 and per-label F1. ``Trainer.evaluate`` does the rest, so its metric names hold: one evaluation
      dataset gives ``eval_f1``, a dict ``{name: dataset}`` gives ``eval_<name>_f1``; ``metric_for_best_model``,
      ``load_best_model_at_end`` and callbacks (``EarlyStoppingCallback``) see them. The scores of each set are
      kept in ``last_eval_results`` (by set name);
    * the collator's own random state (negative-label sampling) is saved with each checkpoint and restored on
      resume, so a resumed run draws the same negatives as an uninterrupted one (torch/numpy/python RNG and the
      data order are restored by ``Trainer``); this holds with ``dataloader_num_workers=0``;
    * ``encoder_learning_rate`` trains the pretrained encoders slower than the freshly initialised heads;
    * ``create_model_card`` writes KoGNER's card (also used by ``push_to_hub``).

    Args:
        eval_labels: labels to prompt with, by evaluation set name (a key of a dict ``eval_dataset``) or by metric
            prefix (``"eval"`` for a single dataset); default: the types annotated in that set.
        encoder_learning_rate: learning rate of ``encoder``/``label_encoder`` (default: ``args.learning_rate``).
        card_info: extra facts for the model card (teacher, data, ...), see ``kogner.training.model_card``.
    """

    def __init__(
        self,
        *args: Any,
        eval_labels: Mapping[str, Sequence[str]] | None = None,
        encoder_learning_rate: float | None = None,
        card_info: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.args.remove_unused_columns:
            raise ValueError(
                "KoGNERTrainer needs TrainingArguments(remove_unused_columns=False): the collator and the evaluation "
                "read the 'tokens', 'ner' and 'kge' columns, which the model's forward() does not take"
            )
        # The model normalises its loss per window itself; it must not receive num_items_in_batch.
        self.model_accepts_loss_kwargs = False
        self.eval_labels = dict(eval_labels or {})
        self.encoder_learning_rate = encoder_learning_rate
        self.card_info = dict(card_info or {})
        self.last_eval_results: dict[str, dict[str, Any]] = {}
        self._loss_parts: dict[str, float] = {"lang_loss": 0.0, "dist_loss": 0.0, "lang_term": 0.0, "dist_term": 0.0}
        self._loss_part_steps = 0
        if callable(getattr(self.args, "loss_settings", None)):
            self.model.loss_settings = self.args.loss_settings()
        self.loss_settings: LossSettings = self.model.loss_settings
        balanced = getattr(self.args, "loss_balance", "none") == "running_mean"
        self.loss_balance = RunningLossBalance() if balanced else None
        # Collator RNG states after each collated training batch, oldest first; training_step takes one per batch it
        # trains on (the data loader collates ahead), so _collator_state follows the last batch trained on.
        self._pending_collator_states: deque[Any] = deque()
        self._collator_state: Any = None

    # ------------------------------------------------------------------------------------------------ training
    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        outputs = model(**inputs)
        loss = outputs.loss
        if model.training:
            settings = self.loss_settings
            lang_value, dist_value = outputs.lang_loss.detach().item(), outputs.dist_loss.detach().item()
            lang_scale = dist_scale = 1.0
            if self.loss_balance is not None:
                lang_scale = self.loss_balance.update("lang_loss", lang_value)
                distill_index = inputs.get("distill_index")
                if settings.dist_weight and distill_index is not None and distill_index.shape[0] > 0:
                    dist_scale = self.loss_balance.update("dist_loss", dist_value)
                loss = settings.combine(outputs.lang_loss, outputs.dist_loss, lang_scale, dist_scale)
            for name, value in (("lang_loss", lang_value), ("dist_loss", dist_value),
                                ("lang_term", settings.lang_weight * lang_value / lang_scale),
                                ("dist_term", settings.dist_weight * dist_value / dist_scale)):
                self._loss_parts[name] += value
            self._loss_part_steps += 1
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._loss_part_steps:
            parts = {name: total / self._loss_part_steps for name, total in self._loss_parts.items()}
            self._loss_parts = dict.fromkeys(self._loss_parts, 0.0)
            self._loss_part_steps = 0
            logs["lang_loss"], logs["dist_loss"] = round(parts["lang_loss"], 6), round(parts["dist_loss"], 6)
            # --- loss balance (issue 16): the share of the (weighted, balanced) distillation term in the loss
            total = parts["lang_term"] + parts["dist_term"]
            logs["dist_share"] = round(parts["dist_term"] / total, 6) if total > 0 else 0.0
        super().log(logs, start_time)

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is None and self.encoder_learning_rate is not None:
            model = self.model if model is None else model
            decay = set(self.get_decay_parameter_names(model))
            groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
            for name, parameter in model.named_parameters():
                if parameter.requires_grad:
                    groups.setdefault((name.startswith(ENCODER_PREFIXES), name in decay), []).append(parameter)
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
            self.optimizer = optimizer_cls(
                [
                    {
                        "params": parameters,
                        "lr": self.encoder_learning_rate if is_encoder else self.args.learning_rate,
                        "weight_decay": self.args.weight_decay if decays else 0.0,
                    }
                    for (is_encoder, decays), parameters in groups.items()
                ],
                **optimizer_kwargs,
            )
            return self.optimizer
        return super().create_optimizer(model)

    # ---------------------------------------------------------------------------------------------- evaluation
    def evaluation_loop(
        self,
        dataloader: torch.utils.data.DataLoader,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> EvalLoopOutput:
        """Strict span P/R/F1 of the dataset behind ``dataloader`` as ``{metric_key_prefix}_...`` metrics.

        Spans are decoded from the dataset's words (the collator's training batches are not used), each process
        predicting a contiguous shard. No predictions are returned (``Trainer.predict`` gives the metrics only).
        """
        dataset = dataloader.dataset
        if not hasattr(dataset, "shard") or "tokens" not in getattr(dataset, "column_names", ()):
            raise ValueError(f"{metric_key_prefix}: KoGNERTrainer evaluates a datasets.Dataset with 'tokens' and "
                             f"'ner' columns, got {type(dataset).__name__}")
        name = self._eval_set_name(metric_key_prefix)
        labels = list(self.eval_labels.get(name) or self.eval_labels.get(metric_key_prefix) or dataset_labels(dataset))
        shard = dataset.shard(self.args.world_size, self.args.process_index, contiguous=True)
        predicted = predict_spans(
            self.accelerator.unwrap_model(self.model),
            shard["tokens"],
            labels,
            batch_size=self.args.per_device_eval_batch_size,
            progress=self.is_world_process_zero() and not self.args.disable_tqdm,
            description=f"{description} {name}",
        )
        gold = [gold_spans(example) for example in shard]
        if self.args.world_size > 1:
            predicted, gold = gather_object(predicted), gather_object(gold)
        scores = span_scores(gold, predicted)
        scores["labels"] = labels
        scores["threshold"] = self.accelerator.unwrap_model(self.model).config.threshold  # what the card checks
        self.last_eval_results[name] = scores
        metrics = {f"{metric_key_prefix}_{key}": scores[key] for key in ("precision", "recall", "f1")}
        for label in dict.fromkeys([*labels, *scores["per_label"]]):  # every prompt, even if never predicted
            label_f1 = scores["per_label"].get(label, {}).get("f1", 0.0)
            metrics[f"{metric_key_prefix}_{label.replace(' ', '_')}_f1"] = label_f1
        return EvalLoopOutput(predictions=None, label_ids=None, metrics=metrics, num_samples=len(dataset))

    def _eval_set_name(self, metric_key_prefix: str) -> str:
        """The set name in ``{prefix}_{name}`` (how ``Trainer.evaluate`` names the sets of a dict), else the prefix."""
        matches = [name for name in self.eval_labels if metric_key_prefix.endswith(f"_{name}")]
        if matches:
            return max(matches, key=len)
        head, separator, tail = metric_key_prefix.partition("_")
        return tail if separator and head in ("eval", "test") else metric_key_prefix

    # ------------------------------------------------------------------------------------------- deterministic resume
    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        """The Trainer's loader, collating through a wrapper that records the collator's RNG state per batch."""
        collator = self.data_collator
        if not callable(getattr(collator, "rng_state", None)):
            return super().get_train_dataloader()
        self._pending_collator_states.clear()
        self.data_collator = _StateRecordingCollator(collator, self._pending_collator_states)
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = collator

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> torch.Tensor:
        if self._pending_collator_states:
            self._collator_state = self._pending_collator_states.popleft()
        return super().training_step(model, inputs, *args, **kwargs)

    def _save_rng_state(self, output_dir: str) -> None:
        """Trainer's RNG file plus the collator's state after the last batch trained on (JSON)."""
        super()._save_rng_state(output_dir)
        if self._collator_state is not None:
            with open(os.path.join(output_dir, self._collator_state_file()), "w", encoding="utf-8") as handle:
                json.dump(self._collator_state, handle)
        if self.loss_balance is not None:
            balance_file = os.path.join(output_dir, self._state_file(LOSS_BALANCE_STATE_NAME))
            with open(balance_file, "w", encoding="utf-8") as handle:
                json.dump(self.loss_balance.state_dict(), handle)

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``; on resume, the collator's random state is restored before the first batch is drawn."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"resume_from_checkpoint=True: no checkpoint found in {self.args.output_dir}")
        if resume_from_checkpoint:
            self._load_collator_state(str(resume_from_checkpoint))
            balance_file = os.path.join(str(resume_from_checkpoint), self._state_file(LOSS_BALANCE_STATE_NAME))
            if self.loss_balance is not None and os.path.isfile(balance_file):
                with open(balance_file, encoding="utf-8") as handle:
                    self.loss_balance.load_state_dict(json.load(handle))
            elif self.loss_balance is not None:
                logger.warning("%s has no %s: the loss balance's running means start afresh", resume_from_checkpoint,
                               os.path.basename(balance_file))
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _load_collator_state(self, checkpoint: str) -> None:
        set_state: Callable[[Any], None] | None = getattr(self.data_collator, "set_rng_state", None)
        path = os.path.join(checkpoint, self._collator_state_file())
        if set_state is None:
            return
        if not os.path.isfile(path):
            logger.warning("%s has no %s: training resumes, but negative labels are drawn afresh (not bit-identical "
                           "to an uninterrupted run)", checkpoint, self._collator_state_file())
            return
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        set_state(state)
        self._collator_state = state

    def _collator_state_file(self) -> str:
        return self._state_file(f"{COLLATOR_STATE_NAME}.json")

    def _state_file(self, name: str) -> str:
        """``name``, with the process index before the extension when there are several processes."""
        stem, extension = os.path.splitext(name)
        return f"{stem}_{self.args.process_index}{extension}" if self.args.world_size > 1 else name

    # ----------------------------------------------------------------------------------------------- model card
    def create_model_card(self, *args: Any, output_dir: str | None = None, **kwargs: Any) -> None:
        """Write KoGNER's model card (README.md, with a ``model-index`` of the evaluations run so far) into
        ``output_dir`` (default ``args.output_dir``); ``push_to_hub`` calls this before uploading."""
        if not self.is_world_process_zero():
            return
        from .model_card import write_model_card

        write_model_card(
            output_dir or self.args.output_dir,
            self.accelerator.unwrap_model(self.model),
            self.args,
            self.last_eval_results,
            self.card_info,
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """``Trainer.save_model``, plus the model card when called from outside (checkpoints get none)."""
        super().save_model(output_dir, _internal_call=_internal_call)
        if not _internal_call:
            self.create_model_card(output_dir=output_dir)


class _StateRecordingCollator:
    """Calls ``collator`` and queues its ``rng_state()`` after each batch (see ``KoGNERTrainer.training_step``)."""

    def __init__(self, collator: Any, states: deque[Any]) -> None:
        self.collator = collator
        self.states = states

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> Any:
        batch = self.collator(examples)
        self.states.append(self.collator.rng_state())
        return batch
