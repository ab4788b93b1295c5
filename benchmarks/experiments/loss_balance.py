"""How the two loss terms pull on the shared layers: value and gradient norm of each term, per batch.

For a trained KoGNER model and a training mix, takes ``--batches`` batches (the training collator, the model in
training mode) and measures, for the language term (BCE) and the distillation term (MSE):

* the value of each term, raw and weighted as the training run combines them (``a * lang``, ``b * dist``);
* the L2 norm of each term's gradient with respect to the parameters both terms share (the encoder and the span
  representation), raw and weighted;
* the share of the weighted distillation gradient norm in the sum of the two weighted norms.

``--loss-balance running_mean`` divides each term by its mean over the measured batches first (what
``kogner.training.balance`` does during training, with a running mean). Results go to
``benchmarks/results/loss_balance.json`` (one entry per model, keyed by ``--name``).

    python -m benchmarks.experiments.loss_balance --model runs/.../model --name dist_0.2
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import RESULTS_DIR, command_line, provenance, read_json, write_json

ZERO_SHOT_MIX = ["runs/data-disjoint", "bionlp09", "bionlp11epi", "bionlp11id", "bionlp13ge", "bionlp13pc", "craft",
                 "ex_ptm"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained KoGNER model with a distillation head")
    parser.add_argument("--name", required=True, help="key of this measurement in the results JSON")
    parser.add_argument("--teacher", default="runs/teacher", help="teacher directory the model was trained with")
    parser.add_argument("--train-data", nargs="+", default=ZERO_SHOT_MIX, help="training sources to draw batches from")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: ../shared/data/benchmarks)")
    parser.add_argument("--batches", type=int, default=20, help="batches to measure")
    parser.add_argument("--batch-size", type=int, default=8, help="sentences per batch")
    parser.add_argument("--seed", type=int, default=3, help="seed of the mix order and the negative labels")
    parser.add_argument("--loss-balance", choices=["none", "running_mean"], default="none",
                        help="divide each term by its mean over the measured batches before weighting")
    parser.add_argument("--output", default=str(RESULTS_DIR / "loss_balance.json"), help="results JSON")
    return parser.parse_args(argv)


def gradient_norm(loss: Any, parameters: list[Any]) -> float:
    import torch

    if not loss.requires_grad:
        return 0.0
    gradients = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in gradients if g is not None)))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from kogner.corpora.linking import link_corpus
    from kogner.corpora.mix import label_pool, load_training_mix
    from kogner.training.arguments import saved_loss_settings
    from kogner.training.collator import KoGNERDataCollator
    from kogner.training.pipeline import load_teacher
    from modeling_kogner import KoGNERModel

    model = KoGNERModel.from_pretrained(args.model)
    model.loss_settings = saved_loss_settings(args.model)  # the objective it was trained with
    if model.distillation_head is None:
        raise SystemExit(f"{args.model}: no distillation head (trained without a teacher); nothing to compare")
    model.train()
    teacher, _, index = load_teacher(args.teacher)
    size = args.batches * args.batch_size
    mix = load_training_mix(args.train_data, args.data_dir, args.seed)
    mix, _ = link_corpus(mix.select(range(min(size, len(mix)))), index)
    collator = KoGNERDataCollator.from_model(model, teacher=teacher, negative_label_pool=label_pool([mix]),
                                             num_negative_labels=4, seed=args.seed)
    shared = [p for name, p in model.named_parameters()
              if p.requires_grad and name.startswith(("encoder.", "span_representation."))]
    if not shared:
        raise SystemExit("no shared encoder/span parameters found")
    rows = []
    for first in range(0, len(mix), args.batch_size):
        batch = collator([mix[i] for i in range(first, min(first + args.batch_size, len(mix)))])
        output = model(**batch)
        rows.append({"lang": output.lang_loss.item(), "dist": output.dist_loss.item(),
                     "grad_lang": gradient_norm(output.lang_loss, shared),
                     "grad_dist": gradient_norm(output.dist_loss, shared),
                     "linked_spans": int(batch["distill_index"].shape[0]) if "distill_index" in batch else 0})
        model.zero_grad(set_to_none=True)
    a, b = model.loss_settings.lang_weight, model.loss_settings.dist_weight
    mean = {key: statistics.fmean(row[key] for row in rows) for key in rows[0]}
    scale_lang, scale_dist = (mean["lang"], mean["dist"]) if args.loss_balance == "running_mean" else (1.0, 1.0)
    weighted = {"lang": a * mean["lang"] / scale_lang, "dist": b * mean["dist"] / scale_dist,
                "grad_lang": a * mean["grad_lang"] / scale_lang, "grad_dist": b * mean["grad_dist"] / scale_dist}
    return {
        "model": args.model, "train_data": args.train_data, "batches": len(rows), "batch_size": args.batch_size,
        "lang_weight": a, "dist_weight": b, "loss_balance": args.loss_balance,
        "mean": {key: round(value, 6) for key, value in mean.items()},
        "weighted": {key: round(value, 6) for key, value in weighted.items()},
        "dist_share_of_loss": round(weighted["dist"] / (weighted["lang"] + weighted["dist"]), 4),
        "dist_share_of_gradient_norm": round(
            weighted["grad_dist"] / (weighted["grad_lang"] + weighted["grad_dist"]), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = measure(args)
    output = Path(args.output)
    results = read_json(output)
    results.setdefault("measurements", {})[args.name] = {
        **result, **provenance(command_line("experiments.loss_balance", argv), seeds=[args.seed])}
    write_json(output, results)
    print(json.dumps({key: result[key] for key in ("mean", "weighted", "dist_share_of_loss",
                                                   "dist_share_of_gradient_norm")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
