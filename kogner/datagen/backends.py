"""Sentence generators by name: ``template`` (offline) and ``llm`` (OpenAI-compatible endpoint)."""

from __future__ import annotations

from typing import Any

from .llm import LLMGenerator
from .rows import Generator
from .templates import TemplateGenerator


def make_generator(name: str, seed: int = 0, **options: Any) -> Generator:
    """``template`` (options: ``partners``, the sampled rows composite sentences draw extra entities from;
    see `kogner.datagen.templates.TemplateGenerator`) or ``llm`` (options: see
    `kogner.datagen.llm.LLMGenerator`)."""
    if name == "template":
        return TemplateGenerator(seed=seed, **options)
    if name == "llm":
        return LLMGenerator(**options)
    raise ValueError(f"unknown generator {name!r}: expected 'template' or 'llm'")
