"""The ``llm`` generator against a real chat-completions HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kogner.datagen.rows import RelationRow, user_prompt
from kogner.datagen.sanity import sanity_check
from kogner.datagen.llm import SYSTEM_PROMPT, LLMConfigurationError, LLMGenerator, LLMSettings


def chat_body(content: str | None) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def good_content(prompt: str) -> str:
    first, second = (part.rsplit(" (", 1)[0] for part in prompt.split("-----"))
    return json.dumps({"tokenized_text": f"Variants of {first} were linked to {second}.", "ner": [[2, 2, "gene"], [6, 7, "disease"]]})


class FakeEndpoint:
    """Scripted answers per user prompt: a queue of (status, body or None for a good answer, delay_s)."""

    def __init__(self) -> None:
        self.script: dict[str, deque[tuple[int, Any, float]]] = {}
        self.requests: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    def reply(self, prompt: str) -> tuple[int, Any, float]:
        queue = self.script.get(prompt)
        return queue.popleft() if queue and len(queue) > 1 else (queue[0] if queue else (200, None, 0.0))


@pytest.fixture
def endpoint() -> Iterator[tuple[FakeEndpoint, str]]:
    fake = FakeEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][1]["content"]
            with fake.lock:
                fake.requests[prompt] += 1
                fake.bodies.append(body)
                fake.headers.append(dict(self.headers))
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                status, payload, delay = fake.reply(prompt)
            try:
                time.sleep(delay)
                data = payload if isinstance(payload, bytes) else json.dumps(chat_body(good_content(prompt)) if payload is None else payload).encode()
            finally:
                # Done before the reply goes out: a client can only send its next request after reading this
                # reply, so counting down afterwards would briefly count one request twice.
                with fake.lock:
                    fake.in_flight -= 1
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up, which is what the timeout test wants

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def rows(count: int) -> list[RelationRow]:
    return [
        RelationRow(f"r#{i}", "associated with", f"G:{i}", f"GENE{i}", "gene", f"D:{i}", f"disease number {i}", "disease")
        for i in range(count)
    ]


def generator(base_url: str, tmp_path: Path, **overrides: Any) -> LLMGenerator:
    options = {"base_url": base_url, "model": "test-model", "api_key": "sk-test", "timeout_s": 2.0, "max_retries": 2,
               "backoff_s": 0.01, "max_backoff_s": 0.05, "concurrency": 2, **overrides}
    return LLMGenerator(LLMSettings.from_env(**options), tmp_path / "cache.sqlite")


def run(gen: LLMGenerator, batch: list[RelationRow]) -> dict[str, Any]:
    return {answer.row.row_id: sanity_check(answer) for answer in gen.generate(batch)}


def test_good_answers_use_the_paper_prompt(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    results = run(generator(url, tmp_path), rows(3))
    assert all(result.reason is None for result in results.values())
    assert results["r#1"].record["ner"] == [{"start": 2, "end": 2, "label": "gene"}, {"start": 6, "end": 8, "label": "disease"}]
    assert results["r#1"].record["kge"][1] == {"start": 6, "end": 8, "kg_id": "D:1"}
    body = fake.bodies[0]
    assert body["model"] == "test-model" and body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert {b["messages"][1]["content"] for b in fake.bodies} == {user_prompt(r) for r in rows(3)}
    assert user_prompt(rows(1)[0]) == "GENE0 (gene)-----disease number 0 (disease)"
    assert fake.headers[0]["Authorization"] == "Bearer sk-test"


def test_malformed_answers_are_dropped_not_fatal(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(3)
    fake.script[user_prompt(batch[0])] = deque([(200, chat_body("Sure! GENE0 relates to disease number 0."), 0.0)])
    fake.script[user_prompt(batch[1])] = deque([(200, {"unexpected": True}, 0.0)])
    fake.script[user_prompt(batch[2])] = deque([(200, b"<html>oops</html>", 0.0)])
    results = run(generator(url, tmp_path), batch)
    assert results["r#0"].reason == "bad_json"
    assert results["r#1"].reason == "generator_error" and "not a chat-completions response" in results["r#1"].detail
    assert results["r#2"].reason == "generator_error"


def test_429_then_success_retries(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(1)
    fake.script[user_prompt(batch[0])] = deque([(429, {"error": "rate limited"}, 0.0), (503, {"error": "busy"}, 0.0), (200, None, 0.0)])
    results = run(generator(url, tmp_path), batch)
    assert results["r#0"].reason is None
    assert fake.requests[user_prompt(batch[0])] == 3


def test_persistent_5xx_gives_up_after_retries(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(1)
    fake.script[user_prompt(batch[0])] = deque([(500, {"error": "down"}, 0.0)])
    results = run(generator(url, tmp_path, max_retries=3), batch)
    assert results["r#0"].reason == "generator_error" and "HTTP 500" in results["r#0"].detail
    assert fake.requests[user_prompt(batch[0])] == 4


def test_timeout_is_retried_then_counted(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(2)
    fake.script[user_prompt(batch[0])] = deque([(200, None, 0.6), (200, None, 0.0)])
    fake.script[user_prompt(batch[1])] = deque([(200, None, 0.6)])
    started = time.monotonic()
    results = run(generator(url, tmp_path, timeout_s=0.2, max_retries=1), batch)
    assert results["r#0"].reason is None and fake.requests[user_prompt(batch[0])] == 2
    assert results["r#1"].reason == "generator_error" and "Timeout" in results["r#1"].detail
    assert time.monotonic() - started < 2.0


def test_cache_prevents_a_second_request(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(4)
    first = run(generator(url, tmp_path), batch)
    assert sum(fake.requests.values()) == 4
    second = run(generator(url, tmp_path), batch)  # a new process would open the same cache file
    assert sum(fake.requests.values()) == 4
    assert {k: v.record for k, v in first.items()} == {k: v.record for k, v in second.items()}
    run(generator(url, tmp_path, model="other-model"), batch[:1])
    assert sum(fake.requests.values()) == 5  # the model is part of the cache key


def test_failures_are_not_cached(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(1)
    fake.script[user_prompt(batch[0])] = deque([(500, {"error": "down"}, 0.0), (500, {"error": "down"}, 0.0), (200, None, 0.0)])
    assert run(generator(url, tmp_path, max_retries=1), batch)["r#0"].reason == "generator_error"
    assert run(generator(url, tmp_path, max_retries=1), batch)["r#0"].reason is None


def test_concurrency_limit(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(8)
    for row in batch:
        fake.script[user_prompt(row)] = deque([(200, None, 0.05)])
    results = run(generator(url, tmp_path, concurrency=3), batch)
    assert len(results) == 8 and all(r.reason is None for r in results.values())
    assert 2 <= fake.max_in_flight <= 3


def test_bad_key_stops_the_run(endpoint: tuple[FakeEndpoint, str], tmp_path: Path) -> None:
    fake, url = endpoint
    batch = rows(1)
    fake.script[user_prompt(batch[0])] = deque([(401, {"error": "invalid key"}, 0.0)])
    with pytest.raises(LLMConfigurationError, match="401"):
        run(generator(url, tmp_path), batch)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://example.invalid/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("KOGNER_LLM_MODEL", "env-model")
    settings = LLMSettings.from_env(model="flag-model")
    assert (settings.base_url, settings.api_key, settings.model) == ("http://example.invalid/v1", "sk-env", "flag-model")
    assert "api_key" not in settings.public()
    monkeypatch.delenv("KOGNER_LLM_MODEL")
    with pytest.raises(ValueError, match="KOGNER_LLM_MODEL"):
        LLMSettings.from_env()
