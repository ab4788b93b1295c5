"""Fitting the linking heads after training, so that ``predict_entities(..., link=True)`` retrieves entities.

During training the distillation term shapes the encoder, but the two linear maps of the distillation head
(``MLP_span``, ``MLP_dist``) see only the few KG-linked spans of each batch, at the model's learning rate, and
nothing makes a span's own entity its *nearest* among all of the index's entities. How often each query links right
before and after this fit is measured in BENCHMARKS.md ("Entity linking").

So after training, with the student frozen, the two linking maps (`linking_maps`: the linking head's for the default
``linking_query="mean_tokens"``, the distillation head's for ``"span"``) are fitted for retrieval: InfoNCE of each
training link's query (`linking_queries`) against its entity and ``candidates`` other index entities (sampled per
step; all of them when the index is smaller), at the model's ``distillation_temperature``. The student's span
vectors and NER predictions are unchanged; only the linking space moves. A held-out tenth of the links (seen
entities) is scored before and after.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from kogner.atomic import atomic_write_json
from modeling_kogner.index_kogner import EntityIndex, JoinedRows
from modeling_kogner.linking_kogner import linking_maps, linking_queries

logger = logging.getLogger(__name__)


def training_links(
    examples: Iterable[Mapping[str, Any]], row_of: Mapping[str, int], max_width: int, max_links: int, seed: int,
    max_row: int | None = None,
) -> tuple[list[list[str]], list[tuple[int, int, int]], list[int]]:
    """Up to ``max_links`` KG links of ``examples`` (``kge`` ids found in ``row_of``, at most ``max_width`` words), in
    a seeded random order: sentences, ``(sentence, start, end)`` spans and the index row of each link. With
    ``max_row``, only rows below it (the entities of an `EntityIndex` with a teacher vector: ``num_vectors``)."""
    found = [(tuple(example["tokens"]), (link["start"], link["end"]), row_of[link["kg_id"]])
             for example in examples for link in (example.get("kge") or [])
             if link["kg_id"] in row_of and link["end"] - link["start"] < max_width]
    if max_row is not None:
        found = [item for item in found if item[2] < max_row]
    random.Random(seed).shuffle(found)
    sentences: dict[tuple[str, ...], int] = {}
    spans, rows = [], []
    for tokens, (start, end), row in found[:max_links]:
        number = sentences.setdefault(tokens, len(sentences))
        spans.append((number, start, end))
        rows.append(row)
    return [list(tokens) for tokens in sentences], spans, rows


def span_chunks(
    sentences: Sequence[Sequence[str]], spans: Sequence[tuple[int, int, int]], size: int
) -> Iterator[tuple[list[Sequence[str]], list[tuple[int, int, int]]]]:
    """``spans`` in consecutive chunks of ``size``, each with only its own sentences (span sentence numbers
    renumbered), so that long lists are encoded piece by piece with a progress bar."""
    for first in range(0, len(spans), size):
        part = spans[first : first + size]
        used = sorted({sentence for sentence, _, _ in part})
        local = {sentence: position for position, sentence in enumerate(used)}
        yield [sentences[s] for s in used], [(local[s], start, end) for s, start, end in part]


def encode_spans(model: Any, sentences: Sequence[Sequence[str]], spans: Sequence[tuple[int, int, int]],
                 progress: bool = True, chunk: int = 512, batch_size: int = 32) -> torch.Tensor:
    """`linking_queries` ``[K, q]`` of many spans, chunk by chunk with a progress bar."""
    parts = [linking_queries(model, chunk_sentences, chunk_spans, batch_size)
             for chunk_sentences, chunk_spans in tqdm(list(span_chunks(sentences, spans, chunk)), unit="chunk",
                                                      desc="encoding the training links", disable=not progress)]
    return torch.cat(parts) if parts else torch.zeros((0, linking_maps(model)[0].in_features))


def retrieval_accuracy(model: Any, queries: torch.Tensor, rows: torch.Tensor) -> float | None:
    """Accuracy@1 of the nearest index entity (cosine in the linking space, as ``link=True`` ranks them) for
    `linking_queries` ``queries`` (before the query map); ``None`` without queries."""
    if len(rows) == 0:
        return None
    query_map, entity_map = linking_maps(model)
    with torch.no_grad():
        keys = model.entity_index.projected(entity_map).to(queries.device)
        nearest = (F.normalize(query_map(queries), dim=-1) @ keys.T.to(queries.dtype)).argmax(dim=-1)
    return round(float((nearest == rows).float().mean()), 4)


def name_links(index: EntityIndex, max_width: int, max_links: int, seed: int
               ) -> tuple[list[list[str]], list[tuple[int, int, int]], list[int]]:
    """Training links made of the names and synonyms of the index's entities with a teacher vector, each read alone
    (a sentence of its own words, at most ``max_width``), up to ``max_links`` in a seeded random order: the same
    triple as `training_links`, to add to it so that the fit also learns synonyms (and the query of a name read
    alone, which scores entities without a teacher vector, lands near its entity)."""
    from modeling_kogner.processing_kogner import split_words

    pairs = [(text, row) for row in range(index.num_vectors)
             for text in dict.fromkeys([index.names[row], *index.synonyms[row]])]
    random.Random(seed).shuffle(pairs)
    sentences, spans, rows = [], [], []
    for text, row in pairs:
        words = [word for word, _, _ in split_words(text)][:max_width]
        if words and len(rows) < max_links:
            spans.append((len(sentences), 0, len(words) - 1))
            sentences.append(words)
            rows.append(row)
    return sentences, spans, rows


def homonym_rows(index: EntityIndex) -> dict[int, list[int]]:
    """Entity row (with a teacher vector) -> the other such rows sharing a normalised name or synonym with it."""
    groups: dict[str, set[int]] = {}
    for row, keys in enumerate(index.name_keys()[: index.num_vectors]):
        for key in keys.split("\x1f"):
            if key:
                groups.setdefault(key, set()).add(row)
    homonyms: dict[int, set[int]] = {}
    for rows in groups.values():
        if len(rows) > 1:
            for row in rows:
                homonyms.setdefault(row, set()).update(rows - {row})
    return {row: sorted(others) for row, others in homonyms.items()}


def fit_linking_heads(model: Any, sentences: Sequence[Sequence[str]], spans: Sequence[tuple[int, int, int]],
                      rows: Sequence[int], steps: int = 1000, batch_size: int = 256, candidates: int = 4096,
                      learning_rate: float = 1e-3, seed: int = 0, progress: bool = True,
                      hard_negatives: bool = False) -> dict[str, Any]:
    """Fit the model's two `linking_maps` for retrieval among ``model.entity_index``; returns a report.

    Args:
        sentences, spans, rows: training links, e.g. from `training_links` (``rows`` index the entity index).
        steps, batch_size, learning_rate: Adam steps over batches of links.
        candidates: index entities scored per step besides the batch's own (all when the index is smaller).
        hard_negatives: also score, in every step, the entities that share a normalised name or synonym with a
            batch's own entity (`homonym_rows`), the ones names cannot tell apart.
    """
    index = model.entity_index
    if model.distillation_head is None or index is None:
        raise ValueError("fitting the linking heads needs a model with a distillation head and an entity index")
    kept = [number for number, row in enumerate(rows) if row < index.num_vectors]  # entities with a teacher vector
    spans, rows = [spans[number] for number in kept], [rows[number] for number in kept]
    if not spans:
        raise ValueError("no training link points at an entity of the index: nothing to fit the linking heads on")
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    queries = encode_spans(model, sentences, spans, progress)
    targets = torch.tensor(rows, dtype=torch.long)
    order = torch.randperm(len(targets), generator=generator)
    held = order[: len(order) // 10]
    fit = order[len(order) // 10 :] if len(order) >= 10 else order
    query_map, entity_map = linking_maps(model)
    device, dtype = query_map.weight.device, query_map.weight.dtype
    queries, targets, entities = queries.to(device, dtype), targets.to(device), index.vectors.to(device, dtype)
    before = retrieval_accuracy(model, queries[held], targets[held])
    homonyms = homonym_rows(index) if hard_negatives else {}
    parameters = [*query_map.parameters(), *entity_map.parameters()]
    flags = [parameter.requires_grad for parameter in parameters]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    temperature = model.loss_settings.distillation_temperature
    losses = []
    try:
        for parameter in parameters:
            parameter.requires_grad_(True)
        for _ in tqdm(range(steps), desc="fitting the linking heads", unit="step", disable=not progress):
            batch = fit[torch.randint(len(fit), (min(batch_size, len(fit)),), generator=generator)]
            drawn = torch.randint(index.num_vectors, (min(candidates, index.num_vectors),), generator=generator)
            if homonyms:
                same_name = [h for t in targets[batch].tolist() for h in homonyms.get(t, ())]
                drawn = torch.cat([drawn, torch.tensor(same_name, dtype=torch.long)])
            pool = torch.unique(torch.cat([targets[batch].cpu(), drawn])).to(device)  # sorted, own entities in it
            logits = (F.normalize(query_map(queries[batch]), dim=-1)
                      @ F.normalize(entity_map(entities[pool]), dim=-1).T) / temperature
            loss = F.cross_entropy(logits, torch.searchsorted(pool, targets[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)
    if model.linking_head is not None and steps > 0:
        model.linking_head.fitted.fill_(True)
    report = {"linking_query": model.config.linking_query, "links": len(spans), "held_out_links": len(held),
              "entities": index.num_vectors, "steps": steps,
              "candidates_per_step": min(candidates, index.num_vectors), "hard_negatives": hard_negatives,
              "first_loss": losses[0] if losses else None,
              "final_loss": losses[-1] if losses else None, "held_out_seen_acc_at_1_before": before,
              "held_out_seen_acc_at_1_after": retrieval_accuracy(model, queries[held], targets[held]),
              "seconds": round(time.perf_counter() - started, 1)}
    logger.info("linking heads fitted: %s", report)
    return report


def full_entity_index(index: EntityIndex, kg_source: str, cache_dir: str | Path | None = None) -> EntityIndex:
    """``index`` (the teacher's entities, with vectors) followed by every other entity of the KG's lexicon (names,
    synonyms and identifiers only), for ``link=True``; teacher entities without synonyms or identifiers (teachers
    built before they were kept) take the lexicon's. Only biokg-lite has a lexicon: any other ``kg_source`` returns
    ``index`` unchanged."""
    if kg_source != "biokg-lite":
        logger.info("the entity index keeps the teacher's %d entities: no lexicon for KG %r", len(index), kg_source)
        return index
    from kogner.kg.lexicon import load_lexicon_table

    table = load_lexicon_table(cache_dir=cache_dir)
    row_of = dict(zip(table["kg_id"].tolist(), range(len(table))))
    names_synonyms, names_xrefs = table["synonyms"].tolist(), table["xrefs"].tolist()
    synonyms, xrefs = list(index.synonyms.rows), list(index.xrefs.rows)
    for row, kg_id in enumerate(index.kg_ids):
        source = row_of.get(kg_id)
        if source is not None:
            synonyms[row] = synonyms[row] or names_synonyms[source]
            xrefs[row] = xrefs[row] or names_xrefs[source]
    extra = table[~table["kg_id"].isin(set(index.kg_ids))]
    teacher_keys = EntityIndex(index.kg_ids, index.names, index.vectors, index.types, JoinedRows(synonyms)).name_keys()
    combined = EntityIndex(index.kg_ids + extra["kg_id"].tolist(), index.names + extra["name"].tolist(),
                           index.vectors, index.types + extra["type"].tolist(),
                           JoinedRows(synonyms + extra["synonyms"].tolist()),
                           JoinedRows(xrefs + extra["xrefs"].tolist()),
                           teacher_keys + extra["name_keys"].tolist())
    logger.info("entity index: %d teacher entities + %d lexicon entities linkable by name", len(index), len(extra))
    return combined


def main(argv: Sequence[str] | None = None) -> None:
    """Refit the linking heads of a saved model (one with an entity index) and save it to another folder."""
    import argparse

    from kogner.corpora.linking import link_corpus
    from kogner.corpora.mix import load_training_mix
    from modeling_kogner import KoGNERModel

    from .arguments import saved_loss_settings

    parser = argparse.ArgumentParser(
        description="Fit a saved KoGNER model's linking heads on the KG links of training data (student frozen) "
                    "and save the model to --out, e.g. python -m kogner.training.linking_heads --model "
                    "runs/release/model --train_data runs/data-disjoint --out runs/release/model-linked")
    parser.add_argument("--model", required=True, help="a KoGNER model saved with its entity index")
    parser.add_argument("--train_data", nargs="+", required=True,
                        help="training sources as for train.py (their kge links, and corpus spans linked by name)")
    parser.add_argument("--data_dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--out", required=True, help="folder for the model with the fitted heads")
    parser.add_argument("--steps", type=int, default=1000, help="Adam steps (default %(default)s)")
    parser.add_argument("--max_links", type=int, default=20000, help="training links used (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the link sample and the fit")
    parser.add_argument("--name_links", type=int, default=0, metavar="N",
                        help="also fit on up to N entity names and synonyms read alone (default 0: none)")
    parser.add_argument("--hard_negatives", action="store_true",
                        help="score entities sharing a name or synonym with each batch's entities in every step")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = KoGNERModel.from_pretrained(args.model)
    model.loss_settings = saved_loss_settings(args.model)  # the temperature it was trained with
    if model.entity_index is None:
        raise SystemExit(f"--model {args.model}: no entity index (entity_index.safetensors); train it with a teacher")
    dataset, _ = link_corpus(load_training_mix(args.train_data, args.data_dir, args.seed), model.entity_index)
    sentences, spans, rows = training_links(dataset, model.entity_index.row_of, model.config.max_width,
                                            args.max_links, args.seed)
    if args.name_links:
        extra = name_links(model.entity_index, model.config.max_width, args.name_links, args.seed)
        offset = len(sentences)
        sentences = sentences + extra[0]
        spans = spans + [(offset + sentence, start, end) for sentence, start, end in extra[1]]
        rows = rows + extra[2]
    report = fit_linking_heads(model, sentences, spans, rows, steps=args.steps, seed=args.seed,
                               hard_negatives=args.hard_negatives)
    model.save_pretrained(args.out)
    model.tokenizer.save_pretrained(args.out)
    report = {"command": "python -m kogner.training.linking_heads " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": time.strftime("%Y-%m-%d %H:%M"), **report}
    atomic_write_json(Path(args.out, "linking_fit.json"), report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
