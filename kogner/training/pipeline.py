"""The training run behind ``train.py``: teacher, model, data, KoGNERTrainer, final evaluation, saved model + card."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate.utils import broadcast_object_list
from transformers import set_seed

from kogner.atomic import atomic_write_json, last_complete_checkpoint, partial_path, publish_folder

from modeling_kogner import EntityIndex, KoGNERModel

from kogner.corpora.linking import link_corpus
from kogner.corpora.mix import label_pool, load_training_mix, parse_source_weights, resolve_eval_sets
from kogner.defaults import MINILM_ALIAS, MINILM_HUB_ID, resolve_encoder
from kogner.evaluation.evaluate import markdown_table
from kogner.evaluation.threshold import model_scored_predict, select_threshold, write_threshold

from .collator import KoGNERDataCollator, TeacherTable
from .linking_heads import fit_linking_heads, full_entity_index, training_links
from .model_card import card_arguments
from .trainer import KoGNERTrainer

logger = logging.getLogger("kogner.train")


def load_teacher(directory: str) -> tuple[TeacherTable, dict[str, Any], EntityIndex]:
    """Teacher vectors and index from a ``build_teacher.py`` output folder, a summary for the card, and the entity
    index saved with the model (for ``link=True``). Entities without a trained Z'' (in no relation triple) are not
    distillation targets: they are absent from the table's ``row_of``."""
    from kogner.teacher.artifact import Teacher

    teacher = Teacher.load(directory)
    metadata = teacher.metadata
    metrics = metadata.get("metrics", {})
    summary = {
        "knowledge graph": metadata.get("kg", {}).get("source", "unknown"),
        "entities per type": json.dumps(metadata.get("entity_count_per_type", {})),
        "edges": metadata.get("edges", "unknown"),
        "H = [Z, Z', Z''] sizes": json.dumps(metadata.get("dims", {"H": teacher.dim})),
        "Graph Transformer node-type accuracy (held out)": metrics.get("gnn", {}).get("test_accuracy", "n/a"),
        "TransR MRR / Hits@10": [metrics.get("transr", {}).get(key, "n/a") for key in ("mrr", "hits_at_10")],
        "entities with a trained Z'' (distillation targets)": f"{int(teacher.covered.sum())} of {len(teacher)}",
    }
    index = EntityIndex(teacher.kg_ids, teacher.names, teacher.vectors, teacher.types, teacher.synonyms, teacher.xrefs)
    return TeacherTable(teacher.vectors, teacher.covered_index), summary, index


def build_model(model_args: Any, teacher_dim: int) -> tuple[KoGNERModel, str]:
    """A new model from an encoder, or a saved KoGNER model whose teacher size must match."""
    if model_args.model_name_or_path:
        model = KoGNERModel.from_pretrained(model_args.model_name_or_path)
        if teacher_dim and model.config.teacher_dim != teacher_dim:
            raise ValueError(
                f"the teacher vectors have size {teacher_dim} but {model_args.model_name_or_path} was built with "
                f"teacher_dim={model.config.teacher_dim}; use the same teacher or start from an encoder"
            )
        return model, model_args.model_name_or_path
    encoder = resolve_encoder(model_args.encoder)
    base = MINILM_HUB_ID if model_args.encoder == MINILM_ALIAS else model_args.encoder  # the card names a Hub id
    return KoGNERModel.from_encoder(encoder, teacher_dim=teacher_dim, **model_args.config_settings()), base


def parse_label_implications(items: list[str]) -> dict[str, list[str]]:
    """``["phenotype=disease", "a=b,c"]`` -> ``{"phenotype": ["disease"], "a": ["b", "c"]}``."""
    implications: dict[str, list[str]] = {}
    for item in items:
        label, separator, implied = item.partition("=")
        targets = [name.strip() for name in implied.split(",") if name.strip()]
        if not separator or not label.strip() or not targets:
            raise ValueError(f"--label_implications {item!r}: expected TYPE=IMPLIED[,IMPLIED...]")
        implications.setdefault(label.strip(), []).extend(targets)
    return implications


def check_links(dataset: Any, teacher: TeacherTable) -> Counter:
    """Count ``kge`` links whose KG id the teacher knows; warn (not fail) about the others."""
    counts: Counter = Counter()
    for links in dataset["kge"]:
        for link in links:
            counts["known" if link["kg_id"] in teacher.row_of else "unknown"] += 1
    if counts["unknown"]:
        logger.warning(
            "%d of %d kge links name KG ids missing from the teacher or without a trained Z'' (uncovered); they "
            "are skipped during distillation",
            counts["unknown"], counts["known"] + counts["unknown"],
        )
    if counts["known"] == 0:
        logger.warning("no kge link of the training data is in the teacher: the distillation loss will stay 0")
    return counts


def check_world_size(training_args: Any) -> None:
    """Refuse to train alone in a process that a multi-process launcher started as one of several (e.g.
    ``accelerate launch --multi_gpu`` on a machine without GPUs, without ``--use_cpu true``): each process would
    train, evaluate and save its own model."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and training_args.world_size != launched:
        raise RuntimeError(
            f"this process was started as one of WORLD_SIZE={launched} processes but trains as a job of "
            f"{training_args.world_size}: every process would train its own model. Without GPUs, add --use_cpu true "
            "(the processes then train as one job over gloo): accelerate launch --multi_gpu --num_processes "
            f"{launched} train.py ... --use_cpu true"
        )


@dataclass
class TrainingRun:
    """What the steps of `run_training` hand on to each other."""

    model: KoGNERModel
    base_encoder: str
    teacher: TeacherTable | None = None
    teacher_summary: dict[str, Any] | None = None
    entity_index: EntityIndex | None = None
    train_dataset: Any = None
    corpus_links: dict[str, Any] | None = None
    link_counts: Counter = field(default_factory=Counter)
    collator: KoGNERDataCollator | None = None
    trainer: KoGNERTrainer | None = None
    linking_fit: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_training(model_args: Any, data_args: Any, training_args: Any) -> dict[str, Any]:
    """Train, fit the linking heads, save, choose the threshold on dev, score the test sets, write the card and
    logs; returns the test results per set. Every source is resolved before training starts."""
    check_world_size(training_args)
    set_seed(training_args.seed)
    run = start_run(model_args, data_args, training_args.dist_weight)
    load_training_data(run, data_args, training_args.seed)
    eval_sets = _eval_sets(data_args.eval_data, data_args, "validation")
    test_sets = _eval_sets(data_args.test_data, data_args, "test") or eval_sets
    dev_sets = _eval_sets(data_args.threshold_dev_data, data_args, "validation", data_args.max_threshold_dev_samples)
    run.trainer = build_trainer(run, data_args, training_args, eval_sets)
    run.trainer.train(resume_from_checkpoint=checkpoint_to_resume(training_args))
    fit_linking(run, training_args)
    if run.teacher is not None:  # issue 30: the saved index = the teacher's entities + the KG's lexicon (by name)
        run.model.entity_index = full_entity_index(run.entity_index, run.teacher_summary["knowledge graph"])
    save_final_model(run.trainer, training_args.output_dir)  # before evaluating: a failure there must not lose it
    if dev_sets:
        choose_threshold_on_dev(run.trainer, dev_sets, training_args.output_dir)
    run.results = score_test_sets(run.trainer, test_sets)
    write_run_outputs(run, training_args)
    if training_args.push_to_hub:
        run.trainer.push_to_hub(commit_message="KoGNER model trained with train.py")
    return run.results


def checkpoint_to_resume(training_args: Any) -> str | None:
    """``--resume_from_checkpoint``: a checkpoint folder, or ``last`` = the newest complete checkpoint in
    ``output_dir`` if there is one (a rerun of an interrupted job resumes, a first run starts fresh)."""
    if training_args.resume_from_checkpoint != "last":
        return training_args.resume_from_checkpoint
    last = last_complete_checkpoint(Path(training_args.output_dir))
    logger.info("resuming from %s" if last else "no checkpoint in %s: training from the start",
                last or training_args.output_dir)
    return str(last) if last else None


def start_run(model_args: Any, data_args: Any, dist_weight: float) -> TrainingRun:
    """The teacher (when distilling: a teacher given and ``dist_weight > 0``) and the model to train, with the entity
    index it links to."""
    if not (data_args.teacher and dist_weight > 0):
        return TrainingRun(*build_model(model_args, 0))
    teacher, summary, entity_index = load_teacher(data_args.teacher)
    model, base_encoder = build_model(model_args, teacher.dim)
    model.entity_index = entity_index  # saved with the model: predict_entities(..., link=True)
    return TrainingRun(model, base_encoder, teacher, summary, entity_index)


def load_training_data(run: TrainingRun, data_args: Any, seed: int) -> None:
    """The training mix, its gold spans linked to the teacher's entities by name, and the count of known links."""
    dataset = load_training_mix(data_args.train_data, data_args.data_dir, seed,
                                parse_source_weights(data_args.train_weights),
                                data_args.drop_documents_shared_with or None)
    if data_args.max_train_samples:
        dataset = dataset.select(range(min(data_args.max_train_samples, len(dataset))))
    if run.teacher is not None and data_args.link_corpora:
        dataset, run.corpus_links = link_corpus(dataset, run.entity_index)
        logger.info("gold spans linked to teacher entities by name: %d of %d (%.1f%%)", run.corpus_links["linked"],
                    run.corpus_links["mentions"], 100 * run.corpus_links["share_linked"])
    run.link_counts = check_links(dataset, run.teacher) if run.teacher else Counter()
    run.train_dataset = dataset


def build_trainer(run: TrainingRun, data_args: Any, training_args: Any,
                  eval_sets: dict[str, tuple[Any, list[str]]]) -> KoGNERTrainer:
    """The collator (negatives, implications, teacher) and the KoGNERTrainer with the card's facts."""
    model = run.model
    run.collator = collator = KoGNERDataCollator.from_model(
        model,
        teacher=run.teacher,
        negative_label_pool=label_pool([run.train_dataset]),
        num_negative_labels=data_args.num_negative_labels,
        label_implications=parse_label_implications(data_args.label_implications),
        # only the contrastive loss uses them; drawing none keeps the sampler's stream (and MSE runs) as before
        num_teacher_negatives=(data_args.num_teacher_negatives
                               if training_args.distillation_loss == "contrastive" else 0),
        seed=training_args.seed,
    )
    if training_args.device.type == "cpu":
        training_args.dataloader_pin_memory = False  # pinning needs an accelerator; torch warns on every loader
    eval_dataset, eval_labels = trainer_eval_sets(eval_sets)
    check_best_metric(training_args, eval_sets)
    return KoGNERTrainer(
        model=model,
        args=training_args,
        train_dataset=run.train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        processing_class=model.tokenizer,
        eval_labels=eval_labels,
        encoder_learning_rate=training_args.encoder_learning_rate,
        card_info=card_facts(run, data_args, training_args),
    )


def card_facts(run: TrainingRun, data_args: Any, training_args: Any) -> dict[str, Any]:
    """The facts of this run that the model card states (see kogner.training.model_card)."""
    links = run.corpus_links
    return {
        "base_encoder": run.base_encoder,
        "encoder_learning_rate": training_args.encoder_learning_rate,
        "teacher": run.teacher_summary,
        "data": {
            "training sources": ", ".join(data_args.train_data),
            "source weights": ", ".join(data_args.train_weights) or "none (sampled by size)",
            "training sentences": len(run.train_dataset),
            "kge links known to the teacher": run.link_counts.get("known", 0),
            "gold spans linked by name": f"{links['linked']} of {links['mentions']}" if links else "no",
            "entity types": ", ".join(label_pool([run.train_dataset])),
            "label implications": ", ".join(data_args.label_implications) or "none",
        },
        "training_scale": f"{len(run.train_dataset)} sentences from {', '.join(data_args.train_data)}",
        "train_data": list(data_args.train_data), "eval_data": list(data_args.eval_data or []),
        "sources": [*data_args.train_data, *(data_args.eval_data or []), *(data_args.test_data or []),
                    *(data_args.threshold_dev_data or [])],
        "data_dir": data_args.data_dir,
    }


def fit_linking(run: TrainingRun, training_args: Any) -> None:
    """Fit the linking heads on the training links (student frozen), or say why not and what link=True will do."""
    if run.collator is not None and run.collator.stats:
        logger.info("collator counts: %s", dict(run.collator.stats))
    if run.teacher is None:
        return
    model = run.model
    if not training_args.linking_fit_steps:
        run.linking_fit = {"skipped": "--linking_fit_steps 0"}
    else:
        sentences, spans, rows = training_links(run.train_dataset, run.entity_index.row_of, model.config.max_width,
                                                training_args.linking_fit_links, training_args.seed)
        if spans:
            run.linking_fit = fit_linking_heads(model, sentences, spans, rows, steps=training_args.linking_fit_steps,
                                                seed=training_args.seed, progress=not training_args.disable_tqdm)
            run.trainer.card_info["linking_fit"] = run.linking_fit
        else:
            run.linking_fit = {"skipped": "no training link points at an entity of the index"}
    if "skipped" in run.linking_fit:
        logger.warning("linking heads not fitted (%s): with linking_query=%r, link=True %s",
                       run.linking_fit["skipped"], model.config.linking_query,
                       "is refused until `python -m kogner.training.linking_heads` fits them"
                       if model.linking_head is not None else "links with the distillation head as trained")


def choose_threshold_on_dev(trainer: KoGNERTrainer, dev_sets: dict[str, tuple[Any, list[str]]],
                            output_dir: str) -> None:
    """Choose the threshold with the best mean dev F1 (on the main process; every process gets it), set it in the
    model's config, the saved ``config.json`` and the card's facts."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    choice: list[Any] = [None]
    if trainer.is_world_process_zero():
        predict = model_scored_predict(model.eval(), trainer.args.per_device_eval_batch_size)
        choice[0] = select_threshold(predict, dev_sets)[0].to_dict()
    choice = broadcast_object_list(choice)
    threshold = choice[0]["threshold"]
    model.config.threshold = threshold
    if trainer.is_world_process_zero():
        write_threshold(output_dir, threshold)
        print(f"threshold {threshold:g}: best mean F1 {100 * choice[0]['mean_f1']:.1f} over the dev sets "
              f"{', '.join(choice[0]['dev_sets'])}", flush=True)
    trainer.card_info["threshold_choice"] = choice[0]


def score_test_sets(trainer: KoGNERTrainer, test_sets: dict[str, tuple[Any, list[str]]]) -> dict[str, Any]:
    """Strict span scores of each test set at the model's threshold (the card shows these only)."""
    if not test_sets:
        return {}
    trainer.eval_labels.update({name: labels for name, (_, labels) in test_sets.items()})
    trainer.last_eval_results.clear()
    trainer.evaluate({name: dataset for name, (dataset, _) in test_sets.items()}, metric_key_prefix="test")
    return {name: trainer.last_eval_results[name] for name in test_sets}


def write_run_outputs(run: TrainingRun, training_args: Any) -> None:
    """The card, ``eval_results.json`` and ``training_log.json`` (main process), and the results table."""
    trainer = run.trainer
    if not trainer.is_world_process_zero():
        return
    trainer.create_model_card()
    output_dir = Path(training_args.output_dir)
    atomic_write_json(output_dir / "eval_results.json", run.results)
    atomic_write_json(output_dir / "training_log.json", {
        "world_size": training_args.world_size, "device": str(training_args.device),
        "kge_links": dict(run.link_counts), "corpus_links": run.corpus_links, "linking_fit": run.linking_fit,
        "threshold_choice": trainer.card_info.get("threshold_choice"), "log_history": trainer.state.log_history,
        "card": {"info": trainer.card_info, "args": card_arguments(training_args)}})
    if run.results:
        print("\n" + markdown_table(run.results) + "\n", flush=True)
    print(f"model saved to {training_args.output_dir}", flush=True)


def trainer_eval_sets(eval_sets: dict[str, tuple[Any, list[str]]]) -> tuple[Any, dict[str, list[str]]]:
    """``eval_dataset`` and ``eval_labels`` for KoGNERTrainer: one set is passed alone, so that Trainer names its
    metrics ``eval_f1`` etc.; several are a dict, named ``eval_<set>_f1``."""
    if len(eval_sets) == 1:
        (dataset, labels), = eval_sets.values()
        return dataset, {"eval": labels}
    return ({name: dataset for name, (dataset, _) in eval_sets.items()} or None,
            {name: labels for name, (_, labels) in eval_sets.items()})


def check_best_metric(training_args: Any, eval_sets: dict[str, tuple[Any, list[str]]]) -> None:
    """Fail before training when ``metric_for_best_model`` names a metric the evaluation will not report."""
    metric = training_args.metric_for_best_model
    if metric is None or not eval_sets:
        return
    prefixes = [""] if len(eval_sets) == 1 else [f"{name}_" for name in eval_sets]
    available = {
        f"{prefix}{key}"
        for prefix, (_, labels) in zip(prefixes, eval_sets.values())
        for key in ("precision", "recall", "f1", *(f"{label.replace(' ', '_')}_f1" for label in labels))
    }
    if metric.removeprefix("eval_") not in available:
        raise ValueError(
            f"--metric_for_best_model {metric}: the evaluation reports {', '.join(sorted(available))} "
            f"(with {len(eval_sets)} --eval_data set(s)); it computes no loss"
        )


def save_final_model(trainer: Any, output_dir: str) -> None:
    """Save the model to a temporary folder, then publish it into ``output_dir`` with ``config.json`` last: a run
    killed while saving leaves no ``config.json``, so a half-written model is never loaded as a complete one."""
    staging = partial_path(Path(output_dir) / "final-model")
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)  # left over by a killed run
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging), _internal_call=True)  # the Hub push, if asked, comes at the end of the run
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        publish_folder(staging, output_dir, marker="config.json")


def _eval_sets(sources: list[str], data_args: Any, default_split: str,
               limit: int | None = None) -> dict[str, tuple[Any, list[str]]]:
    """``{name: (dataset, label prompts)}`` of ``sources``, each cut to its first ``limit`` sentences (default:
    ``--max_eval_samples``)."""
    if not sources:
        return {}
    resolved = resolve_eval_sets(sources, data_args.data_dir, default_split)
    limit = limit or data_args.max_eval_samples
    if limit:
        resolved = {name: (dataset.select(range(min(limit, len(dataset)))), labels)
                    for name, (dataset, labels) in resolved.items()}
    return resolved
