"""The inference arms of ``benchmarks.speed``: the bare encoder (the floor), KoGNER, the ``gliner`` package (and the
ONNX Runtime arms of ``benchmarks.onnx_arms``), each timed on the same sentences, and their ratios."""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any, Callable, Sequence

import torch

from benchmarks.measure import PeakMemory, synchronize
from benchmarks.onnx_arms import onnx_arms, onnx_ratios
from benchmarks.speed_setup import load_bare_encoder, load_gliner, load_kogner

BATCH_SIZES = (1, 32)


def subtoken_count(tokenizer: Any, sentences: Sequence[Sequence[str]]) -> int:
    """Encoder sub-tokens of the sentences' words (no special tokens, no label prompts)."""
    encoded = tokenizer(list(map(list, sentences)), is_split_into_words=True, add_special_tokens=False)
    return sum(len(ids) for ids in encoded["input_ids"])


def measure(name: str, run: Callable[[], int], sentences: int, tokens: int, device: str,
            repeats: int = 1) -> dict[str, Any]:
    """Median time of ``repeats`` passes of ``run`` (the caller warms up first), with the peak memory of all passes."""
    gc.collect()
    synchronize(device)
    durations = []
    with PeakMemory(device) as memory:
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            entities = run()
            synchronize(device)
            durations.append(time.perf_counter() - start)
    seconds = sorted(durations)[len(durations) // 2]
    result = {
        "arm": name,
        "seconds": round(seconds, 4),
        "repeats": max(1, repeats),
        "sentences_per_s": round(sentences / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_rss_delta_mib": None if memory.rss_delta_mib is None else round(memory.rss_delta_mib, 1),
        "peak_cuda_mib": None if memory.cuda_peak_mib is None else round(memory.cuda_peak_mib, 1),
        "entities_found": entities,
    }
    print(f"  {name:<40} {result['sentences_per_s']:>9.1f} sent/s {result['tokens_per_s']:>10.0f} tok/s", flush=True)
    return result


def bare_encoder_run(encoder: Any, tokenizer: Any, words: list[list[str]], batch_size: int, device: str) -> Callable[[], int]:
    order = sorted(range(len(words)), key=lambda row: len(words[row]))  # as KoGNER sorts windows: less padding

    @torch.no_grad()
    def run() -> int:
        for first in range(0, len(order), batch_size):
            chunk = [words[row] for row in order[first : first + batch_size]]
            batch = tokenizer(chunk, is_split_into_words=True, padding=True, truncation=True, return_tensors="pt")
            encoder(**{key: value.to(device) for key, value in batch.items()}).last_hidden_state
        return 0

    return run


def inference_arms(args: argparse.Namespace, sentences: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from kogner.defaults import resolve_encoder

    encoder_path = resolve_encoder(args.encoder)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    words = [list(sentence["tokens"]) for sentence in sentences]
    texts = [" ".join(tokens) for tokens in words]
    count, tokens = len(words), subtoken_count(tokenizer, words)
    warm = texts[: min(8, count)]
    results: list[dict[str, Any]] = []
    notes: list[str] = []

    bare = load_bare_encoder(encoder_path, args.random_init, args.device)
    for batch_size in BATCH_SIZES:
        bare_encoder_run(bare, tokenizer, words[:8], batch_size, args.device)()
        results.append(measure(f"(i) bare encoder, batch {batch_size}",
                               bare_encoder_run(bare, tokenizer, words, batch_size, args.device),
                               count, tokens, args.device, args.repeats))
    del bare

    kogner = load_kogner(args, encoder_path, args.model)
    threshold = args.threshold
    kogner.batch_predict_entities(warm, labels, threshold, batch_size=8)
    for batch_size in BATCH_SIZES:
        results.append(measure(
            f"(ii) KoGNER batch_predict_entities, batch {batch_size}",
            lambda: sum(map(len, kogner.batch_predict_entities(texts, labels, threshold, batch_size=batch_size))),
            count, tokens, args.device, args.repeats))
    results.append(measure(
        "(ii) KoGNER predict_entities (one call per sentence)",
        lambda: sum(len(kogner.predict_entities(text, labels, threshold)) for text in texts),
        count, tokens, args.device, args.repeats))
    if args.onnx:
        onnx_rows, onnx_notes = onnx_arms(args, kogner, texts, labels, threshold, BATCH_SIZES, count, tokens)
        results += onnx_rows
        notes += onnx_notes
    del kogner

    gliner, skipped = load_gliner(args, encoder_path)
    if gliner is None:
        notes.append(f"(iii) skipped: {skipped}")
        print(f"  (iii) skipped: {skipped}", flush=True)
    else:
        gliner_threshold = 0.5 if threshold is None else threshold
        with torch.no_grad():
            gliner.inference(warm, labels, threshold=gliner_threshold, batch_size=8)
        for batch_size in BATCH_SIZES:
            def run_gliner(batch_size: int = batch_size) -> int:
                with torch.no_grad():
                    found = gliner.inference(texts, labels, threshold=gliner_threshold, batch_size=batch_size)
                return sum(map(len, found))

            results.append(measure(f"(iii) gliner inference, batch {batch_size}", run_gliner, count, tokens,
                                   args.device, args.repeats))
        del gliner
    gc.collect()
    return {"sentences": count, "subtokens": tokens, "labels": labels, "rows": results, "notes": notes}


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """(ii)/(i) and (ii)/(iii) of tokens/s at each batch size."""
    rate = {row["arm"]: row["tokens_per_s"] for row in rows}
    found: dict[str, float] = {}
    for batch_size in BATCH_SIZES:
        kogner = rate.get(f"(ii) KoGNER batch_predict_entities, batch {batch_size}")
        bare = rate.get(f"(i) bare encoder, batch {batch_size}")
        gliner = rate.get(f"(iii) gliner inference, batch {batch_size}")
        if kogner and bare:
            found[f"KoGNER / bare encoder, batch {batch_size}"] = round(kogner / bare, 3)
        if kogner and gliner:
            found[f"KoGNER / gliner, batch {batch_size}"] = round(kogner / gliner, 3)
    found.update(onnx_ratios(rows, BATCH_SIZES))
    return found
