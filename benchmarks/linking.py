"""Entity linking accuracy of a KoGNER model trained with distillation (``predict_entities(..., link=True)``).

Gold spans are linked by the model (nearest teacher entity to the span's distilled vector, see
``modeling_kogner/linking_kogner.py``) and scored by accuracy@1/@5 against their gold KG id, on:

* ``kg_test_entity_disjoint``: the generated KG test split, only links whose KG id appears in no training sentence
  (entity-disjoint even when the data was split at random; ``make_bmg_dataset.py --split entity-disjoint``
  keeps them all); ``kg_dev_entity_disjoint``: the same from the validation split, on which the setting of
  ``linking_name_candidates`` is chosen (``name_candidates_best_on_dev``);
* ``corpora``: benchmark test spans linked to the KG by name (`kogner.corpora.linking.link_corpus`: normalised
  exact name/synonym, type-compatible), e.g. NCBI-disease mentions -> MONDO/HPO ids.

Both are compared with a name-string baseline over the same entity index: exact normalised-name lookup (several
entities with that name: the lowest row), else the closest name by ``difflib`` similarity. Results:
``benchmarks/results/linking.json`` with ``kg_test_entity_disjoint: {acc_at_1, acc_at_5}`` and
``name_baseline: {acc_at_1}``. The model is scored as ``link=True`` ranks (``acc_at_*``: entities named like the
span first, from its ``linking_name_candidates`` nearest or the whole index), by the vectors alone
(``vector_only_acc_at_*``) and for each setting of ``NAME_CANDIDATES`` (``by_name_candidates``). Note: corpus ids
come from a name match, so the name baseline is favoured there.

    python -m benchmarks.linking --model runs/release/model --kg-data runs/data-disjoint
    python -m benchmarks.linking --model M --corpora ncbi_disease bc5cdr --kg biokg-lite --max-spans 2000
"""

from __future__ import annotations

import argparse
import difflib
import random
import sys
import time
from typing import Any, Sequence

from tqdm.auto import tqdm

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json
from modeling_kogner.configuration_kogner import parse_name_candidates

NAME_CANDIDATES = (0, 5, 20, "all")  # linking_name_candidates settings scored side by side


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a KoGNER model saved with its entity index")
    parser.add_argument("--kg-data", default="runs/data-disjoint",
                        help="generated KG dataset (train + test splits); 'none' = skip")
    parser.add_argument("--corpora", nargs="*", default=["ncbi_disease", "bc5cdr"],
                        help="corpora whose test mentions are linked by name (default %(default)s)")
    parser.add_argument("--kg", default="biokg-lite",
                        help="KG whose names + synonyms give the corpus spans their ids; 'index' = the model's "
                             "entity index names (default %(default)s)")
    parser.add_argument("--kg-cache", default="runs/kg-cache", help="biokg-lite cache folder")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--max-spans", type=int, default=3000, help="random sample of spans per set (0 = all)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="seed of the span sample")
    parser.add_argument("--name-candidates", type=parse_name_candidates, default=None,
                        help="linking_name_candidates to score the headline acc_at_* with: an int or 'all' (default: "
                             "the model's config; every setting of %s is reported too)" % (NAME_CANDIDATES,))
    parser.add_argument("--output", default=str(RESULTS_DIR / "linking.json"), help="results JSON")
    args = parser.parse_args(argv)
    args.command = command_line("linking", argv)
    return args


class NameBaseline:
    """Exact normalised-name lookup in the index, else the most similar name (difflib)."""

    def __init__(self, names: Sequence[str]) -> None:
        from kogner.words import normalize_mention

        self.normalize = normalize_mention
        self.keys = [normalize_mention(name) for name in names]
        self.exact: dict[str, int] = {}
        for row, key in enumerate(self.keys):
            self.exact.setdefault(key, row)
        self.unique_keys = list(self.exact)

    def __call__(self, text: str) -> tuple[int, str]:
        key = self.normalize(text)
        if key in self.exact:
            return self.exact[key], "exact"
        close = difflib.get_close_matches(key, self.unique_keys, n=1, cutoff=0.0)
        return (self.exact[close[0]], "fuzzy") if close else (-1, "none")


def spans_of(dataset: Any, keep: Any, max_width: int) -> tuple[list[list[str]], list[tuple[int, int, int]], list[str]]:
    """Sentences, ``(sentence, start, end)`` spans and gold ids of the ``kge`` links ``keep`` accepts."""
    sentences, spans, gold = [], [], []
    for tokens, links in zip(dataset["tokens"], dataset["kge"]):
        chosen = [link for link in links if keep(link) and link["end"] - link["start"] < max_width]
        if chosen:
            for link in chosen:
                spans.append((len(sentences), link["start"], link["end"]))
                gold.append(link["kg_id"])
            sentences.append(list(tokens))
    return sentences, spans, gold


def sample(spans: list, gold: list, limit: int, seed: int) -> tuple[list, list]:
    if not limit or len(spans) <= limit:
        return spans, gold
    chosen = sorted(random.Random(seed).sample(range(len(spans)), limit))
    return [spans[i] for i in chosen], [gold[i] for i in chosen]


def score(model: Any, baseline: NameBaseline, sentences: list[list[str]], spans: list[tuple[int, int, int]],
          gold: list[str], batch_size: int, name: str) -> dict[str, Any]:
    """Model accuracy@1/@5 as ``link=True`` ranks (``acc_at_*``, the model's ``linking_name_candidates``), by the
    vectors alone (``vector_only_*``) and for each setting of `NAME_CANDIDATES` (``by_name_candidates``), all from one
    encoding pass; and the name baseline's accuracy@1, on the same spans (``by_baseline_lookup``: both accuracies@1
    apart for spans the baseline finds by exact name and by fuzzy match)."""
    from kogner.training.linking_heads import span_chunks
    from modeling_kogner.linking_kogner import check_linkable, linking_maps, rank_entities, span_vectors

    index = check_linkable(model)
    entities = index.projected(linking_maps(model)[1])
    own = model.config.linking_name_candidates
    hits = {setting: [0, 0] for setting in dict.fromkeys([*NAME_CANDIDATES, own])}
    base1, chunk = 0, 256
    by_lookup: dict[str, dict[str, int]] = {}  # the baseline's lookup kind -> spans, model and baseline hits
    chunks = list(span_chunks(sentences, spans, chunk))
    for number, (chunk_sentences, chunk_spans) in enumerate(tqdm(chunks, desc=name, unit="chunk")):
        queries = span_vectors(model, chunk_sentences, chunk_spans, batch_size).to(entities.device)
        texts = [" ".join(chunk_sentences[text][start : end + 1]) for text, start, end in chunk_spans]
        chunk_gold = gold[number * chunk : (number + 1) * chunk]
        firsts = {}
        for setting, counts in hits.items():
            ranked = rank_entities(queries, entities, texts, index, 5, setting)
            firsts[setting] = [index.kg_ids[top[0][0]] for top in ranked]
            for top, kg_id in zip(ranked, chunk_gold):
                ids = [index.kg_ids[row] for row, _ in top]
                counts[0] += ids[0] == kg_id
                counts[1] += kg_id in ids
        for text, kg_id, model_first in zip(texts, chunk_gold, firsts[own]):
            row, kind = baseline(text)
            found = row >= 0 and index.kg_ids[row] == kg_id
            base1 += found
            tally = by_lookup.setdefault(kind, {"spans": 0, "model_acc_at_1": 0, "name_baseline_acc_at_1": 0})
            tally["spans"] += 1
            tally["model_acc_at_1"] += model_first == kg_id
            tally["name_baseline_acc_at_1"] += found
    count = len(spans)

    def rate(value: int) -> float | None:
        return round(value / count, 4) if count else None

    accuracy = {str(setting): {"acc_at_1": rate(top1), "acc_at_5": rate(top5)}
                for setting, (top1, top5) in hits.items()}
    return {"spans": count, "gold_in_index": sum(kg_id in index.row_of for kg_id in gold), "name_candidates": own,
            **accuracy[str(own)], **{f"vector_only_{key}": value for key, value in accuracy["0"].items()},
            "by_name_candidates": accuracy, "name_baseline_acc_at_1": rate(base1),
            "name_baseline_lookups": {kind: tally["spans"] for kind, tally in by_lookup.items()},
            "by_baseline_lookup": {kind: {key: value if key == "spans" else round(value / tally["spans"], 4)
                                          for key, value in tally.items()} for kind, tally in by_lookup.items()}}


def kg_sets(args: argparse.Namespace, model: Any, baseline: NameBaseline) -> dict[str, Any] | None:
    """The KG dev and test links of unseen entities (no training sentence names them; dev: to choose
    ``linking_name_candidates`` on), and as a diagnostic the training split's own links (seen entities: learned at
    all, before generalising)."""
    from datasets import load_from_disk

    if args.kg_data == "none":
        return None
    data = load_from_disk(args.kg_data)
    seen = {link["kg_id"] for links in data["train"]["kge"] for link in links}
    found = {}
    for split, key in (("validation", "dev"), ("test", "test")):
        if split not in data:
            continue
        sentences, spans, gold = spans_of(data[split], lambda link: link["kg_id"] not in seen, model.config.max_width)
        total_links, disjoint_links = sum(len(links) for links in data[split]["kge"]), len(gold)
        spans, gold = sample(spans, gold, args.max_spans, args.seed)
        found[key] = {**score(model, baseline, sentences, spans, gold, args.batch_size, f"KG {split} (unseen)"),
                      f"{split}_links": total_links, "entity_disjoint_links": disjoint_links,
                      "distinct_entities_scored": len(set(gold))}
    train_sentences, train_spans, train_gold = spans_of(data["train"], lambda link: True, model.config.max_width)
    train_spans, train_gold = sample(train_spans, train_gold, args.max_spans, args.seed)
    found["seen"] = score(model, baseline, train_sentences, train_spans, train_gold, args.batch_size,
                          "KG train (seen)")
    return found


def corpus_sets(args: argparse.Namespace, model: Any, baseline: NameBaseline) -> dict[str, Any]:
    from kogner.corpora.linking import link_corpus
    from kogner.corpora.registry import load_corpus_split

    if not args.corpora:
        return {}
    if args.kg == "index":
        source = model.entity_index
    else:
        from kogner.kg import load_kg

        source = load_kg(args.kg, **({"cache_dir": args.kg_cache} if args.kg == "biokg-lite" else {}))
    index_ids = set(model.entity_index.kg_ids)
    results = {}
    for corpus in args.corpora:
        dataset, report = link_corpus(load_corpus_split(corpus, "test", args.data_dir), source)
        sentences, spans, gold = spans_of(dataset, lambda link: link["kg_id"] in index_ids, model.config.max_width)
        spans, gold = sample(spans, gold, args.max_spans, args.seed)
        results[corpus] = {**score(model, baseline, sentences, spans, gold, args.batch_size, corpus),
                           "mentions": report["mentions"], "linked_by_name": report["linked"]}
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from modeling_kogner import KoGNERModel

    device = "cuda" if torch.cuda.is_available() else "cpu"
    run_info, started = provenance(args.command, device, seeds=[args.seed]), time.time()
    model = KoGNERModel.from_pretrained(args.model).to(device)
    if model.entity_index is None:
        raise SystemExit(f"--model {args.model}: no entity index (entity_index.safetensors); train it with a teacher")
    if args.name_candidates is not None:
        model.config.linking_name_candidates = args.name_candidates
    baseline = NameBaseline(model.entity_index.names)
    kg = kg_sets(args, model, baseline) or {}
    corpora = corpus_sets(args, model, baseline)
    summary_keys = ("acc_at_1", "acc_at_5", "vector_only_acc_at_1", "vector_only_acc_at_5", "name_candidates", "spans",
                    "by_name_candidates", "name_baseline_acc_at_1", "by_baseline_lookup")
    dev = kg.get("dev")
    results = {
        **run_info, "model": args.model, "index_entities": len(model.entity_index),
        "kg_dev_entity_disjoint": dev and {key: dev[key] for key in summary_keys},
        "name_candidates_best_on_dev": dev and max(dev["by_name_candidates"],
                                                   key=lambda setting: dev["by_name_candidates"][setting]["acc_at_1"]),
        "kg_test_entity_disjoint": kg.get("test") and {key: kg["test"][key] for key in summary_keys},
        "name_baseline": kg.get("test") and {"acc_at_1": kg["test"]["name_baseline_acc_at_1"],
                                             "lookups": kg["test"]["name_baseline_lookups"]},
        "kg_train_seen_entities": kg.get("seen") and {key: kg["seen"][key] for key in
                                                      ("acc_at_1", "acc_at_5", "spans", "name_baseline_acc_at_1")},
        "kg_details": kg, "corpora": corpora,
        "method": f"cosine nearest neighbour of the span's linking query among every index entity's projected H "
                  f"(linking_query={model.config.linking_query!r}); entities named like the span first, nearest "
                  f"first, from the {model.config.linking_name_candidates!r} nearest ('all': the whole index); "
                  "vector_only_*: without them; by_name_candidates: each setting, the one to use chosen on the dev "
                  "split; baseline: exact normalised name (homonyms: the lowest row), else difflib's closest name",
        "seconds": round(time.time() - started, 1),
    }
    write_json(args.output, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
