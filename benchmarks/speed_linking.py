"""The ``--link`` arm of ``benchmarks.speed``: what entity linking costs a saved KoGNER model with an entity index.

Targets (the issue): ``link=True`` adds at most 25 % to ``batch_predict_entities`` at batch 32 on CPU with the full
index; the index, synonyms included, stays under 300 MB on disk and loads in under 10 s. Measured, on the sentences
and labels of the other arms of speed.py, in one run:

* ``batch_predict_entities(texts, labels, threshold, batch_size=32)`` with ``link=False`` and with ``link=True``,
  timed interleaved batch by batch (`measure.interleaved`: for each batch of 32 texts both arms run once, in
  alternating order), after both were warmed up on the first 8 texts (the warm-up times are reported: the first
  ``link=True`` call also computes the index's projected teacher vectors, type list and type masks).
  ``time_ratio`` = link=True seconds / link=False seconds (target <= 1.25). The vectors of name-only entities are
  computed when a span's name first matches them and kept on the index (`linking_kogner.name_vectors`): the timed
  pass pays for its own sentences' names as unseen text would; with ``--repeats`` > 1 later passes find them cached.
* the index's size on disk: the bytes of ``entity_index.json`` + ``entity_index.safetensors`` in the model folder,
  and ``index_mb`` = bytes / 10^6 (target < 300).
* the index's load time: ``EntityIndex.find(model folder)`` timed alone, the very call ``KoGNERModel.from_pretrained``
  makes to load the index, once, before the model is loaded (the process's first read of the index; the operating
  system's page cache may still hold the files from an earlier read: drop it first for a cold-disk time)
  (target < 10 s); and the index's entity count (with teacher vectors, with synonyms).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Sequence

from benchmarks.measure import interleaved
from benchmarks.speed_setup import load_kogner

LINK_BATCH = 32
WARM_TEXTS = 8
MB = 10**6
TIME_RATIO_TARGET, SIZE_MB_TARGET, LOAD_S_TARGET = 1.25, 300.0, 10.0
TARGETS = (f"time_ratio <= {TIME_RATIO_TARGET}", f"index_mb < {SIZE_MB_TARGET:g}", f"index_load_s < {LOAD_S_TARGET:g}")


def add_link_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--link`` option of speed.py."""
    parser.add_argument("--link", action="store_true",
                        help="also time batch_predict_entities with link=False vs link=True (batch 32, interleaved) "
                             "and the entity index's size and load time; needs --model (a saved model with an index)")


def check_link_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--link`` needs ``--model``, a local model folder holding both entity index files (else ``parser.error``)."""
    from modeling_kogner.index_kogner import ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS

    if not args.link:
        return
    if not args.model:
        parser.error("--link needs --model: a saved KoGNER model folder with an entity index "
                     f"({ENTITY_INDEX_TABLE} + {ENTITY_INDEX_VECTORS})")
    missing = [name for name in (ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS) if not (Path(args.model) / name).is_file()]
    if missing:
        parser.error(f"--link: {args.model} is not a model folder with an entity index (missing {', '.join(missing)}); "
                     "models trained with a teacher save one (train.py --teacher DIR)")


class _Linking:
    """``model.batch_predict_entities`` with ``link=True``, for `measure.interleaved`."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def batch_predict_entities(self, *args: Any, **kwargs: Any) -> list[list[dict[str, Any]]]:
        return self.model.batch_predict_entities(*args, link=True, **kwargs)


def index_on_disk(model_dir: str | Path) -> dict[str, Any]:
    """The index files of ``model_dir`` with their sizes, their total bytes and MB (10^6 bytes), its load time in
    seconds (``EntityIndex.find``, as ``from_pretrained`` loads it) and its entity counts."""
    from modeling_kogner import EntityIndex
    from modeling_kogner.index_kogner import ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS

    files = {name: (Path(model_dir) / name).stat().st_size for name in (ENTITY_INDEX_TABLE, ENTITY_INDEX_VECTORS)}
    started = time.perf_counter()
    index = EntityIndex.find(str(model_dir))
    load_s = time.perf_counter() - started
    if index is None:
        raise ValueError(f"{model_dir} has no entity index")
    total = sum(files.values())
    return {"index_files": files, "index_bytes": total, "index_mb": round(total / MB, 3),
            "index_load_s": round(load_s, 4), "index_entities": len(index),
            "index_entities_with_vectors": index.num_vectors,
            "index_entities_with_synonyms": sum(1 for row in index.synonyms.rows if row)}


def _arm(seconds: float, warmup_s: float, count: int, entities: int) -> dict[str, Any]:
    return {"seconds": round(seconds, 6), "sentences_per_s": round(count / seconds, 2),
            "warmup_seconds": round(warmup_s, 4), "entities_found": entities}


def linking_arms(args: argparse.Namespace, sentences: Sequence[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    """``report["linking"]`` (module docstring): ``link_false`` / ``link_true`` (seconds, sentences/s, warm-up
    seconds, entities found), ``time_ratio`` (link_true seconds / link_false seconds), the `index_on_disk` numbers
    and ``targets``: each target of `TARGETS` -> whether it is met. Needs ``args.model`` (`check_link_arguments`)."""
    texts = [" ".join(sentence["tokens"]) for sentence in sentences]
    print(f"linking: index of {args.model}, then link=False vs link=True at batch {LINK_BATCH}", flush=True)
    report: dict[str, Any] = {"model": str(args.model), "batch_size": LINK_BATCH, "sentences": len(texts),
                              "repeats": max(1, args.repeats)}
    report.update(index_on_disk(args.model))  # before the model: the process's first read of the index
    model = load_kogner(args, args.encoder, args.model)
    arms = {"link_false": model, "link_true": _Linking(model)}
    warmups = {}
    for key, arm in arms.items():
        started = time.perf_counter()
        arm.batch_predict_entities(texts[:WARM_TEXTS], labels, args.threshold, batch_size=LINK_BATCH)
        warmups[key] = time.perf_counter() - started
    seconds, entities = interleaved(arms, texts, labels, args.threshold, LINK_BATCH, report["repeats"])
    for key in arms:
        report[key] = _arm(seconds[key], warmups[key], len(texts), entities[key])
    report["time_ratio"] = round(report["link_true"]["seconds"] / report["link_false"]["seconds"], 4)
    met = (report["time_ratio"] <= TIME_RATIO_TARGET, report["index_mb"] < SIZE_MB_TARGET,
           report["index_load_s"] < LOAD_S_TARGET)
    report["targets"] = dict(zip(TARGETS, met))
    for key in arms:
        print(f"  {key:<12} {report[key]['sentences_per_s']:>9.1f} sent/s", flush=True)
    print(f"  link=True / link=False time {report['time_ratio']:.3f}, index {report['index_mb']:.1f} MB, "
          f"loaded in {report['index_load_s']:.2f} s", flush=True)
    return report


def linking_markdown(linking: dict[str, Any]) -> list[str]:
    """Markdown lines of ``report["linking"]``: the two arms, then the ratio, size and load time with their targets."""
    met = list(linking["targets"].values())
    lines = [f"Linking ({linking['index_entities']} index entities, {linking['index_entities_with_synonyms']} with "
             f"synonyms, {linking['index_entities_with_vectors']} with teacher vectors), batch "
             f"{linking['batch_size']}, interleaved:",
             "", "| batch_predict_entities | sentences/s | seconds | entities |", "|---|---|---|---|"]
    for key, name in (("link_false", "link=False"), ("link_true", "link=True")):
        arm = linking[key]
        lines.append(f"| {name} | {arm['sentences_per_s']:.1f} | {arm['seconds']:.3f} | {arm['entities_found']} |")
    lines += ["", "| measure | value | target | met |", "|---|---|---|---|",
              f"| link=True time / link=False time | {linking['time_ratio']:.3f} | {TARGETS[0]} | {met[0]} |",
              f"| index on disk | {linking['index_mb']:.1f} MB ({linking['index_bytes']} bytes) | {TARGETS[1]} | "
              f"{met[1]} |",
              f"| index load (EntityIndex.find) | {linking['index_load_s']:.2f} s | {TARGETS[2]} | {met[2]} |"]
    return lines
