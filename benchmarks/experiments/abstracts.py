"""Abstract-level evaluation: a whole abstract passed to ``predict_entities`` at once vs split into sentences.

Each document (JNLPBA's -DOCSTART- abstracts; for NCBI-disease and BC5CDR, whose files list each abstract's
sentences consecutively without a boundary, ``--sentences-per-document`` consecutive sentences) is predicted three
ways and scored strictly on character spans (start, end and type must match):

- ``whole``: ``predict_entities(document)`` — one text, cut into the model's overlapping word windows;
- ``split``: ``predict_entities(document, split_sentences=True)`` — pysbd's sentences, predicted one by one;
- ``gold sentences``: the corpus' own sentence boundaries (the usual sentence-level benchmark, as a reference).

It also reports how many of pysbd's sentences coincide with a corpus sentence. Uses the validation (devel) split
by default — never tune anything on test. Numbers mean something only for a trained model (``--model``).

    python -m benchmarks.experiments.abstracts --model runs/demo/model
    python -m benchmarks.experiments.abstracts --model runs/demo/model --corpora jnlpba --max-documents 50 \\
        --threshold 0.4
    python -m benchmarks.experiments.abstracts --boundaries-only     # no model: how often pysbd's sentences are the corpus'

Results go to benchmarks/results/abstracts.json (per corpus; an interrupted run resumes with the corpora left,
``--force`` starts over).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import RESULTS_DIR, command_line, resumable_report, write_json
from benchmarks.experiments.documents import Document, char_spans, read_documents

ARMS = ("whole", "split", "gold sentences")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a saved KoGNER model directory (required unless "
                        "--boundaries-only)")
    parser.add_argument("--boundaries-only", action="store_true",
                        help="no model: only compare pysbd's sentences with the corpus' sentence boundaries")
    parser.add_argument("--corpora", nargs="+", default=["jnlpba", "ncbi_disease", "bc5cdr"], help="corpus folders")
    parser.add_argument("--split", default="validation", help="validation (default) or train; test only on purpose")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--sentences-per-document", type=int, default=10,
                        help="sentences per pseudo-abstract for corpora without -DOCSTART- (default 10)")
    parser.add_argument("--max-documents", type=int, default=None, help="only the first N documents per corpus")
    parser.add_argument("--no-detokenize", action="store_true",
                        help="join corpus tokens by single spaces ('0 . 5 mg / kg') instead of as running text")
    parser.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--output", default=str(RESULTS_DIR / "abstracts.json"), help="JSON results file")
    parser.add_argument("--force", action="store_true", help="recompute corpora already in --output")
    args = parser.parse_args(argv)
    if args.sentences_per_document < 1:
        parser.error("--sentences-per-document must be >= 1")
    if not args.model and not args.boundaries_only:
        parser.error("--model is required (or --boundaries-only)")
    if args.boundaries_only and args.output == str(RESULTS_DIR / "abstracts.json"):
        args.output = str(RESULTS_DIR / "abstracts_boundaries.json")
    return args


def evaluate_corpus(model: Any, documents: list[Document], labels: list[str], args: argparse.Namespace) -> dict:
    from tqdm.auto import tqdm

    from kogner.evaluation.metrics import span_scores
    from modeling_kogner.text_kogner import sentence_spans

    predicted: dict[str, list[list[tuple[int, int, str]]]] = {arm: [] for arm in ARMS}
    boundaries = {"pysbd_sentences": 0, "corpus_sentences": 0, "matching": 0}
    for document in tqdm(documents, desc="documents", unit="doc"):
        text = document.text
        pysbd = set(sentence_spans(text))
        boundaries["pysbd_sentences"] += len(pysbd)
        boundaries["corpus_sentences"] += len(document.sentences)
        boundaries["matching"] += len(pysbd & set(document.sentences))
        if model is None:
            continue
        predicted["whole"].append(char_spans(model.predict_entities(text, labels, args.threshold)))
        predicted["split"].append(char_spans(model.predict_entities(text, labels, args.threshold, split_sentences=True)))
        sentences = [text[start:end] for start, end in document.sentences]
        found = model.batch_predict_entities(sentences, labels, args.threshold, batch_size=args.batch_size)
        predicted["gold sentences"].append([
            (entity["start"] + start, entity["end"] + start, entity["label"])
            for (start, _), entities in zip(document.sentences, found) for entity in entities
        ])
    gold = [document.gold for document in documents]
    scores = {}
    for arm in ARMS if model is not None else ():
        result = span_scores(gold, predicted[arm])
        scores[arm] = {key: result[key] for key in ("precision", "recall", "f1", "support", "predicted")}
    return {"documents": len(documents), "labels": labels, "scores": scores, "sentence_boundaries": boundaries,
            "mean_document_words": round(sum(len(d.text.split()) for d in documents) / max(len(documents), 1), 1)}


def markdown(results: dict[str, Any]) -> str:
    lines = ["| corpus | documents | F1 whole | F1 split (pysbd) | F1 gold sentences | pysbd sentences matching corpus |",
             "|---|---|---|---|---|---|"]
    for corpus, result in results.items():
        f1 = {arm: f"{100 * result['scores'][arm]['f1']:.1f}" if arm in result["scores"] else "-" for arm in ARMS}
        bounds = result["sentence_boundaries"]
        lines.append(f"| {corpus} ({result['formed_by']}) | {result['documents']} | {f1['whole']} | "
                     f"{f1['split']} | {f1['gold sentences']} | {bounds['matching']}/{bounds['pysbd_sentences']}"
                     f" (corpus: {bounds['corpus_sentences']}) |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from kogner.corpora.registry import EVALUATION_CORPUS_LABELS
    from modeling_kogner import KoGNERModel

    output = Path(args.output)
    settings = {key: getattr(args, key) for key in ("model", "split", "sentences_per_document", "max_documents",
                                                    "threshold", "boundaries_only", "no_detokenize")}
    report = resumable_report(output, settings, command_line("experiments.abstracts", argv), args.force)
    model = None if args.boundaries_only else KoGNERModel.from_pretrained(args.model).eval()
    for corpus in args.corpora:
        if corpus in report["results"]:
            print(f"{corpus}: done in an earlier run, kept (--force to redo)")
            continue
        documents, formed_by = read_documents(corpus, args.split, args.data_dir, args.sentences_per_document,
                                              detokenize=not args.no_detokenize)
        documents = documents[: args.max_documents]
        labels = list(EVALUATION_CORPUS_LABELS.get(corpus) or sorted({label for d in documents for *_, label in d.gold}))
        print(f"{corpus} {args.split}: {len(documents)} documents ({formed_by}), labels {labels}", flush=True)
        result = evaluate_corpus(model, documents, labels, args)
        report["results"][corpus] = {**result, "formed_by": formed_by}
        write_json(output, report, announce=False)
    report["markdown"] = markdown(report["results"])
    print("\n" + report["markdown"] + "\n")
    write_json(output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
