"""Batches of schema examples (tokens, ner, kge) -> KoGNER training inputs with targets and teacher rows."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from modeling_kogner.processing_kogner import WordBatchEncoder, encode_labels, span_flat_index, span_targets


@dataclass
class TeacherTable:
    """Teacher vectors ``H`` ``[M, r]`` and the KG id of each row, as the collator needs them."""

    vectors: torch.Tensor
    row_of: Mapping[str, int]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


@dataclass
class KoGNERDataCollator:
    """Builds windows, span×label targets, in-batch label sets and distillation pairs for a batch.

    The entity types scored for a batch are the types present in it plus up to ``num_negative_labels`` other
    types (GLiNER-style negatives: the model must learn to say "no" to a type, not only to pick between the gold
    ones). ``label_implications`` makes an entity a positive for further types too, e.g. ``{"phenotype":
    ["disease"]}`` where, as in NCBI-disease and BC5CDR, clinical findings count as diseases. Spans linked to a KG
    id (``kge``) that the teacher knows become distillation pairs; unknown ids and spans wider than ``max_width``
    are counted in ``stats``. With ``num_teacher_negatives`` > 0 the batch also gets that many teacher vectors of
    randomly drawn distillation targets (``negative_teacher_vectors``), the contrastive loss's extra negatives.

    Label masks: an example with an ``annotated_labels`` field (see `kogner.corpora.mix`) only says something
    about the types its source annotates (those, their implied types, and its own gold types). The batch gets a
    ``label_mask`` ``[windows, labels]`` that is True exactly there: a BC2GM sentence is a negative for "gene"
    where it has no gene, but says nothing about "disease". Negatives are drawn from the types the batch's
    examples annotate (a type no example annotates would be masked everywhere); examples without the field count
    every type, and for them negatives come from ``negative_label_pool`` as before.
    """

    word_encoder: WordBatchEncoder
    max_width: int
    max_label_tokens: int = 16
    teacher: TeacherTable | None = None
    negative_label_pool: Sequence[str] = ()
    num_negative_labels: int = 0
    label_implications: Mapping[str, Sequence[str]] = field(default_factory=dict)
    num_teacher_negatives: int = 0
    seed: int = 0
    stats: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._target_rows = sorted(set(self.teacher.row_of.values())) if self.teacher is not None else []

    @classmethod
    def from_model(cls, model: Any, **kwargs: Any) -> "KoGNERDataCollator":
        """A collator matching ``model``'s tokenizer, window limits and span width."""
        return cls(model.word_encoder, model.config.max_width, model.config.max_label_tokens, **kwargs)

    def gold_labels(self, label: str) -> list[str]:
        """The entity's own type followed by the types it implies (``label_implications``)."""
        return [label, *self.label_implications.get(label, ())]

    def annotated_labels(self, example: Mapping[str, Any]) -> set[str] | None:
        """The types ``example``'s source annotates, with implied types; ``None`` (every type) without the field."""
        declared = example.get("annotated_labels")
        if declared is None:
            return None
        annotated: set[str] = set()
        for label in [*declared, *(entity["label"] for entity in example["ner"])]:
            annotated.update(self.gold_labels(label))
        return annotated

    def batch_labels(self, examples: Sequence[Mapping[str, Any]]) -> list[str]:
        """Gold (and implied) types of the batch in first-seen order, then sampled negatives."""
        labels: list[str] = []
        for example in examples:
            for entity in example["ner"]:
                for label in self.gold_labels(entity["label"]):
                    if label not in labels:
                        labels.append(label)
        pool: set[str] = set()
        for annotated in map(self.annotated_labels, examples):
            pool.update(self.negative_label_pool if annotated is None else annotated)
        candidates = sorted(pool - set(labels))
        if candidates and self.num_negative_labels > 0:
            labels += self._random.sample(candidates, min(self.num_negative_labels, len(candidates)))
        return labels

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        windows = self.word_encoder.windows([example["tokens"] for example in examples])
        if not windows:
            raise ValueError("the batch has no words: every example's 'tokens' list is empty")
        batch = self.word_encoder.collate(windows)
        labels = self.batch_labels(examples) or list(self.negative_label_pool[:1]) or ["entity"]
        label_ids = {label: index for index, label in enumerate(labels)}
        batch.update(encode_labels(self.word_encoder.tokenizer, labels, self.max_label_tokens))

        num_words = batch["word_mask"].shape[1]
        targets = torch.zeros((len(windows), num_words * self.max_width, len(labels)))
        annotated = [self.annotated_labels(example) for example in examples]
        if any(labels_of is not None for labels_of in annotated):
            batch["label_mask"] = torch.tensor(
                [[annotated[w.example_index] is None or label in annotated[w.example_index] for label in labels]
                 for w in windows],
                dtype=torch.bool,
            )
        distill_index: list[tuple[int, int]] = []
        teacher_rows: list[int] = []
        for row, window in enumerate(windows):
            example = examples[window.example_index]
            first, last = window.word_offset, window.word_offset + window.num_words - 1
            inside = [
                (entity["start"] - first, entity["end"] - first, label_ids[label])
                for entity in example["ner"]
                if first <= entity["start"] and entity["end"] <= last
                for label in self.gold_labels(entity["label"])
            ]
            window_targets, too_wide = span_targets(inside, window.num_words, len(labels), self.max_width)
            targets[row, : window_targets.shape[0]] = window_targets
            self.stats["entities_too_wide"] += too_wide
            if self.teacher is None:
                continue
            for link in example.get("kge") or []:
                if not (first <= link["start"] and link["end"] <= last):
                    continue
                if link["end"] - link["start"] >= self.max_width:
                    self.stats["links_too_wide"] += 1
                    continue
                teacher_row = self.teacher.row_of.get(link["kg_id"])
                if teacher_row is None:
                    self.stats["links_unknown_to_teacher"] += 1
                    continue
                distill_index.append(
                    (row, span_flat_index(link["start"] - first, link["end"] - first, self.max_width))
                )
                teacher_rows.append(teacher_row)
        batch["labels"] = targets
        if self.teacher is not None:
            batch["distill_index"] = torch.tensor(distill_index, dtype=torch.long).reshape(-1, 2)
            batch["teacher_vectors"] = self.teacher.vectors[torch.tensor(teacher_rows, dtype=torch.long)].float()
            self.stats["links_used"] += len(teacher_rows)
            if self.num_teacher_negatives > 0 and self._target_rows:
                drawn = self._random.sample(self._target_rows, min(self.num_teacher_negatives, len(self._target_rows)))
                batch["negative_teacher_vectors"] = self.teacher.vectors[torch.tensor(drawn, dtype=torch.long)].float()
        return batch

    def rng_state(self) -> dict[str, Any]:
        """The negative-label sampler's random state, JSON-ready (checkpointed by ``KoGNERTrainer``)."""
        version, internal, gauss_next = self._random.getstate()
        return {"version": version, "internal": list(internal), "gauss_next": gauss_next}

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from ``rng_state()``, so sampling continues exactly where it was saved."""
        self._random.setstate((state["version"], tuple(state["internal"]), state["gauss_next"]))
