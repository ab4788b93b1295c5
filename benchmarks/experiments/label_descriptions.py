"""Effect of label descriptions on a dev split: each label encoded as its bare name vs as "name: description".

The model is asked for each corpus' labels twice on the same validation (devel) sentences — never test — and
scored with the project's strict span scorer. Descriptions are the ones below (written for this benchmark, not
tuned on any split), or a JSON file ``{label: description}`` given with ``--descriptions``. Numbers mean something
only for a trained model (``--model``); a model trained on bare names may well score lower with descriptions.

    python -m benchmarks.experiments.label_descriptions --model runs/demo/model
    python -m benchmarks.experiments.label_descriptions --model runs/demo/model --corpora bc5cdr --max-sentences 1000

Results go to benchmarks/results/label_descriptions.json (per corpus; resumable, ``--force`` starts over).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import RESULTS_DIR, command_line, resumable_report, write_json

DESCRIPTIONS = {
    "chemical": "a chemical compound or drug, such as a medication, toxin, element or metabolite",
    "disease": "a disorder of structure or function in a human or animal, such as an illness, syndrome or symptom",
    "gene": "a gene or the protein it encodes, named by its symbol or full name",
    "protein": "a protein, protein family, complex or domain",
    "DNA": "a DNA sequence or region, such as a gene, promoter, enhancer or binding site",
    "RNA": "an RNA molecule or transcript, such as an mRNA",
    "cell line": "a named cultured cell line, such as HeLa or Jurkat cells",
    "cell type": "a kind of cell found in an organism, such as T cells, monocytes or neurons",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved KoGNER model directory")
    parser.add_argument("--corpora", nargs="+", default=["ncbi_disease", "bc5cdr", "bc2gm", "jnlpba"])
    parser.add_argument("--split", default="validation", help="validation (default); never test for this choice")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--descriptions", default=None, help="JSON file {label: description} replacing the defaults")
    parser.add_argument("--max-sentences", type=int, default=None, help="only the first N sentences per corpus")
    parser.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default=str(RESULTS_DIR / "label_descriptions.json"), help="JSON results file")
    parser.add_argument("--force", action="store_true", help="recompute corpora already in --output")
    args = parser.parse_args(argv)
    if args.split == "test":
        parser.error("--split test: descriptions are a modelling choice; measure them on validation (or train)")
    args.description_map = DESCRIPTIONS
    if args.descriptions:
        args.description_map = json.loads(Path(args.descriptions).read_text())
        if not isinstance(args.description_map, dict):
            parser.error(f"--descriptions {args.descriptions}: expected a JSON object {{label: description}}")
    return args


def predict(model: Any, sentences: list[list[str]], labels: list[str], descriptions: dict[str, str] | None,
            args: argparse.Namespace, name: str) -> list[list[tuple[int, int, str]]]:
    from tqdm.auto import tqdm

    found: list[list[tuple[int, int, str]]] = []
    chunk = args.batch_size * 8
    for first in tqdm(range(0, len(sentences), chunk), desc=name, unit="chunk"):
        spans = model.predict_word_spans(sentences[first : first + chunk], labels, args.threshold,
                                         batch_size=args.batch_size, label_descriptions=descriptions)
        found += [[(span.start, span.end, labels[span.label]) for span in sentence] for sentence in spans]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from kogner.corpora.registry import EVALUATION_CORPUS_LABELS, load_corpus_split
    from kogner.evaluation.metrics import gold_spans, span_scores
    from modeling_kogner import KoGNERModel

    output = Path(args.output)
    settings = {"model": args.model, "split": args.split, "max_sentences": args.max_sentences,
                "threshold": args.threshold, "descriptions": args.description_map}
    report = resumable_report(output, settings, command_line("experiments.label_descriptions", argv), args.force)
    model = KoGNERModel.from_pretrained(args.model).eval()
    for corpus in args.corpora:
        if corpus in report["results"]:
            print(f"{corpus}: done in an earlier run, kept (--force to redo)")
            continue
        dataset = load_corpus_split(corpus, args.split, data_dir=args.data_dir)
        if args.max_sentences:
            dataset = dataset.select(range(min(args.max_sentences, len(dataset))))
        labels = list(EVALUATION_CORPUS_LABELS[corpus])
        described = {label: args.description_map[label] for label in labels if label in args.description_map}
        gold = [gold_spans(example) for example in dataset]
        row: dict[str, Any] = {"sentences": len(dataset), "labels": labels, "described": sorted(described)}
        for arm, descriptions in (("names", None), ("names + descriptions", described)):
            scores = span_scores(gold, predict(model, dataset["tokens"], labels, descriptions, args, f"{corpus} {arm}"))
            row[arm] = {key: scores[key] for key in ("precision", "recall", "f1", "predicted", "support")}
            row[arm]["per_label_f1"] = {label: value["f1"] for label, value in scores["per_label"].items()}
        report["results"][corpus] = row
        write_json(output, report, announce=False)
    lines = ["| corpus | sentences | F1 names | F1 names + descriptions | change |", "|---|---|---|---|---|"]
    for corpus, row in report["results"].items():
        plain, described = 100 * row["names"]["f1"], 100 * row["names + descriptions"]["f1"]
        lines.append(f"| {corpus} | {row['sentences']} | {plain:.1f} | {described:.1f} | {described - plain:+.1f} |")
    report["markdown"] = "\n".join(lines)
    print("\n" + report["markdown"] + "\n")
    write_json(output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
