"""Comparing predictions of two different computations (batched vs single text, another process, ONNX vs torch).

Batched matrix products round differently from single ones (and differently on CPUs with AVX-512), so two such
computations agree on the entities exactly and on the scores only within a tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

SCORE_KEYS = ("score", "link_score")
SCORE_TOLERANCE = 1e-4


def tolerant(entity: dict[str, Any], tolerance: float = SCORE_TOLERANCE) -> dict[str, Any]:
    """``entity`` with its scores replaced by ``pytest.approx`` within ``tolerance`` (the other fields exact)."""
    return {key: pytest.approx(value, abs=tolerance) if key in SCORE_KEYS and value is not None else value
            for key, value in entity.items()}


def assert_same_entities(found: Sequence[dict[str, Any]], expected: Sequence[dict[str, Any]],
                         tolerance: float = SCORE_TOLERANCE) -> None:
    """Same spans, labels and texts in the same order; scores equal within ``tolerance``."""
    assert list(found) == [tolerant(entity, tolerance) for entity in expected]


def assert_same_batches(found: Sequence[Sequence[dict[str, Any]]], expected: Sequence[Sequence[dict[str, Any]]],
                        tolerance: float = SCORE_TOLERANCE) -> None:
    """`assert_same_entities` for each text of a batch."""
    assert len(found) == len(expected)
    for found_entities, expected_entities in zip(found, expected):
        assert_same_entities(found_entities, expected_entities, tolerance)
