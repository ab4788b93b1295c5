"""Build the BMG-style NER dataset from a knowledge graph (paper, appendix B), resumably.

Steps: sample relation rows, generate one sentence per row, run the sanity check, split
train/validation/test by seed, and write to ``out``:

* the `DatasetDict` (``datasets.load_from_disk(out)``), ``jsonl/<split>.jsonl``,
* ``README.md`` (dataset card), ``drop_counts.json``,
* ``progress.jsonl`` + ``progress_meta.json``: every finished row is appended at once, so an
  interrupted run started again with the same arguments resumes where it stopped (rows that failed
  with a generator error are tried again).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from kogner.kg import load_kg
from kogner.schema import NER_FEATURES, validate_dataset

from .backends import make_generator
from .card import dataset_card
from .llm import LLMSettings
from .rows import RelationRow, sample_relation_rows
from .sanity import sanity_check

logger = logging.getLogger(__name__)
PROGRESS_FILE = "progress.jsonl"
META_FILE = "progress_meta.json"
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
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


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


def split_records(records: list[dict[str, Any]], validation: float, test: float, seed: int) -> DatasetDict:
    order = np.random.default_rng(seed).permutation(len(records))
    n_test, n_validation = round(len(records) * test), round(len(records) * validation)
    parts = {
        "train": order[n_test + n_validation :],
        "validation": order[n_test : n_test + n_validation],
        "test": order[:n_test],
    }
    return DatasetDict(
        {split: Dataset.from_list([records[i] for i in sorted(idx)], features=NER_FEATURES) for split, idx in parts.items()}
    )


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
) -> BuildSummary:
    """Generate (or resume) the dataset in ``out``; see the module docstring for what is written."""
    if per_relation is None and rate is None:
        per_relation = DEFAULT_PER_RELATION
    if not 0 <= validation_fraction < 1 or not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise ValueError("validation_fraction and test_fraction must be in [0, 1) and sum to less than 1")
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
        "validation_fraction": validation_fraction, "test_fraction": test_fraction,
    }
    resume_key = {k: v for k, v in settings.items() if k not in ("validation_fraction", "test_fraction")}
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
    dataset = split_records(records, validation_fraction, test_fraction, seed)
    validate_dataset(dataset)
    dataset.save_to_disk(str(out))
    (out / "jsonl").mkdir(exist_ok=True)
    for split, part in dataset.items():
        part.to_json(str(out / "jsonl" / f"{split}.jsonl"), lines=True, force_ascii=False)
    drop_report = {"sampled_rows": len(rows), "kept": len(records), "dropped": dict(sorted(drops.items()))}
    (out / "drop_counts.json").write_text(json.dumps(drop_report, indent=2), encoding="utf-8")
    seconds = time.monotonic() - started
    (out / "README.md").write_text(dataset_card(dataset, drops, settings, len(rows), seconds), encoding="utf-8")
    return BuildSummary(dataset, len(rows), drops, seconds)
