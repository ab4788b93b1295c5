"""What ``benchmarks.speed`` measures on: its sentences (a corpus sample, a sentences file or synthetic ones) and its
models (the bare encoder, KoGNER, the ``gliner`` package's span model), built the same way for every arm."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

import torch

DEFAULT_LABELS = ["chemical", "disease"]


def synthetic_sentences(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Biomedical-looking sentences with gold spans, for when neither a sentences file nor the corpus exists."""
    generator = random.Random(seed)
    chemicals = ["aspirin", "cisplatin", "tamoxifen", "lithium carbonate", "doxorubicin", "valproic acid"]
    diseases = ["breast cancer", "nephrotoxicity", "Reye syndrome", "hepatitis", "heart failure", "seizures"]
    fillers = "the patients who received treatment with developed severe after of in and a study showed".split()
    sentences = []
    for _ in range(count):
        tokens: list[str] = []
        ner = []
        for _ in range(generator.randint(2, 5)):
            tokens += generator.sample(fillers, generator.randint(2, 6))
            label, names = generator.choice([("chemical", chemicals), ("disease", diseases)])
            words = generator.choice(names).split()
            ner.append({"start": len(tokens), "end": len(tokens) + len(words) - 1, "label": label})
            tokens += words
        tokens.append(".")
        sentences.append({"tokens": tokens, "ner": ner})
    return sentences


def load_sentences(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], str]:
    """(evaluation sentences, labels, training examples, description of the source)."""
    if args.sentences_file:
        payload = json.loads(Path(args.sentences_file).read_text())
        if not isinstance(payload, dict) or "sentences" not in payload:
            raise ValueError(f"{args.sentences_file}: expected a JSON object with 'sentences' (and 'labels', 'train')")
        for position, sentence in enumerate(payload["sentences"]):
            if not isinstance(sentence, dict) or not isinstance(sentence.get("tokens"), list):
                raise ValueError(f"{args.sentences_file}: sentence #{position} needs a 'tokens' list")
        sentences = payload["sentences"][: args.sentences]
        train = payload.get("train") or sentences
        return sentences, payload.get("labels") or DEFAULT_LABELS, train, f"file {args.sentences_file}"
    try:
        from kogner.corpora.registry import EVALUATION_CORPUS_LABELS, load_corpus_split

        corpus = load_corpus_split(args.corpus, "test", data_dir=args.data_dir)
    except (ImportError, FileNotFoundError) as error:
        print(f"note: corpus {args.corpus} unavailable ({error.__class__.__name__}); using synthetic sentences",
              file=sys.stderr)
        sentences = synthetic_sentences(args.sentences)
        return sentences, DEFAULT_LABELS, synthetic_sentences(512, seed=1), "synthetic sentences"
    # A fixed random sample (not the first N) so that sentence lengths are representative.
    rows = sorted(random.Random(0).sample(range(len(corpus)), min(args.sentences, len(corpus))))
    sentences = [{"tokens": corpus[row]["tokens"], "ner": corpus[row]["ner"]} for row in rows]
    train = load_training_examples(args)
    return sentences, list(EVALUATION_CORPUS_LABELS[args.corpus]), train, f"{args.corpus} test ({len(rows)} sampled)"


def load_training_examples(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The first training examples of the generated KG data (``--train-data``), else synthetic ones."""
    try:
        from datasets import load_from_disk

        data = load_from_disk(args.train_data)["train"]
    except (ImportError, FileNotFoundError, KeyError) as error:
        print(f"note: training data {args.train_data} unavailable ({error}); using synthetic sentences",
              file=sys.stderr)
        return synthetic_sentences(512, seed=1)
    count = min(len(data), 1024)
    return [{"tokens": row["tokens"], "ner": row["ner"]} for row in data.select(range(count))]


def load_bare_encoder(encoder: str, random_init: bool, device: str) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModel

    if random_init:
        torch.manual_seed(0)
        model = AutoModel.from_config(AutoConfig.from_pretrained(encoder))
    else:
        model = AutoModel.from_pretrained(encoder)
    return model.to(device).eval()


def load_kogner(args: argparse.Namespace, encoder: str, trained: str | None = None) -> Any:
    """A trained model from ``trained``, else fresh heads (hidden 512, width 8 as in the configs) on ``encoder``."""
    from transformers import AutoConfig, AutoTokenizer

    from modeling_kogner import KoGNERConfig, KoGNERModel

    torch.manual_seed(0)
    if trained:
        model = KoGNERModel.from_pretrained(trained)
    elif args.random_init:
        config = KoGNERConfig(encoder_config=AutoConfig.from_pretrained(encoder).to_dict(), hidden_size=512, max_width=8)
        model = KoGNERModel(config)
        model.tokenizer = AutoTokenizer.from_pretrained(encoder)
    else:
        model = KoGNERModel.from_encoder(encoder, hidden_size=512, max_width=8)
    return model.to(args.device).eval()


def load_gliner(args: argparse.Namespace, encoder: str) -> tuple[Any, str | None]:
    """The gliner package's span model around the same encoder, or (None, why it was skipped)."""
    try:
        from gliner import GLiNER, GLiNERConfig
    except ImportError as error:
        return None, f"gliner not installed ({error}); `pip install gliner` to include it"
    torch.manual_seed(0)
    config = GLiNERConfig(model_name=encoder, max_width=8, hidden_size=512, max_len=384)
    model = GLiNER.from_config(
        config, backbone_from_pretrained=not args.random_init, map_location=args.device, local_files_only=True
    )
    return model, None
