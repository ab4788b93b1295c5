"""The ``llm`` generator: any OpenAI-compatible ``/v1/chat/completions`` endpoint with the paper's prompt.

Robust by construction: per-request timeout, retries with exponential backoff (and ``Retry-After``)
on 429, 5xx, timeouts and connection errors, a thread pool bounded by ``concurrency``, and an
on-disk SQLite response cache keyed by a hash of (model, prompts, sampling settings), written as
soon as each answer arrives, so a rerun or a crash never pays twice for the same row.

Settings come from arguments, else the environment: ``OPENAI_BASE_URL`` (e.g.
``http://localhost:8000/v1``; default ``https://api.openai.com/v1``), ``OPENAI_API_KEY``,
``KOGNER_LLM_MODEL``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from kogner.checks import check_positive, redact, redact_url

from .rows import GeneratorAnswer, RelationRow, user_prompt

# Figure 2 of the paper; the step list is renumbered (the paper skips step 2) and typos fixed.
SYSTEM_PROMPT = """You are an expert with comprehensive biomedical knowledge. Your task is to annotate a named entity recognition dataset by identifying sentences and labeling entities.

Steps
1. Use the user-provided entity (separated by '-----') to generate a complete and logically correct sentence. The type of entity is provided in the parenthesis () after each entity name.
2. Identify Named Entities: Examine each token and identify which ones are named entities.
3. Classify Entities: Assign the appropriate category to each discovered entity, e.g., "DNA", "protein", etc. provided by the user input.
4. Annotate with Indices and Labels: Record the start and end positions of each entity in the tokenized list and label them according to their type.
5. Structure Output: Use the predetermined JSON structure to compile your annotation results.

Produce your annotations in the JSON format: {"tokenized_text": "Your sentence here", "ner": [[start_index, end_index, "entity_type"], ... // more entities if present]}

Notes
- If a token has multiple meanings, default to the most common scientific understanding.
- Don't return any confirmation or issue you encountered.
- Please strictly adhere to the provided format, do not output anything else; Please always use English!"""

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_FATAL_STATUS = {401, 403, 404}  # configuration errors: every row would fail the same way


class LLMRequestError(RuntimeError):
    """A request that failed for good (after retries, or with a non-retryable status)."""


class LLMConfigurationError(RuntimeError):
    """The endpoint rejects every request (bad key, model or URL): stop instead of dropping every row."""


@dataclass
class LLMSettings:
    """Endpoint and request policy; `from_env` fills unset fields from the environment."""

    base_url: str = DEFAULT_BASE_URL
    model: str = ""
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    concurrency: int = 4
    temperature: float = 0.7
    max_tokens: int = 512

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMSettings:
        values = {key: value for key, value in overrides.items() if value is not None}
        values.setdefault("base_url", os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        values.setdefault("api_key", os.environ.get("OPENAI_API_KEY"))
        values.setdefault("model", os.environ.get("KOGNER_LLM_MODEL", ""))
        settings = cls(**values)
        if not settings.model:
            raise ValueError("no LLM model: pass --llm-model or set KOGNER_LLM_MODEL")
        settings.check()
        return settings

    def check(self) -> None:
        """``ValueError`` naming the option of the first bad value (credentials never appear in it)."""
        if not isinstance(self.base_url, str) or urlsplit(self.base_url).scheme not in ("http", "https") \
                or not urlsplit(self.base_url).hostname:
            raise ValueError(f"--llm-base-url {redact_url(str(self.base_url))!r}: expected an http(s) URL such as "
                             "http://localhost:8000/v1")
        check_positive(self.timeout_s, "--llm-timeout", integer=False)
        check_positive(self.concurrency, "--llm-concurrency")
        check_positive(self.max_tokens, "--llm-max-tokens")
        for value, option in ((self.max_retries, "--llm-retries"), (self.backoff_s, "--llm-backoff"),
                              (self.temperature, "--llm-temperature"), (self.max_backoff_s, "max_backoff_s")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{option} must be a non-negative number, got {value!r}")

    def public(self) -> dict[str, Any]:
        """Settings without credentials (for logs, progress_meta.json and the dataset card): no key, and the
        base URL without its user-info or query values."""
        values = {key: value for key, value in self.__dict__.items() if key != "api_key"}
        values["base_url"] = redact_url(self.base_url)
        return values

    def redact(self, text: str) -> str:
        """``text`` without this endpoint's credentials (API key, URL password and user name)."""
        parts = urlsplit(self.base_url)
        return redact(text, self.api_key, parts.password, parts.username)

    def __repr__(self) -> str:  # never print the key, even in a traceback's locals
        return f"LLMSettings({', '.join(f'{k}={v!r}' for k, v in self.public().items())})"


class ResponseCache:
    """SQLite map prompt-hash -> answer content; used from one thread (the generator's caller)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(self.path)
        self._connection.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, content TEXT NOT NULL)")
        self._connection.commit()

    @staticmethod
    def key(settings: LLMSettings, system: str, user: str) -> str:
        material = json.dumps(
            [settings.model, system, user, settings.temperature, settings.max_tokens], ensure_ascii=False
        )
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def get(self, key: str) -> str | None:
        row = self._connection.execute("SELECT content FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, content: str) -> None:
        self._connection.execute("INSERT OR REPLACE INTO responses (key, content) VALUES (?, ?)", (key, content))
        self._connection.commit()

    def __len__(self) -> int:
        return self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._connection.close()


class ChatCompletionsClient:
    """POSTs to ``{base_url}/chat/completions`` with timeouts and retries; thread-safe."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests_sent = 0

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None and retry_after.strip().replace(".", "", 1).isdigit():
            return min(float(retry_after), self.settings.max_backoff_s)
        base = min(self.settings.max_backoff_s, self.settings.backoff_s * 2**attempt)
        return base * (1 + 0.25 * random.random())  # jitter: concurrent retries do not stampede

    def complete(self, system: str, user: str) -> str | None:
        """The assistant message content (may be None); raises `LLMRequestError` when it gives up."""
        settings = self.settings
        payload = {
            "model": settings.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        last_problem = ""
        for attempt in range(settings.max_retries + 1):
            retry_after = None
            with self._lock:
                self.requests_sent += 1
            try:
                response = self._session().post(self.url, json=payload, headers=headers, timeout=settings.timeout_s)
            except (requests.Timeout, requests.ConnectionError) as error:
                last_problem = settings.redact(f"{type(error).__name__}: {error}")
            else:
                if response.status_code == 200:
                    return _message_content(response)
                last_problem = settings.redact(f"HTTP {response.status_code}: {response.text[:200]}")
                if response.status_code in _FATAL_STATUS:
                    raise LLMConfigurationError(f"{redact_url(self.url)} answered {last_problem} "
                                                "(check base URL, model and key)")
                if response.status_code != 429 and response.status_code < 500:
                    raise LLMRequestError(last_problem)
                retry_after = response.headers.get("Retry-After")
            if attempt < settings.max_retries:
                time.sleep(self._delay(attempt, retry_after))
        raise LLMRequestError(f"gave up after {settings.max_retries + 1} attempts; last: {last_problem}")


def _message_content(response: requests.Response) -> str | None:
    try:
        body = response.json()
        return body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise LLMRequestError(f"not a chat-completions response ({type(error).__name__}: {error}): "
                              f"{response.text[:200]}") from error


class LLMGenerator:
    """Generates answers for rows through a chat-completions endpoint, cache first."""

    name = "llm"

    def __init__(self, settings: LLMSettings, cache_path: str | os.PathLike[str]) -> None:
        self.llm_settings = settings
        self.client = ChatCompletionsClient(settings)
        self.cache = ResponseCache(cache_path)

    def settings(self) -> dict[str, Any]:
        return {"generator": self.name, **self.llm_settings.public(), "cache": str(self.cache.path)}

    def _request(self, row: RelationRow) -> str | None:
        return self.client.complete(SYSTEM_PROMPT, user_prompt(row))

    def generate(self, rows: Sequence[RelationRow]) -> Iterator[GeneratorAnswer]:
        """Answers in completion order (cached ones first); failures become answers with ``error``."""
        in_flight_limit = 2 * self.llm_settings.concurrency
        with ThreadPoolExecutor(max_workers=self.llm_settings.concurrency, thread_name_prefix="llm") as pool:
            pending: dict[Future[str | None], tuple[RelationRow, str]] = {}
            try:
                for row in rows:
                    key = ResponseCache.key(self.llm_settings, SYSTEM_PROMPT, user_prompt(row))
                    cached = self.cache.get(key)
                    if cached is not None:
                        yield GeneratorAnswer(row, cached)
                        continue
                    pending[pool.submit(self._request, row)] = (row, key)
                    if len(pending) >= in_flight_limit:
                        yield from self._collect(pending, wait(pending, return_when=FIRST_COMPLETED).done)
                while pending:
                    yield from self._collect(pending, wait(pending, return_when=FIRST_COMPLETED).done)
            finally:
                for future in pending:
                    future.cancel()

    def _collect(
        self, pending: dict[Future[str | None], tuple[RelationRow, str]], done: set[Future[str | None]]
    ) -> Iterator[GeneratorAnswer]:
        for future in done:
            row, key = pending.pop(future)
            try:
                content = future.result()
            except LLMRequestError as error:
                yield GeneratorAnswer(row, None, error=str(error))
                continue
            if content is not None:
                self.cache.put(key, content)
            yield GeneratorAnswer(row, content)


def add_llm_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--llm-*`` options of the data CLI (they override ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ...)."""
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


def llm_settings_from_args(args: argparse.Namespace) -> LLMSettings:
    """:class:`LLMSettings` from the options of :func:`add_llm_arguments` and the environment."""
    return LLMSettings.from_env(
        base_url=args.llm_base_url, model=args.llm_model, api_key=args.llm_api_key, timeout_s=args.llm_timeout,
        max_retries=args.llm_retries, backoff_s=args.llm_backoff, concurrency=args.llm_concurrency,
        temperature=args.llm_temperature, max_tokens=args.llm_max_tokens,
    )
