"""Teacher views for ablations: a teacher whose H is rebuilt from a subset of its parts (e.g. without Z'').

``teacher.safetensors`` keeps Z, Z' and Z'' beside H, so ``H without Z''`` needs no new training: the chosen parts
are scaled and concatenated exactly as the build does (`scale_blocks`) and written as a teacher folder of its own
(same entities, its own fingerprint), which ``train.py --teacher`` reads like any other.

    python -m kogner.teacher.views runs/teacher runs/teacher-no-transr --views Z Z_prime
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from .artifact import Teacher, scale_blocks
from .files import ENTITIES_FILE, write_summary, write_teacher_files

VIEWS = ("Z", "Z_prime", "Z_double_prime")
ALIASES = {"text": "Z", "graph": "Z_prime", "spatial": "Z_prime", "transr": "Z_double_prime",
           "logical": "Z_double_prime", "Z'": "Z_prime", "Z''": "Z_double_prime"}


def canonical_views(views: Sequence[str]) -> list[str]:
    """``["text", "Z''"]`` -> ``["Z", "Z_double_prime"]`` (in H's order); an unknown name raises naming it."""
    chosen = set()
    for view in views:
        name = ALIASES.get(view, view)
        if name not in VIEWS:
            raise ValueError(f"unknown teacher view {view!r}: expected one of {', '.join(VIEWS)} "
                             f"(or {', '.join(ALIASES)})")
        chosen.add(name)
    if not chosen:
        raise ValueError("choose at least one teacher view")
    return [view for view in VIEWS if view in chosen]


def write_teacher_views(source: str | Path, out_dir: str | Path, views: Sequence[str]) -> Path:
    """Write a teacher folder whose H is built from ``views`` of the teacher in ``source``.

    Without Z'' every entity is a distillation target (``covered`` is all True): the coverage mask is about Z''.
    """
    source, out_dir = Path(source), Path(out_dir)
    chosen = canonical_views(views)
    teacher = Teacher.load(source)
    missing = [view for view in chosen if view not in teacher.parts]
    if missing:
        raise ValueError(f"teacher {source} has no part(s) {missing} (it has {sorted(teacher.parts)})")
    blocks = {view: teacher.parts[view].float() for view in chosen}
    h, scaling = scale_blocks(blocks)
    covered = teacher.covered if "Z_double_prime" in chosen else torch.ones(len(teacher), dtype=torch.bool)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = dict(teacher.metadata)
    kg_fingerprint = summary.get("kg", {}).get("fingerprint", "")
    artifact = write_teacher_files(out_dir, {"H": h, **blocks, "covered": covered},
                                   (source / ENTITIES_FILE).read_text(encoding="utf-8"), kg_fingerprint)
    summary.update({
        "dims": {**{view: int(block.shape[1]) for view, block in blocks.items()}, "H": int(h.shape[1])},
        "views": chosen, "derived_from": str(source), "scaling": scaling, "artifact": artifact,
        "coverage": {**summary.get("coverage", {}), "covered": int(covered.sum()),
                     "fraction": round(float(covered.float().mean()), 5)},
    })
    write_summary(out_dir, summary)
    return out_dir


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a built teacher folder (data_scripts/build_teacher.py)")
    parser.add_argument("out", help="folder for the teacher with the chosen views")
    parser.add_argument("--views", nargs="+", required=True, help=f"parts of H to keep: {' '.join(VIEWS)}")
    args = parser.parse_args(argv)
    print(f"wrote {write_teacher_views(args.source, args.out, args.views)}")


if __name__ == "__main__":
    main()
