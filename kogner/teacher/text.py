"""Encode texts with any Hugging Face encoder (local path or Hub id): mean pooling, batched."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from kogner.defaults import MINILM_ALIAS, resolve_encoder
from kogner.kg.graph import KnowledgeGraph

from .settings import TeacherSettings

DEFAULT_MAX_LENGTH = 128


def resolve_device(device: str | None = None) -> torch.device:
    """``None``/``"auto"`` -> cuda when available, else cpu."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.no_grad()
def encode_texts(
    texts: Sequence[str],
    encoder: str | None = None,
    *,
    batch_size: int = 64,
    max_length: int = DEFAULT_MAX_LENGTH,
    device: str | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Mean-pooled last hidden states, float32 ``[len(texts), hidden]`` on CPU, in input order.

    Texts are sorted by length before batching (less padding); the output order is restored.
    """
    from transformers import AutoModel, AutoTokenizer

    encoder = resolve_encoder(encoder or MINILM_ALIAS)
    target = resolve_device(device)
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModel.from_pretrained(encoder).to(target).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    hidden = model.config.hidden_size
    out = torch.empty(len(texts), hidden, dtype=torch.float32)
    for start in tqdm(range(0, len(order), batch_size), desc="encode texts", disable=not progress,
                      unit="batch"):
        rows = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt").to(target)
        states = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out[torch.as_tensor(rows)] = pooled.float().cpu()
    return out


def entity_texts(graph: KnowledgeGraph) -> list[str]:
    """``"name: description"`` (or just the name) for every node."""
    return [f"{name}: {description}" if description else name
            for name, description in zip(graph.names, graph.descriptions)]


def text_stage(graph: KnowledgeGraph, settings: TeacherSettings, progress: bool = True) -> tuple[torch.Tensor, dict]:
    vectors = encode_texts(entity_texts(graph), settings.resolved_encoder(), batch_size=settings.text_batch_size,
                           max_length=settings.text_max_length, device=settings.device, progress=progress)
    return vectors, {"dim": int(vectors.shape[1])}
