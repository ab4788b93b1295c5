"""KoGNERTrainer: the Hugging Face Trainer with KoGNER's composite loss logging, span-level evaluation and card."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from accelerate.utils import gather_object
from datasets import Dataset
from transformers import Trainer

from kogner.evaluation.evaluate import predict_spans
from kogner.evaluation.metrics import gold_spans, span_scores
from kogner.schema import dataset_labels

ENCODER_PREFIXES = ("encoder.", "label_encoder.")


class KoGNERTrainer(Trainer):
    """A small Trainer subclass.

    * ``compute_loss`` returns ``a * lang_loss + b * dist_loss`` and logs both parts separately;
    * ``evaluate`` decodes spans on each evaluation set (sharded over processes) and reports strict micro
      P/R/F1 and per-label F1 as ``eval_<set>_f1`` etc. (a single set gives plain ``eval_f1``);
    * ``encoder_learning_rate`` trains the pretrained encoders slower than the freshly initialised heads;
    * ``create_model_card`` writes KoGNER's card (also used by ``push_to_hub``).

    Args:
        eval_labels: labels to prompt with per evaluation set (default: the types annotated in that set).
        encoder_learning_rate: learning rate of ``encoder``/``label_encoder`` (default: ``args.learning_rate``).
        card_info: extra facts for the model card (teacher, data, ...), see ``kogner.training.model_card``.
    """

    def __init__(
        self,
        *args: Any,
        eval_labels: Mapping[str, list[str]] | None = None,
        encoder_learning_rate: float | None = None,
        card_info: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The model normalises its loss per window itself; it must not receive num_items_in_batch.
        self.model_accepts_loss_kwargs = False
        self.eval_labels = dict(eval_labels or {})
        self.encoder_learning_rate = encoder_learning_rate
        self.card_info = dict(card_info or {})
        self.last_eval_results: dict[str, dict[str, Any]] = {}
        self._loss_parts: dict[str, float] = {"lang_loss": 0.0, "dist_loss": 0.0}
        self._loss_part_steps = 0

    # ------------------------------------------------------------------------------------------------ training
    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        outputs = model(**inputs)
        if model.training:
            self._loss_parts["lang_loss"] += outputs.lang_loss.detach().item()
            self._loss_parts["dist_loss"] += outputs.dist_loss.detach().item()
            self._loss_part_steps += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._loss_part_steps:
            for name, total in self._loss_parts.items():
                logs[name] = round(total / self._loss_part_steps, 6)
                self._loss_parts[name] = 0.0
            self._loss_part_steps = 0
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
    def evaluate(
        self,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Strict span P/R/F1 on each evaluation set; returns (and logs) flat ``{prefix}_...`` metrics."""
        eval_dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if eval_dataset is None:
            raise ValueError("KoGNERTrainer.evaluate needs an eval_dataset")
        sets = eval_dataset if isinstance(eval_dataset, dict) else {"": eval_dataset}
        model = self.accelerator.unwrap_model(self.model)
        metrics: dict[str, float] = {}
        self.last_eval_results = {}
        for name, dataset in sets.items():
            labels = self.eval_labels.get(name) or dataset_labels(dataset)
            shard = dataset.shard(self.args.world_size, self.args.process_index, contiguous=True)
            predicted = predict_spans(
                model,
                shard["tokens"],
                labels,
                batch_size=self.args.per_device_eval_batch_size,
                progress=self.is_world_process_zero() and not self.args.disable_tqdm,
                description=f"eval {name}".strip(),
            )
            gold = [gold_spans(example) for example in shard]
            if self.args.world_size > 1:
                predicted, gold = gather_object(predicted), gather_object(gold)
            scores = span_scores(gold, predicted)
            scores["labels"] = labels
            self.last_eval_results[name or "eval"] = scores
            prefix = f"{metric_key_prefix}_{name}" if name else metric_key_prefix
            for key in ("precision", "recall", "f1"):
                metrics[f"{prefix}_{key}"] = scores[key]
            for label, values in scores["per_label"].items():
                metrics[f"{prefix}_{label.replace(' ', '_')}_f1"] = values["f1"]
        if len(sets) > 1:
            metrics[f"{metric_key_prefix}_f1"] = sum(s["f1"] for s in self.last_eval_results.values()) / len(sets)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ----------------------------------------------------------------------------------------------- model card
    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """Write KoGNER's model card (README.md) into ``args.output_dir``; ``push_to_hub`` uploads it."""
        if not self.is_world_process_zero():
            return
        from .model_card import write_model_card

        write_model_card(
            self.args.output_dir,
            self.accelerator.unwrap_model(self.model),
            self.args,
            self.last_eval_results,
            self.card_info,
        )
