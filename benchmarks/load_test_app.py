"""Load test of the Gradio demo: N requests from C concurrent gradio_client clients against a local app.

Starts ``app.build_demo`` on a free 127.0.0.1 port, sends ``--requests`` calls to ``/predict`` spread over
``--clients`` clients (each its own thread and connection), checks that every answer equals the model's own
``predict_entities`` on the same input (with the app's options: sentence splitting on), and reports latency
percentiles (client-side round trip, queue wait included) to stdout and to ``--output`` as JSON.

    python -m benchmarks.load_test_app --model runs/demo/model
    python -m benchmarks.load_test_app --encoder minilm     # the offline all-MiniLM-L6-v2, or any encoder directory

``--encoder`` builds a KoGNER model with untrained heads on that encoder: its entities are meaningless, its
latency is that of the real architecture.

``--mixed`` measures what a maximum-size request does to everyone else: first requests at the app's input cap
(``app.MAX_TEXT_CHARS``) alone, then ``--long-clients`` clients sending requests at the cap back to back while the
``--clients`` clients send the ``--requests`` short requests. Reported: latency at the cap (alone and under load) and
the short requests' p50/p95/max under that load (targets: at the cap <= 5 s, short p95 <= 2 s, 0 errors).

    python -m benchmarks.load_test_app --encoder minilm --mixed --output benchmarks/results/app_load_mixed.json
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import app
from benchmarks.common import RESULTS_DIR, command_line, provenance, write_json

DEFAULT_OUTPUT = RESULTS_DIR / "app_load.json"
DEFAULT_MIXED_OUTPUT = RESULTS_DIR / "app_load_mixed.json"

PARAGRAPH = (
    "Acute kidney injury is a frequent complication of cisplatin chemotherapy. We followed 48 adults with "
    "head and neck squamous cell carcinoma who received cisplatin with or without magnesium supplementation. "
    "Serum creatinine rose above baseline in 19 patients, and proximal tubule damage was confirmed by urinary "
    "KIM-1 and NGAL. Patients carrying the OCT2 variant rs316019 showed less nephrotoxicity, whereas those "
    "with pre-existing hypertension or diabetes mellitus were at higher risk. In HK-2 cells, magnesium reduced "
    "cisplatin uptake and lowered caspase-3 activity. These findings support magnesium co-administration and "
    "genotype-guided monitoring to protect the kidney during platinum-based treatment."
)


def workload() -> list[tuple[str, list[str]]]:
    """The request mix: the demo's example sentences and one abstract-length paragraph, with their entity types."""
    cases = [(text, app.parse_labels(labels)) for text, labels in app.EXAMPLES]
    cases.append((PARAGRAPH, ["disease", "chemical", "gene", "cell line", "anatomy"]))
    return cases


def percentile(values: list[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in [0, 1]) of a non-empty list."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def same_entities(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """Same spans, labels and texts in the same order, scores equal to the app's 4-decimal rounding."""
    if [(e["start"], e["end"], e["text"], e["label"]) for e in got] != [
        (e["start"], e["end"], e["text"], e["label"]) for e in expected
    ]:
        return False
    return all(abs(g["score"] - e["score"]) <= 1e-4 for g, e in zip(got, expected))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_load_test(
    model: Any, requests: int = 50, clients: int = 5, concurrency_limit: int = app.DEFAULT_CONCURRENCY
) -> dict[str, Any]:
    """Serve ``model`` with the demo, send ``requests`` calls from ``clients`` concurrent clients, return the report.

    The report counts answered and correct requests (``correct`` = equal to a direct ``predict_entities`` call) and
    gives latency statistics in seconds.
    """
    from gradio_client import Client

    cases = workload()
    threshold = float(model.config.threshold)
    split = app.split_option(model)  # the app's default (sentence splitting on), so that answers compare equal
    expected = [model.predict_entities(text, labels, threshold=threshold, **split) for text, labels in cases]
    demo = app.build_demo(model, concurrency_limit=concurrency_limit, analytics_enabled=False)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    connections = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(clients)]

    errors: dict[int, str] = {}

    def worker(client_index: int) -> list[tuple[int, float, bool]]:
        results = []
        for request in range(client_index, requests, clients):
            text, labels = cases[request % len(cases)]
            started = time.perf_counter()
            try:
                entities = connections[client_index].predict(
                    text, ", ".join(labels), threshold, False, False, True, api_name="/predict"
                )[2]
            except Exception as error:  # an unanswered request is a result of the test: counted and reported
                errors[request] = f"{type(error).__name__}: {error}"
                continue
            elapsed = time.perf_counter() - started
            results.append((request, elapsed, same_entities(entities, expected[request % len(cases)])))
        return results

    try:
        connections[0].predict(cases[0][0], ", ".join(cases[0][1]), threshold, False, False, True, api_name="/predict")
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            outcomes = [result for results in pool.map(worker, range(clients)) for result in results]
        wall = time.perf_counter() - started
    finally:
        for connection in connections:
            connection.close()
        demo.close()

    latencies = [elapsed for _, elapsed, _ in outcomes] or [float("nan")]
    return {
        "requests": requests,
        "clients": clients,
        "server_concurrency_limit": concurrency_limit,
        "answered": len(outcomes),
        "correct": sum(ok for _, _, ok in outcomes),
        "wrong_requests": sorted(request for request, _, ok in outcomes if not ok),
        "errors": {str(request): message for request, message in sorted(errors.items())},
        "latency_s": {
            "p50": round(percentile(latencies, 0.50), 4),
            "p95": round(percentile(latencies, 0.95), 4),
            "mean": round(statistics.fmean(latencies), 4),
            "max": round(max(latencies), 4),
        },
        "p50_by_case_s": [
            round(percentile([t for r, t, _ in outcomes if r % len(cases) == case] or [float("nan")], 0.5), 4)
            for case in range(len(cases))
        ],
        "wall_s": round(wall, 3),
        "throughput_rps": round(len(outcomes) / wall, 3),
        "workload": [
            {"chars": len(text), "labels": labels, "entities": len(found)} for (text, labels), found in zip(cases, expected)
        ],
        "threshold": threshold,
    }


def text_at_cap(max_chars: int) -> str:
    """The abstract paragraph repeated up to ``max_chars`` characters (cut at a word boundary): a request at the cap."""
    text = " ".join([PARAGRAPH] * (max_chars // len(PARAGRAPH) + 1))[:max_chars]
    return text[: text.rfind(" ")] if len(text) == max_chars and " " in text else text


def latency_summary(latencies: list[float]) -> dict[str, float]:
    values = latencies or [float("nan")]
    return {"count": len(latencies), "p50": round(percentile(values, 0.50), 4),
            "p95": round(percentile(values, 0.95), 4), "max": round(max(values), 4)}


def run_mixed_load_test(
    model: Any, requests: int = 50, clients: int = 5, long_clients: int = 2, alone: int = 3,
    max_chars: int = app.MAX_TEXT_CHARS, concurrency_limit: int = app.DEFAULT_CONCURRENCY,
) -> dict[str, Any]:
    """Requests at the input cap alone, then short requests from ``clients`` clients while ``long_clients`` clients
    keep the server busy with requests at the cap; every answer is checked against ``predict_entities``."""
    from gradio_client import Client

    cases = workload()
    threshold = float(model.config.threshold)
    long_text, long_labels = text_at_cap(max_chars), ["disease", "chemical", "gene"]
    split = app.split_option(model)  # the app's default (sentence splitting on), so that answers compare equal
    model.predict_entities(cases[0][0], long_labels, threshold=threshold, **split)  # warm-up (label vectors, ...)
    started = time.perf_counter()
    expected_long = model.predict_entities(long_text, long_labels, threshold=threshold, **split)
    direct_at_cap = time.perf_counter() - started
    expected = [model.predict_entities(text, labels, threshold=threshold, **split) for text, labels in cases]
    demo = app.build_demo(model, max_text_chars=max_chars, concurrency_limit=concurrency_limit,
                          analytics_enabled=False)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    connections = [Client(url, verbose=False, analytics_enabled=False, download_files=False)
                   for _ in range(clients + long_clients)]
    errors: list[str] = []
    wrong = 0
    short_done = threading.Event()

    def ask(connection: Any, text: str, labels: list[str], reference: list[dict[str, Any]]) -> float | None:
        nonlocal wrong
        begun = time.perf_counter()
        try:
            entities = connection.predict(text, ", ".join(labels), threshold, False, False, True,
                                          api_name="/predict")[2]
        except Exception as error:  # an unanswered request is a result of the test: counted and reported
            errors.append(f"{type(error).__name__}: {error}")
            return None
        wrong += not same_entities(entities, reference)
        return time.perf_counter() - begun

    def short_worker(index: int) -> list[float]:
        found = [ask(connections[index], *cases[r % len(cases)], expected[r % len(cases)])
                 for r in range(index, requests, clients)]
        return [seconds for seconds in found if seconds is not None]

    def long_worker(index: int) -> list[float]:
        found = []
        while not short_done.is_set() or not found:
            seconds = ask(connections[clients + index], long_text, long_labels, expected_long)
            if seconds is None:
                break
            found.append(seconds)
        return found

    try:
        ask(connections[0], *cases[0], expected[0])  # warm-up
        alone_latencies = [ask(connections[0], long_text, long_labels, expected_long) for _ in range(alone)]
        with ThreadPoolExecutor(max_workers=clients + long_clients) as pool:
            long_futures = [pool.submit(long_worker, index) for index in range(long_clients)]
            time.sleep(0.5)  # the long requests are running when the short ones start
            short_latencies = [t for result in pool.map(short_worker, range(clients)) for t in result]
            short_done.set()
            long_latencies = [t for future in long_futures for t in future.result()]
    finally:
        for connection in connections:
            connection.close()
        demo.close()
    return {
        "requests": requests,
        "clients": clients,
        "long_clients": long_clients,
        "cap_chars": max_chars,
        "long_text_chars": len(long_text),
        "lanes": {"short": concurrency_limit, "long": app.DEFAULT_LONG_CONCURRENCY,
                  "long_over_chars": app.LONG_TEXT_CHARS},
        "errors": errors,
        "wrong_answers": wrong,
        "direct_predict_at_cap_s": round(direct_at_cap, 3),
        "at_cap_alone_s": latency_summary([t for t in alone_latencies if t is not None]),
        "at_cap_under_load_s": latency_summary(long_latencies),
        "short_under_load_s": latency_summary(short_latencies),
        "targets": {"at_cap_alone_p50_s": 5.0, "short_under_load_p95_s": 2.0, "errors": 0},
        "threshold": threshold,
    }


def load_benchmark_model(model_id: str | None, encoder: str | None) -> tuple[Any, str]:
    """(model, description) from ``--encoder`` (untrained heads) or ``--model`` (as the app resolves it)."""
    if encoder:
        from modeling_kogner import KoGNERModel

        try:
            from kogner.defaults import resolve_encoder
        except ImportError:  # only the model's packages installed: --encoder must be a path or Hub id
            path = encoder
        else:
            path = resolve_encoder(encoder)  # "minilm": the offline all-MiniLM-L6-v2 package
        return KoGNERModel.from_encoder(path).eval(), f"KoGNER with untrained heads on encoder {encoder}"
    resolved = app.resolve_model_id(model_id)
    return app.load_model(resolved), resolved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="trained model dir or Hub id (default: as app.py: $KOGNER_MODEL, runs/demo/model)")
    source.add_argument("--encoder", help="encoder dir or Hub id: measure an untrained KoGNER model built on it")
    parser.add_argument("--requests", type=int, default=50, help="requests in total (default: 50)")
    parser.add_argument("--clients", type=int, default=5, help="concurrent gradio_client clients (default: 5)")
    parser.add_argument(
        "--concurrency", type=int, default=app.DEFAULT_CONCURRENCY, help="the app's concurrency limit (default: app's)"
    )
    parser.add_argument("--output", type=Path, default=None,
                        help=f"JSON report (default: {DEFAULT_OUTPUT}, with --mixed {DEFAULT_MIXED_OUTPUT})")
    parser.add_argument("--mixed", action="store_true",
                        help="short requests while other clients send requests at the input cap (see above)")
    parser.add_argument("--long-clients", type=int, default=2, help="--mixed: clients sending requests at the cap")
    parser.add_argument("--max-chars", type=int, default=app.MAX_TEXT_CHARS,
                        help=f"--mixed: the app's input cap (default: app.MAX_TEXT_CHARS = {app.MAX_TEXT_CHARS})")
    args = parser.parse_args(argv)
    if min(args.requests, args.clients, args.concurrency, args.long_clients, args.max_chars) < 1:
        parser.error("--requests, --clients, --concurrency, --long-clients and --max-chars must be at least 1")
    args.output = args.output or (DEFAULT_MIXED_OUTPUT if args.mixed else DEFAULT_OUTPUT)

    run_info = provenance(command_line("load_test_app", argv))  # before the load: the machine's load it started under
    model, description = load_benchmark_model(args.model, args.encoder)
    if args.mixed:
        return mixed_main(args, model, description, run_info)
    report = {**run_info, "model": description, **run_load_test(model, args.requests, args.clients, args.concurrency)}
    write_json(args.output, report, announce=False)
    latency = report["latency_s"]
    print(
        f"{report['answered']}/{report['requests']} answered, {report['correct']} correct; "
        f"p50 {latency['p50']:.3f} s, p95 {latency['p95']:.3f} s, max {latency['max']:.3f} s, "
        f"{report['throughput_rps']:.2f} req/s -> {args.output}"
    )
    return 0 if report["answered"] == report["correct"] == report["requests"] else 1


def mixed_main(args: argparse.Namespace, model: Any, description: str, run: dict[str, Any]) -> int:
    """``--mixed``: run, print and write the report (``run``: its provenance); exit status 1 on errors or wrong
    answers."""
    report = {
        **run_info,
        "model": description,
        **run_mixed_load_test(model, args.requests, args.clients, args.long_clients, max_chars=args.max_chars,
                             concurrency_limit=args.concurrency),
    }
    write_json(args.output, report, announce=False)
    alone, loaded, short = report["at_cap_alone_s"], report["at_cap_under_load_s"], report["short_under_load_s"]
    print(f"at the cap ({report['long_text_chars']:,} chars): alone p50 {alone['p50']:.2f} s (direct call "
          f"{report['direct_predict_at_cap_s']:.2f} s), under load p50 {loaded['p50']:.2f} s; short requests under "
          f"load: {short['count']} answered, p50 {short['p50']:.2f} s, p95 {short['p95']:.2f} s, max "
          f"{short['max']:.2f} s; {len(report['errors'])} errors, {report['wrong_answers']} wrong -> {args.output}")
    return 0 if not report["errors"] and not report["wrong_answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
