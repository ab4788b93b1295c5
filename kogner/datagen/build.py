"""Build the BMG-style NER dataset from a knowledge graph (paper, appendix B), resumably.

Steps: sample relation rows, generate one sentence per row, run the sanity check, split
train/validation/test by seed, and write to ``out``:

* the `DatasetDict` (``datasets.load_from_disk(out)``), ``jsonl/<split>.jsonl``,
* ``README.md`` (dataset card), ``drop_counts.json``,
* ``progress.jsonl`` + ``progress_meta.json``: every finished row is appended at once, so an
  interrupted run started again with the same arguments resumes where it stopped (rows that failed
  with a generator error are tried again).

The dataset, ``jsonl/``, the card and the drop counts are written to a temporary folder and published
together, ``dataset_dict.json`` last (see :func:`save_outputs`): an interrupted save is never loaded as a
complete dataset. Credentials of an LLM endpoint never reach these files (see ``LLMSettings.public``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from kogner.atomic import atomic_write_json, partial_path, publish_folder
from kogner.checks import check_fraction, check_positive
from kogner.kg import load_kg
from kogner.schema import NER_FEATURES, validate_dataset

from .backends import make_generator
from .card import dataset_card
from .llm import LLMSettings
from .rows import RelationRow, sample_relation_rows
from .sanity import sanity_check
from .splits import SPLIT_STRATEGIES, entity_disjoint_assignment, random_assignment

logger = logging.getLogger(__name__)
PROGRESS_FILE = "progress.jsonl"
META_FILE = "progress_meta.json"
DATASET_MARKER = "dataset_dict.json"  # written last: its presence means the dataset in ``out`` is complete
DEFAULT_PER_RELATION = 800


@dataclass
class BuildSummary:
    """What a build wrote: the dataset, rows sampled, drops by reason, and the wall time."""

    dataset: DatasetDict
    sampled_rows: int
    drops: Counter
    seconds: float


def read_progress(path: Path) -> dict[str, dict[str, Any]]:
    """Finished rows by row id; a torn last line (crash while writing) is cut off and redone."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    lines = path.read_text(encoding="utf-8").split("\n")
    good_bytes = 0
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number != len(lines):  # only the very last line, lacking its newline, can be torn
                raise ValueError(f"{path}:{number}: not JSON; delete the file or pass --restart") from None
            logger.warning("%s:%d: torn last line from an interrupted run, redoing that row", path, number)
            break
        done[entry["row_id"]] = entry
        good_bytes += len(line.encode("utf-8")) + 1
    if good_bytes < path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return done


def check_resume(out: Path, meta: dict[str, Any], restart: bool) -> None:
    """Refuse to mix progress made with other settings into this run."""
    meta_path, progress_path = out / META_FILE, out / PROGRESS_FILE
    if restart:
        progress_path.unlink(missing_ok=True)
    elif meta_path.exists() and progress_path.exists():
        previous = json.loads(meta_path.read_text(encoding="utf-8"))
        if previous != meta:
            changed = sorted(k for k in set(previous) | set(meta) if previous.get(k) != meta.get(k))
            raise ValueError(
                f"{out} holds progress made with other settings ({', '.join(changed)} differ): "
                "pass --restart to discard it, or choose another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(meta_path, meta, sort_keys=True)


def generate(rows: list[RelationRow], generator: Any, progress_path: Path) -> dict[str, dict[str, Any]]:
    """Run the generator on rows not yet in the progress file, appending each result as it arrives."""
    done = read_progress(progress_path)
    # generator errors (network, rate limits) are transient: retry those rows; cached answers cost nothing
    todo = [row for row in rows if row.row_id not in done or done[row.row_id]["reason"] == "generator_error"]
    if done:
        logger.info("resuming: %d rows done, %d to go", len(done), len(todo))
    with progress_path.open("a", encoding="utf-8") as handle, tqdm(total=len(rows), initial=len(rows) - len(todo),
                                                                   desc="generating", unit="row") as bar:
        for answer in generator.generate(todo):
            result = sanity_check(answer)
            entry = {"row_id": answer.row.row_id, "relation": answer.row.relation, "record": result.record,
                     "reason": result.reason, "detail": result.detail}
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            done[answer.row.row_id] = entry
            bar.update(1)
    return done


def split_records(
    records: list[dict[str, Any]], validation: float, test: float, seed: int, strategy: str = "random"
) -> DatasetDict:
    """Seeded train/validation/test split; ``strategy`` is ``random`` or ``entity-disjoint`` (held-out sentences
    mention no KG entity of the training sentences), see `kogner.datagen.splits`."""
    if strategy == "random":
        names = random_assignment(len(records), validation, test, seed)
    elif strategy == "entity-disjoint":
        names = entity_disjoint_assignment(records, validation, test, seed)
        logger.info("entity-disjoint split: %s sentences", dict(Counter(names)))
    else:
        raise ValueError(f"unknown split strategy {strategy!r}: expected one of {', '.join(SPLIT_STRATEGIES)}")
    empty = [split for split in ("train", "validation", "test") if split not in names]
    if empty and records:
        raise ValueError(f"the {strategy} split of {len(records)} sentences leaves {' and '.join(empty)} empty: "
                         "generate more sentences (--per-relation/--rate) or raise the fractions")
    return DatasetDict({
        split: Dataset.from_list([record for record, name in zip(records, names) if name == split], features=NER_FEATURES)
        for split in ("train", "validation", "test")
    })


def build_bmg_dataset(
    out: str | Path,
    *,
    kg: str = "biokg-lite",
    kg_options: dict[str, Any] | None = None,
    generator: str = "template",
    llm_settings: LLMSettings | None = None,
    llm_cache: str | Path | None = None,
    per_relation: int | None = None,
    rate: float | None = None,
    seed: int = 0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    restart: bool = False,
    split: str = "random",
) -> BuildSummary:
    """Generate (or resume) the dataset in ``out``; see the module docstring for what is written."""
    if per_relation is None and rate is None:
        per_relation = DEFAULT_PER_RELATION
    check_build_arguments(per_relation, rate, seed, validation_fraction, test_fraction)
    started = time.monotonic()
    out = Path(out)
    kg_options = kg_options or {}
    logger.info("loading KG %s", kg)
    graph = load_kg(kg, **kg_options)
    logger.info("KG: %d nodes, %d edges, types %s", graph.num_nodes, graph.num_edges, graph.type_names())
    rows = sample_relation_rows(graph, rate=rate, per_relation=per_relation, seed=seed)
    logger.info("sampled %d relation rows", len(rows))
    if generator == "template":  # every sampled row is a partner pool for composite sentences
        sentence_generator = make_generator("template", seed=seed, partners=rows)
    else:
        sentence_generator = make_generator(generator, settings=llm_settings or LLMSettings.from_env(),
                                            cache_path=llm_cache or out / "llm_cache.sqlite")
    settings = {
        "kg": kg, "kg_options": kg_options, "kg_fingerprint": graph.fingerprint(),
        "generator": sentence_generator.settings(), "per_relation": per_relation, "rate": rate, "seed": seed,
        "validation_fraction": validation_fraction, "test_fraction": test_fraction, "split": split,
    }
    resume_key = {k: v for k, v in settings.items() if k not in ("validation_fraction", "test_fraction", "split")}
    resume_key["generator"] = {k: v for k, v in settings["generator"].items() if k not in ("cache", "concurrency")}
    check_resume(out, json.loads(json.dumps(resume_key)), restart)

    done = generate(rows, sentence_generator, out / PROGRESS_FILE)
    records, drops = [], Counter()
    for row in rows:  # KG sample order, whatever order answers arrived in
        entry = done[row.row_id]
        if entry["record"] is None:
            drops[entry["reason"]] += 1
        else:
            records.append(entry["record"])
    check_split_sizes(len(records), len(rows), drops, validation_fraction, test_fraction)
    dataset = split_records(records, validation_fraction, test_fraction, seed, strategy=split)
    validate_dataset(dataset)
    drop_report = {"sampled_rows": len(rows), "kept": len(records), "dropped": dict(sorted(drops.items()))}
    seconds = time.monotonic() - started
    save_outputs(out, dataset, drop_report, dataset_card(dataset, drops, settings, len(rows), seconds))
    return BuildSummary(dataset, len(rows), drops, seconds)


def save_outputs(out: Path, dataset: DatasetDict, drop_report: dict[str, Any], card: str) -> None:
    """Write the dataset, ``jsonl/``, ``drop_counts.json`` and ``README.md`` to a temporary folder inside ``out``
    and publish them together, ``dataset_dict.json`` (what ``load_from_disk`` looks for) last: an interrupted
    save leaves no ``dataset_dict.json`` and is never loaded as a complete dataset."""
    staging = partial_path(out / "dataset")
    shutil.rmtree(staging, ignore_errors=True)
    dataset.save_to_disk(str(staging))
    (staging / "jsonl").mkdir()
    for split, part in dataset.items():
        part.to_json(str(staging / "jsonl" / f"{split}.jsonl"), lines=True, force_ascii=False)
    (staging / "drop_counts.json").write_text(json.dumps(drop_report, indent=2), encoding="utf-8")
    (staging / "README.md").write_text(card, encoding="utf-8")
    publish_folder(staging, out, marker=DATASET_MARKER)


def check_build_arguments(per_relation: int | None, rate: float | None, seed: int, validation_fraction: float,
                          test_fraction: float) -> None:
    """``ValueError`` naming the option of the first bad value."""
    check_positive(per_relation, "--per-relation", allow_none=True)
    if rate is not None:
        check_fraction(rate, "--rate", high_open=False)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {seed!r}")
    check_fraction(validation_fraction, "--validation-fraction")
    check_fraction(test_fraction, "--test-fraction")
    if validation_fraction + test_fraction >= 1:
        raise ValueError(f"--validation-fraction {validation_fraction} + --test-fraction {test_fraction} must leave "
                         "sentences for training (sum below 1)")


def check_split_sizes(kept: int, sampled: int, drops: Counter, validation_fraction: float,
                      test_fraction: float) -> None:
    """An empty split is an error naming the split and the numbers, not a crash inside ``datasets``."""
    if not kept:
        reasons = ", ".join(f"{reason} {count}" for reason, count in drops.most_common()) or "none"
        raise ValueError(f"no sentence was kept: all {sampled} sampled rows were dropped (reasons: {reasons}); "
                         "sample more rows (--per-relation/--rate) or check the generator")
    sizes = {"validation": round(kept * validation_fraction), "test": round(kept * test_fraction)}
    sizes["train"] = kept - sizes["validation"] - sizes["test"]
    empty = [split for split, size in sizes.items() if size < 1]
    if empty:
        raise ValueError(f"{kept} sentences kept: the {' and '.join(empty)} split(s) would be empty with "
                         f"--validation-fraction {validation_fraction} and --test-fraction {test_fraction}; "
                         "sample more rows (--per-relation/--rate) or raise the fractions")
