"""Summaries of a protocol's per-seed test scores (`benchmarks.protocols`): mean ± std per corpus and label, and
the markdown table printed at the end of a run."""

from __future__ import annotations

from typing import Any

from benchmarks.common import mean_std


def summarize(per_seed: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """seed -> set -> scores  =>  folder -> {f1, f1_std, precision, recall, per_label, ...} in percent."""
    by_set: dict[str, list[dict[str, Any]]] = {}
    for scores in per_seed.values():
        for name, values in scores.items():
            by_set.setdefault(name.rsplit(":", 1)[0], []).append(values)
    summary = {}
    for folder, runs in by_set.items():
        f1, f1_std = mean_std([100 * run["f1"] for run in runs])
        per_label = {}
        for label in sorted({label for run in runs for label in run["per_label"]}):
            values = [run["per_label"].get(label, {"f1": 0.0, "precision": 0.0, "recall": 0.0}) for run in runs]
            label_f1, label_std = mean_std([100 * value["f1"] for value in values])
            per_label[label] = {"f1": round(label_f1, 2), "f1_std": round(label_std, 2),
                                "precision": round(mean_std([100 * v["precision"] for v in values])[0], 2),
                                "recall": round(mean_std([100 * v["recall"] for v in values])[0], 2),
                                "support": values[0].get("support", 0)}
        summary[folder] = {"f1": round(f1, 2), "f1_std": round(f1_std, 2),
                           "precision": round(mean_std([100 * run["precision"] for run in runs])[0], 2),
                           "recall": round(mean_std([100 * run["recall"] for run in runs])[0], 2),
                           "n_seeds": len(runs), "f1_per_seed": [round(100 * run["f1"], 2) for run in runs],
                           "per_label": per_label}
    return summary


def markdown(corpora: dict[str, Any], peer: dict[str, Any] | None, seeds: int) -> str:
    header = "| corpus | F1 | P | R |" + (" gliner peer F1 |" if peer else "")
    lines = [header, "|---|---|---|---|" + ("---|" if peer else "")]
    for folder, values in corpora.items():
        row = f"| {folder} | {values['f1']:.1f} ± {values['f1_std']:.1f} | {values['precision']:.1f} | " \
              f"{values['recall']:.1f} |"
        if peer:
            other = peer.get(folder)
            row += f" {other['f1']:.1f} ± {other['f1_std']:.1f} |" if other else " – |"
        lines.append(row)
    return "\n".join(lines + ["", f"Strict span+type F1 (%), mean ± sample std over {seeds} seed(s)."])
