"""The dataset card (README.md) of a generated dataset: counts per type, settings, drops by reason."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from datasets import Dataset, DatasetDict

from .sanity import DROP_REASONS


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
