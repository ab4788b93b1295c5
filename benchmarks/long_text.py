"""Long texts through ``predict_entities``: per-token speed of a 1 MB text against a 1 kB one, and where time goes.

Run through ``python -m benchmarks.speed --long-text`` (same ``--encoder``/``--model``/``--random-init``/``--device``
options). The text is the corpus' sentences (or speed.py's synthetic ones) joined and repeated up to
``--long-chars`` characters; the short text is its first ~1 kB. Reported, per text:

- encoder sub-tokens and seconds of ``predict_entities`` (batch 1, as users call it) and of
  ``batch_predict_entities([text], batch_size=32)``; tokens/s and the long/short per-token ratio (target >= 0.5);
- the share of the time spent in decoding (candidate extraction, merge of overlapping windows, greedy selection)
  and in cutting the text into windows (tokenization included), measured by wrapping those functions.

Written to ``benchmarks/results/long_text.json`` (``--output`` of speed.py is not used here) with the command,
commit, machine and date.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json

SHORT_CHARS = 1_000
LONG_BATCH = 32
DECODING = ("batch_candidates", "merge_candidates", "greedy_decode")


def corpus_text(sentences: Sequence[dict[str, Any]], chars: int) -> str:
    """The sentences' words joined by spaces, sentence after sentence (repeated if needed), cut at a word boundary
    to at most ``chars`` characters (at least one sentence)."""
    pieces: list[str] = []
    total = 0
    while total < chars:
        for sentence in sentences:
            piece = " ".join(sentence["tokens"])
            if pieces and total + 1 + len(piece) > chars:
                return " ".join(pieces)
            pieces.append(piece)
            total += len(piece) + (1 if len(pieces) > 1 else 0)
    return " ".join(pieces)


class PhaseClock:
    """Seconds spent inside the decoding functions and the windowing, by wrapping them where the model calls them."""

    def __init__(self) -> None:
        self.seconds = {"decode": 0.0, "windows": 0.0}

    def _timed(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - started

        return wrapper

    @contextmanager
    def attached(self) -> Iterator["PhaseClock"]:
        from modeling_kogner import prediction_kogner, processing_kogner

        originals = {name: getattr(prediction_kogner, name) for name in DECODING}
        windows = processing_kogner.WordBatchEncoder.windows
        try:
            for name, function in originals.items():
                setattr(prediction_kogner, name, self._timed("decode", function))
            processing_kogner.WordBatchEncoder.windows = self._timed("windows", windows)
            yield self
        finally:
            for name, function in originals.items():
                setattr(prediction_kogner, name, function)
            processing_kogner.WordBatchEncoder.windows = windows


def subtokens(tokenizer: Any, text: str) -> int:
    """Encoder sub-tokens of the text's words (no special tokens): the useful work, whatever the windows repeat."""
    from modeling_kogner.processing_kogner import encodable_words, split_words

    words = list(encodable_words([word for word, _, _ in split_words(text)]))
    ids = tokenizer([words], is_split_into_words=True, add_special_tokens=False)["input_ids"][0]
    return len(ids)


def timed(name: str, run: Callable[[], list[Any]], tokens: int, repeats: int = 1) -> dict[str, Any]:
    """Median of ``repeats`` runs with the decode/windows shares of that median run."""
    runs = []
    for _ in range(repeats):
        clock = PhaseClock()
        with clock.attached():
            started, cpu_started = time.perf_counter(), time.process_time()
            entities = run()
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        runs.append((seconds, cpu_seconds, dict(clock.seconds), len(entities)))
    seconds, cpu_seconds, phases, found = sorted(runs)[len(runs) // 2]
    row = {
        "arm": name,
        "seconds": round(seconds, 4),
        "repeats": repeats,
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "cpu_seconds": round(cpu_seconds, 4),  # all threads of the process: steadier than wall time on a busy host
        "tokens_per_cpu_s": round(tokens / cpu_seconds, 1),
        "decode_share": round(phases["decode"] / seconds, 4),
        "windows_share": round(phases["windows"] / seconds, 4),
        "decode_s": round(phases["decode"], 4),
        "entities": found,
    }
    print(f"  {name:<52} {seconds:>9.2f} s {row['tokens_per_s']:>9.0f} tok/s  decode {row['decode_share']:.1%}",
          flush=True)
    return row


def run_long_text(args: argparse.Namespace, sentences: list[dict[str, Any]], labels: list[str], source: str,
                  load_kogner: Callable[..., Any]) -> dict[str, Any]:
    """Measure the short and the long text and write the report (see the module docstring)."""
    from kogner.defaults import resolve_encoder

    run_info = provenance(command_line("speed"), args.device)  # before the runs: the load average they started under
    model = load_kogner(args, resolve_encoder(args.encoder), args.model)
    short, long = corpus_text(sentences, SHORT_CHARS), corpus_text(sentences, args.long_chars)
    short_tokens, long_tokens = subtokens(model.tokenizer, short), subtokens(model.tokenizer, long)
    threshold = args.threshold
    print(f"long text: {len(long):,} chars, {long_tokens:,} sub-tokens; short text: {len(short):,} chars, "
          f"{short_tokens:,} sub-tokens; labels {labels}; threshold {threshold or model.config.threshold}", flush=True)
    model.predict_entities(short, labels, threshold)  # warm-up
    rows = [
        timed("short, predict_entities", lambda: model.predict_entities(short, labels, threshold), short_tokens,
              repeats=args.short_repeats),
        timed(f"short, batch_predict_entities batch {LONG_BATCH}",
              lambda: model.batch_predict_entities([short], labels, threshold, batch_size=LONG_BATCH)[0],
              short_tokens, repeats=args.short_repeats),
        timed("long, predict_entities", lambda: model.predict_entities(long, labels, threshold), long_tokens),
        timed(f"long, batch_predict_entities batch {LONG_BATCH}",
              lambda: model.batch_predict_entities([long], labels, threshold, batch_size=LONG_BATCH)[0],
              long_tokens),
    ]
    rate = {row["arm"]: row["tokens_per_s"] for row in rows}
    cpu_rate = {row["arm"]: row["tokens_per_cpu_s"] for row in rows}
    summary = {
        "long / short tokens per CPU second, predict_entities": round(
            cpu_rate["long, predict_entities"] / cpu_rate["short, predict_entities"], 3),
        "long / short tokens/s, predict_entities": round(
            rate["long, predict_entities"] / rate["short, predict_entities"], 3),
        f"long / short tokens/s, batch {LONG_BATCH}": round(
            rate[f"long, batch_predict_entities batch {LONG_BATCH}"]
            / rate[f"short, batch_predict_entities batch {LONG_BATCH}"], 3),
        f"decode share, long, batch {LONG_BATCH}": rows[3]["decode_share"],
        "decode share, long, predict_entities": rows[2]["decode_share"],
    }
    report = {
        **run_info,
        "encoder": args.encoder,
        "model": args.model or "untrained heads (hidden 512, max_width 8) on the encoder",
        "text_source": source,
        "labels": labels,
        "threshold": threshold if threshold is not None else model.config.threshold,
        "long_chars": len(long),
        "short_chars": len(short),
        "rows": rows,
        "summary": summary,
        "targets": {"long / short tokens/s": ">= 0.5", f"decode share at batch {LONG_BATCH}": "<= 0.10"},
    }
    report["markdown"] = markdown(report)
    print("\n" + report["markdown"])
    write_json(args.long_output, report)
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['long_chars']:,}-character text vs {report['short_chars']:,}-character text, labels "
        f"{', '.join(report['labels'])}, threshold {report['threshold']}",
        "",
        "| run | seconds | CPU seconds | sub-tokens | tokens/s | decoding share | windowing share | entities |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(f"| {row['arm']} | {row['seconds']:.2f} | {row['cpu_seconds']:.2f} | {row['tokens']:,} | "
                     f"{row['tokens_per_s']:.0f} | {row['decode_share']:.1%} | {row['windows_share']:.1%} | "
                     f"{row['entities']:,} |")
    lines += ["", "| summary | value |", "|---|---|"]
    lines += [f"| {name} | {value:.3f} |" for name, value in report["summary"].items()]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--long-text`` options of speed.py."""
    parser.add_argument("--long-text", action="store_true",
                        help="measure one long text against a 1 kB one instead (see benchmarks/long_text.py)")
    parser.add_argument("--long-chars", type=int, default=1_000_000,
                        help="characters of the long text for --long-text (default: 1,000,000)")
    parser.add_argument("--short-repeats", type=int, default=9,
                        help="timed runs of the 1 kB text for --long-text, the median is kept (default: 9)")
    parser.add_argument("--long-output", default=str(RESULTS_DIR / "long_text.json"),
                        help="JSON results file of --long-text")
