"""Argument checks with clear errors: each message names the option and what was expected.

* :func:`check_model_source` — a model/encoder given as a local path that does not exist is reported as
  "no such directory" instead of surfacing as a Hub connection error;
* :func:`check_number_fields` — the numeric fields of a settings dataclass (``TeacherSettings``) by name:
  counts positive, learning rates positive, fractions and dropout in range;
* :func:`check_positive`, :func:`check_fraction` — single values;
* :func:`redact_url`, :func:`redact` — credentials (URL user-info, API keys) never reach outputs or logs.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def option_name(field_name: str) -> str:
    """``gnn_epochs`` -> ``--gnn-epochs`` (the command-line spelling of the data scripts)."""
    return "--" + field_name.replace("_", "-")


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a Hub id (``org/name`` or ``name``)."""
    if name.startswith((".", "/", "~")) or "\\" in name or (os.altsep and os.altsep in name):
        return True
    if name.count("/") > 1 or not _HUB_ID.match(name):
        return True
    head = name.split("/", 1)[0]
    return "/" in name and Path(head).is_dir()  # runs/modle: "runs" is a local folder


def check_model_source(name: str, option: str, marker: str | None = "config.json") -> str:
    """Return ``name`` unchanged, or raise ``FileNotFoundError`` when it is a local path that is not a model folder.

    A Hub id passes through (loading it may still fail offline, with the Hub library's message).
    """
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"{option} {name}: is a file; expected a model directory or a Hub id")
        if marker and not (path / marker).is_file():
            raise FileNotFoundError(f"{option} {name}: {path / marker} missing; not a saved model directory "
                                    "(or its save was interrupted: save it again)")
        return name
    if looks_like_path(name):
        raise FileNotFoundError(f"{option} {name}: no such directory (expected a model directory, or a Hub id "
                                "such as org/name)")
    return name


def check_positive(value: Any, option: str, *, integer: bool = True, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = "integer" if integer else "number"
    valid_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not valid_type or not value > 0:
        raise ValueError(f"{option} must be a positive {kind}{' or unset' if allow_none else ''}, got {value!r}")


def check_non_negative(value: Any, option: str) -> None:
    """``value`` an integer >= 0 (e.g. a count where 0 switches something off)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{option} must be an integer >= 0, got {value!r}")


def check_fraction(value: Any, option: str, *, low_open: bool = True, high_open: bool = True) -> None:
    """``value`` in the interval (0, 1) with the given open/closed ends."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{option} must be a fraction in {interval}, got {value!r}")


# Numeric fields by name: the suffix decides the rule. Fields with no matching suffix are not checked.
_COUNT_SUFFIXES = ("_epochs", "_dim", "_size", "_layers", "_heads", "_steps", "_length", "_nodes", "_triples",
                   "_neighbors", "_hidden", "_negatives", "_patience", "_workers")
_OPTIONAL_COUNTS = ("gnn_hidden", "gnn_max_neighbors", "transr_max_train_triples")


def check_number_fields(settings: Any, option=option_name) -> None:
    """Check the numeric fields of a dataclass by their names; ``ValueError`` naming the option on a bad value."""
    if not is_dataclass(settings):
        raise TypeError(f"{settings!r} is not a dataclass")
    for field in fields(settings):
        name, value = field.name, getattr(settings, field.name)
        flag = f"{option(name)} ({type(settings).__name__}.{name})"
        if name == "seed":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{flag} must be a non-negative integer, got {value!r}")
        elif name.endswith(_COUNT_SUFFIXES):
            check_positive(value, flag, allow_none=name in _OPTIONAL_COUNTS or field.default is None)
        elif name.endswith(("_lr", "_margin")):
            check_positive(value, flag, integer=False)
        elif name.endswith("_dropout"):
            check_fraction(value, flag, low_open=False)
        elif name.endswith("_fraction"):
            check_fraction(value, flag)
        elif name.endswith("_fanouts"):
            if not value or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value):
                raise ValueError(f"{flag} must be one or more positive integers, got {value!r}")
        elif name.endswith("_split"):
            if (len(value) != 3 or any(not isinstance(v, (int, float)) or v <= 0 for v in value)
                    or abs(sum(value) - 1) > 1e-6):
                raise ValueError(f"{flag} must be three positive fractions (train, validation, test) summing to 1, "
                                 f"got {value!r}")


def redact_url(url: str | None) -> str | None:
    """``https://user:secret@host/v1`` -> ``https://***@host/v1``; a URL's query values (``?key=...``) too."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(f"{item.split('=', 1)[0]}=***" if "=" in item else item for item in parts.query.split("&")) \
        if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
