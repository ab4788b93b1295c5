"""Build the BMG-style NER dataset from a knowledge graph (paper, appendix B).

    python data_scripts/make_bmg_dataset.py --kg biokg-lite --generator template --out runs/data

Steps: load the KG, sample relation rows (``--per-relation`` or ``--rate``), generate one sentence
per row (``template`` offline, or ``llm`` through an OpenAI-compatible endpoint), run the sanity
check, split train/validation/test with ``--seed``, and write to ``--out``:

* the `DatasetDict` (``datasets.load_from_disk(OUT)``), ``jsonl/<split>.jsonl``,
* ``README.md`` (dataset card: counts per entity type, settings, drops by reason), ``drop_counts.json``,
* ``progress.jsonl`` + ``progress_meta.json``: every finished row is appended at once, so an
  interrupted run started again with the same arguments resumes where it stopped (rows that failed
  with a generator error are tried again).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python data_scripts/make_bmg_dataset.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from data_scripts.bmg_generation import DROP_REASONS, RelationRow, make_generator, sample_relation_rows, sanity_check
from data_scripts.schema import NER_FEATURES, validate_dataset

logger = logging.getLogger("make_bmg_dataset")
PROGRESS_FILE = "progress.jsonl"
META_FILE = "progress_meta.json"
DEFAULT_PER_RELATION = 800


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kg", default="biokg-lite", help="KG adapter name for data_scripts.kg_loaders.load_kg")
    parser.add_argument(
        "--kg-option", action="append", default=[], metavar="KEY=VALUE",
        help="option passed to load_kg (repeatable; VALUE parsed as JSON when possible), e.g. root=/data/BMG",
    )
    parser.add_argument("--generator", choices=["template", "llm"], default="template",
                        help="sentence generator: 'template' (offline, deterministic) or 'llm' (chat-completions API)")
    parser.add_argument("--out", default="runs/data", help="output folder (created; reused to resume)")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--per-relation", type=int, default=None,
                          help=f"rows sampled per relation type (relation + entity types); default {DEFAULT_PER_RELATION}")
    sampling.add_argument("--rate", type=float, default=None,
                          help="fraction of each relation type's edges to sample (the paper: about 0.0001)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling, templates and the split")
    parser.add_argument("--validation-fraction", type=float, default=0.1, help="share of sentences in validation")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="share of sentences in test")
    parser.add_argument("--restart", action="store_true", help="discard the progress in --out and start over")
    llm = parser.add_argument_group("llm generator (flags override OPENAI_BASE_URL, OPENAI_API_KEY, KOGNER_LLM_MODEL)")
    llm.add_argument("--llm-base-url", default=None, help="endpoint base, e.g. http://localhost:8000/v1")
    llm.add_argument("--llm-model", default=None, help="model name sent to the endpoint")
    llm.add_argument("--llm-api-key", default=None, help="API key (prefer the OPENAI_API_KEY environment variable)")
    llm.add_argument("--llm-timeout", type=float, default=60.0, help="seconds per request before it counts as failed")
    llm.add_argument("--llm-retries", type=int, default=5, help="retries on 429/5xx/timeouts, exponential backoff")
    llm.add_argument("--llm-backoff", type=float, default=1.0, help="first backoff in seconds (doubles each retry)")
    llm.add_argument("--llm-concurrency", type=int, default=4, help="requests in flight at once")
    llm.add_argument("--llm-temperature", type=float, default=0.7, help="sampling temperature")
    llm.add_argument("--llm-max-tokens", type=int, default=512, help="max tokens per answer")
    llm.add_argument("--llm-cache", default=None, help="SQLite response cache (default OUT/llm_cache.sqlite)")
    parser.add_argument("--push_to_hub", "--push-to-hub", dest="push_to_hub", default=None, metavar="REPO",
                        help="also push the dataset and its card to this Hugging Face Hub dataset repo (needs network)")
    parser.add_argument("--private", action="store_true", help="with --push_to_hub: create a private repo")
    args = parser.parse_args(argv)
    if args.per_relation is None and args.rate is None:
        args.per_relation = DEFAULT_PER_RELATION
    if not 0 <= args.validation_fraction < 1 or not 0 <= args.test_fraction < 1 or (
        args.validation_fraction + args.test_fraction >= 1
    ):
        parser.error("--validation-fraction and --test-fraction must be in [0, 1) and sum to less than 1")
    return args


def parse_kg_options(items: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ValueError(f"--kg-option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def build_generator(args: argparse.Namespace, out: Path, rows: Sequence[RelationRow]) -> Any:
    if args.generator == "template":  # every sampled row is a partner pool for composite sentences
        return make_generator("template", seed=args.seed, partners=rows)
    from data_scripts.llm_backend import LLMSettings

    settings = LLMSettings.from_env(
        base_url=args.llm_base_url, model=args.llm_model, api_key=args.llm_api_key, timeout_s=args.llm_timeout,
        max_retries=args.llm_retries, backoff_s=args.llm_backoff, concurrency=args.llm_concurrency,
        temperature=args.llm_temperature, max_tokens=args.llm_max_tokens,
    )
    return make_generator("llm", settings=settings, cache_path=args.llm_cache or out / "llm_cache.sqlite")


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
            raise SystemExit(
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


def type_counts(dataset: Dataset) -> Counter[str]:
    return Counter(span["label"] for spans in dataset["ner"] for span in spans)


def dataset_card(dataset: DatasetDict, drops: Counter[str], settings: dict[str, Any], rows: int, seconds: float) -> str:
    labels = sorted(set().union(*(type_counts(part) for part in dataset.values())))
    counts = {split: type_counts(part) for split, part in dataset.items()}
    splits = list(dataset)
    table = ["| entity type | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    table += [f"| {label} | " + " | ".join(str(counts[s][label]) for s in splits) + " |" for label in labels]
    table.append("| **sentences** | " + " | ".join(str(len(dataset[s])) for s in splits) + " |")
    drop_lines = [f"| {reason} | {drops.get(reason, 0)} | {why} |" for reason, why in DROP_REASONS.items()]
    example = json.dumps(dataset["train"][0] if len(dataset["train"]) else {}, ensure_ascii=False)
    composite_note = ""
    if "composite_share" in settings["generator"]:
        composite = sum(len(spans) > 2 for part in dataset.values() for spans in part["ner"])
        composite_note = (
            f"\nComposite sentences ({composite} of {sum(len(p) for p in dataset.values())}): for about "
            f"{settings['generator']['composite_share']:.0%} of the rows the template generator uses a pattern with "
            "typed slots that also mentions one or two entities of other sampled rows, each labelled with its "
            "own type and KG id, e.g. `{chemical}-induced {phenotype} was observed in {gene} carriers.`, "
            "`{chemical}-resistant {cell line} cells overexpressed {gene}`, `{gene}-deficient {cell type}`, "
            "`{disease} patients`, `anti-{gene}`. Hyphens are split, so a chemical span ends before the `-`.\n"
        )
    return f"""---
language: en
task_categories: [token-classification]
tags: [biomedical, named-entity-recognition, knowledge-graph, kogner]
pretty_name: KoGNER BMG-style NER sentences ({settings['kg']}, {settings['generator']['generator']})
---

# KoGNER BMG-style NER sentences

Sentences generated from relation rows of the knowledge graph `{settings['kg']}` following the KoGNER
paper (appendix B): sample relation rows, generate one sentence containing both entities, keep only
answers whose entities the sanity check finds (first occurrence of each entity's words).
{composite_note}

## Schema

`tokens` (words split by the regex `\\w+|[^\\w\\s]`), `ner` = [{{start, end, label}}] and
`kge` = [{{start, end, kg_id}}] with word indices, `end` inclusive. Example:

```json
{example}
```

## Counts (entity mentions per type)

{chr(10).join(table)}

## Generation

- relation rows sampled: {rows}; kept: {sum(len(p) for p in dataset.values())}; dropped: {sum(drops.values())}
- wall time: {seconds:.0f} s
- settings:

```json
{json.dumps(settings, indent=2, sort_keys=True)}
```

## Dropped rows by reason

| reason | count | meaning |
|---|---|---|
{chr(10).join(drop_lines)}

Generated with `data_scripts/make_bmg_dataset.py` of the KoGNER project.
"""


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    started = time.monotonic()
    out = Path(args.out)
    from data_scripts.kg_loaders import load_kg

    kg_options = parse_kg_options(args.kg_option)
    logger.info("loading KG %s", args.kg)
    kg = load_kg(args.kg, **kg_options)
    logger.info("KG: %d nodes, %d edges, types %s", kg.num_nodes, kg.num_edges, kg.type_names())
    rows = sample_relation_rows(kg, rate=args.rate, per_relation=args.per_relation, seed=args.seed)
    logger.info("sampled %d relation rows", len(rows))
    generator = build_generator(args, out, rows)
    settings = {
        "kg": args.kg, "kg_options": kg_options, "kg_fingerprint": kg.fingerprint(), "generator": generator.settings(),
        "per_relation": args.per_relation, "rate": args.rate, "seed": args.seed,
        "validation_fraction": args.validation_fraction, "test_fraction": args.test_fraction,
    }
    resume_key = {k: v for k, v in settings.items() if k not in ("validation_fraction", "test_fraction")}
    resume_key["generator"] = {k: v for k, v in settings["generator"].items() if k not in ("cache", "concurrency")}
    check_resume(out, json.loads(json.dumps(resume_key)), args.restart)

    done = generate(rows, generator, out / PROGRESS_FILE)
    records, drops = [], Counter()
    for row in rows:  # KG sample order, whatever order answers arrived in
        entry = done[row.row_id]
        if entry["record"] is None:
            drops[entry["reason"]] += 1
        else:
            records.append(entry["record"])
    dataset = split_records(records, args.validation_fraction, args.test_fraction, args.seed)
    validate_dataset(dataset)
    dataset.save_to_disk(str(out))
    (out / "jsonl").mkdir(exist_ok=True)
    for split, part in dataset.items():
        part.to_json(str(out / "jsonl" / f"{split}.jsonl"), lines=True, force_ascii=False)
    drop_report = {"sampled_rows": len(rows), "kept": len(records), "dropped": dict(sorted(drops.items()))}
    (out / "drop_counts.json").write_text(json.dumps(drop_report, indent=2), encoding="utf-8")
    seconds = time.monotonic() - started
    (out / "README.md").write_text(dataset_card(dataset, drops, settings, len(rows), seconds), encoding="utf-8")

    print(f"wrote {out}: " + ", ".join(f"{split} {len(part)}" for split, part in dataset.items()) + f" sentences")
    print("entity mentions per type: " + json.dumps(dict(sorted(sum((type_counts(p) for p in dataset.values()), Counter()).items()))))
    print(f"dropped by reason: {json.dumps(drop_report['dropped'])}  ({seconds:.0f} s)")
    if args.push_to_hub:
        from huggingface_hub import HfApi

        dataset.push_to_hub(args.push_to_hub, private=args.private)
        HfApi().upload_file(path_or_fileobj=str(out / "README.md"), path_in_repo="README.md",
                            repo_id=args.push_to_hub, repo_type="dataset")
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
