"""The demo in a real browser (headless Debian chromium via Playwright) and under load (5 clients, 50 requests).

Opt-in: runs only with ``KOGNER_E2E=1`` and ``/usr/bin/chromium`` present (``make e2e`` provides both). Playwright's
own browser download is never used. Writes ``benchmarks/results/demo_screenshot.png`` and ``app_load.json``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pytest

from conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
SENTENCE = "Metformin was given to patients with gout ."

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated"),
    pytest.mark.skipif(
        not (CHROMIUM.exists() and os.environ.get("KOGNER_E2E") == "1"),
        reason="browser test: needs /usr/bin/chromium and KOGNER_E2E=1 (run `make e2e`)",
    ),
]


@pytest.fixture(scope="module")
def trained_model(tiny_encoder_dir: Path) -> Any:
    """The tiny encoder trained briefly on the toy drug/disease task, so that it finds real entities."""
    from test_modeling import make_model, train_toy

    model = make_model(tiny_encoder_dir, teacher_dim=0)
    train_toy(model, steps=60)
    assert any(entity["label"] == "drug" for entity in model.predict_entities(SENTENCE, ["drug", "disease"]))
    return model


@pytest.fixture(scope="module")
def served_url(trained_model: Any) -> Iterator[str]:
    from test_app import launch_demo

    demo, url = launch_demo(trained_model)
    try:
        yield url
    finally:
        demo.close()


def test_browser_finds_and_highlights_entities(trained_model, served_url):
    from playwright.sync_api import expect, sync_playwright

    expected = trained_model.predict_entities(SENTENCE, ["drug", "disease"], split_sentences=True)  # the app's default
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    screenshot = RESULTS_DIR / "demo_screenshot.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(served_url, wait_until="domcontentloaded")
            page.get_by_label("Text", exact=True).fill(SENTENCE)
            labels_box = page.get_by_label("Entity types (comma-separated)")
            page.get_by_label("Presets").click()
            page.get_by_role("option", name="BC5CDR").click()
            expect(labels_box).to_have_value("chemical, disease")
            labels_box.fill("drug, disease")
            page.get_by_role("button", name="Find entities").click()

            highlighted = page.locator("#kogner-highlighted")
            expect(page.locator("#kogner-message")).to_contain_text(f"Found {len(expected)} entit", timeout=30_000)
            for entity in expected:
                expect(highlighted.locator(".token-container", has_text=entity["text"]).first).to_be_visible()
            expect(highlighted.locator(".label").first).to_contain_text(expected[0]["label"])
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000


def test_load_50_requests_from_5_clients_all_answered_and_correct(trained_model):
    spec = importlib.util.spec_from_file_location("load_test_app", REPO_ROOT / "benchmarks" / "load_test_app.py")
    load_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load_test)

    report = load_test.run_load_test(trained_model, requests=50, clients=5)
    print(f"\ntiny model, 50 requests / 5 clients: latency {report['latency_s']}, {report['throughput_rps']} req/s")
    assert report["errors"] == {}
    assert report["answered"] == report["correct"] == 50, report["wrong_requests"]
    assert report["latency_s"]["p50"] <= report["latency_s"]["p95"] <= report["latency_s"]["max"]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "app_load_tiny_model.json").write_text(
        json.dumps({"model": "tiny random BERT (2 layers, hidden 32), 60 toy steps", **report}, indent=2) + "\n",
        encoding="utf-8",
    )
