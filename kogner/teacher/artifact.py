"""The KoGNER teacher (paper §2.3): H = [Z, Z', Z''] for every KG entity.

* Z   — text: the encoder over ``name`` (+ ``: description``), mean-pooled (eq. in §2.3).
* Z'  — spatial: a PyG ``TransformerConv`` stack (K layers) trained on node-type classification
        with a held-out split; Z' is its last hidden layer (eq. 3-4). The paper gives Z' Z's width
        d'; the default here is 128 (``gnn_hidden``; None restores d') with at most 16 messages per
        node, which makes the stage much cheaper on a CPU (BENCHMARKS.md, teacher).
* Z'' — logical: TransR entity embeddings trained with PyKEEN's pipeline (eq. 5).
* H   — the concatenation, each block standardized (see :func:`scale_blocks`).

Each stage is cached under ``<out>/stages/<stage>/`` (``vectors.safetensors`` + ``record.json``)
keyed by a hash of its inputs and settings; a finished stage with the same key is loaded, not
recomputed, so an interrupted build resumes after the last finished stage. Outputs:
``teacher.safetensors`` (``H``, ``Z``, ``Z_prime``, ``Z_double_prime``), ``entities.tsv``
(row, kg_id, name, type) and ``teacher.json``, each written atomically and bound by one fingerprint that
:meth:`Teacher.load` checks (see :mod:`kogner.teacher.files`). No pickles anywhere.
"""

from __future__ import annotations

import logging
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from kogner.kg.graph import KnowledgeGraph
from kogner.kg.xrefs import xref_report

from kogner.atomic import atomic_write_text

from .cache import StageCache, encoder_identity, measured, stable_hash
from .files import (
    ENTITIES_FILE, VECTORS_FILE, TeacherFilesError, check_teacher_files, entities_table, read_entity_columns, read_summary,
    verify_fingerprint, write_summary, write_teacher_files,
)
from .graph import spatial_stage
from .settings import FORMAT_VERSION, STAGES, TeacherSettings
from .text import resolve_device, text_stage
from .transr import coverage_mask, coverage_summary, logical_stage

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# H = [Z, Z', Z'']
# --------------------------------------------------------------------------------------------


def scale_blocks(blocks: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """Concatenate blocks so that no block dominates by scale or width.

    Each block is centred per dimension and divided by one scalar (its overall std, so its internal
    geometry is kept), then multiplied by ``sqrt(r / (B * d_b))``: every block contributes 1/B of
    the expected squared norm of a row of H, and H's entries have unit variance on average.
    """
    total = sum(b.shape[1] for b in blocks.values())
    parts, info = [], {}
    for name, block in blocks.items():
        centred = block - block.mean(0, keepdim=True)
        std = float(centred.std()) if block.numel() > 1 else 1.0
        std = std if std > 0 else 1.0
        weight = (total / (len(blocks) * block.shape[1])) ** 0.5
        parts.append(centred / std * weight)
        info[name] = {"dim": int(block.shape[1]), "std": std, "weight": weight}
    return torch.cat(parts, dim=1), {
        "method": "per-dimension centring, divide by the block's scalar std, multiply by sqrt(r/(B*d_b)) "
                  "so each of the B blocks carries an equal share of the squared norm",
        "blocks": info,
    }


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("torch", "torch-geometric", "pykeen", "transformers", "numpy", "safetensors"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def write_entities(graph: KnowledgeGraph, path: Path) -> None:
    """Write ``entities.tsv`` (atomically) for ``graph``."""
    atomic_write_text(path, entities_table(graph))


@dataclass
class BuildResult:
    out_dir: Path
    stage_status: dict[str, str] = field(default_factory=dict)  # stage -> "computed" | "cached"
    summary: dict = field(default_factory=dict)


def build_teacher(graph: KnowledgeGraph, out_dir: str | Path, settings: TeacherSettings | None = None, *,
                  progress: bool = True, extra_timings: dict[str, dict] | None = None,
                  kg_description: dict | None = None) -> BuildResult:
    """Run (or reuse) the three stages and write teacher.safetensors, entities.tsv and teacher.json."""
    settings = settings or TeacherSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = StageCache(out_dir / "stages")
    fingerprint = graph.fingerprint()
    all_settings = asdict(settings)
    result = BuildResult(out_dir)
    records: dict[str, dict] = {}
    tensors: dict[str, torch.Tensor] = {}

    def run_stage(stage: str, key_payload: dict, compute: Callable[[], tuple[torch.Tensor, dict]]) -> str:
        key = stable_hash({"stage": stage, "format": FORMAT_VERSION, **key_payload})
        cached = cache.load(stage, key)
        if cached is not None:
            tensors[stage], records[stage] = cached[0]["vectors"], cached[1]
            result.stage_status[stage] = "cached"
            logger.info("stage %s: cached (%s)", stage, key)
            return key
        logger.info("stage %s: computing", stage)
        with measured() as stats:
            vectors, metrics = compute()
        if not torch.isfinite(vectors).all():
            raise FloatingPointError(f"stage {stage} produced non-finite vectors")
        records[stage] = cache.save(stage, key, {"vectors": vectors}, {
            "metrics": metrics, **stats, "shape": list(vectors.shape),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "settings": key_payload.get("settings", {})})
        tensors[stage] = vectors
        result.stage_status[stage] = "computed"
        return key

    text_settings = {k: all_settings[k] for k in ("text_max_length", "text_batch_size")}
    text_key = run_stage("text", {"kg": fingerprint, "settings": text_settings,
                                  "encoder": encoder_identity(settings.resolved_encoder())},
                         lambda: text_stage(graph, settings, progress))
    gnn_settings = {k: v for k, v in all_settings.items() if k.startswith("gnn_") or k == "seed"}
    run_stage("spatial", {"kg": fingerprint, "settings": gnn_settings, "upstream": text_key},
              lambda: spatial_stage(graph, tensors["text"], settings, progress))
    transr_settings = {k: v for k, v in all_settings.items() if k.startswith("transr_") or k == "seed"}
    run_stage("logical", {"kg": fingerprint, "settings": transr_settings},
              lambda: logical_stage(graph, settings))

    with measured() as assemble_stats:
        blocks = {"Z": tensors["text"], "Z_prime": tensors["spatial"], "Z_double_prime": tensors["logical"]}
        covered = coverage_mask(graph, tensors["logical"])  # entities with a trained Z''
        if blocks["Z_double_prime"].shape[1] == 0:  # TransR skipped (too few relation triples): H = [Z, Z']
            del blocks["Z_double_prime"]
        h, scaling = scale_blocks(blocks)
        # teacher.json goes first and comes back last: a build killed in between is never taken for complete
        artifact = write_teacher_files(out_dir, {"H": h, **blocks, "covered": covered}, entities_table(graph),
                                       fingerprint)
    timings = dict(extra_timings or {})
    for stage in STAGES:
        timings[stage] = {k: records[stage][k] for k in ("wall_time_s", "peak_rss_mb")} | {
            "status": result.stage_status[stage]}
    timings["assemble"] = assemble_stats
    summary = {
        "format_version": FORMAT_VERSION,
        "entities": graph.num_nodes,
        "edges": graph.num_edges,
        "dims": {**{name: int(block.shape[1]) for name, block in blocks.items()}, "H": int(h.shape[1])},
        "entity_count_per_type": dict(sorted(Counter(graph.types).items())),
        "edge_count_per_relation": dict(sorted(Counter(graph.edge_relations.tolist()).items())),
        "kg": {"source": graph.source, "fingerprint": fingerprint, **(kg_description or {})},
        "xrefs_per_source": xref_report(graph.node_ids, graph.xrefs),
        "encoder": settings.resolved_encoder(),
        "settings": all_settings,
        "metrics": {"gnn": records["spatial"]["metrics"], "transr": records["logical"]["metrics"]},
        "coverage": coverage_summary(covered, records["logical"]["metrics"]),
        "scaling": scaling,
        "stage_timings": timings,
        "stage_keys": {stage: records[stage]["key"] for stage in STAGES},
        "library_versions": library_versions(),
        "device": str(resolve_device(settings.device)),
        "files": {"vectors": "teacher.safetensors", "entities": "entities.tsv"},
    }
    summary["artifact"] = artifact  # the one fingerprint of the three files, checked by Teacher.load
    write_summary(out_dir, summary)
    result.summary = summary
    return result


# --------------------------------------------------------------------------------------------
# Reading a built teacher
# --------------------------------------------------------------------------------------------


class Teacher:
    """A built teacher: ``vectors`` ``[M, r]`` (H) with the entity table. Use :meth:`load`."""

    def __init__(self, vectors: torch.Tensor, kg_ids: list[str], names: list[str], types: list[str],
                 metadata: dict, parts: dict[str, torch.Tensor] | None = None,
                 covered: torch.Tensor | None = None) -> None:
        if vectors.shape[0] != len(kg_ids):
            raise ValueError(f"{vectors.shape[0]} vectors but {len(kg_ids)} entities")
        if covered is not None and covered.shape != (len(kg_ids),):
            raise ValueError(f"covered mask of shape {list(covered.shape)} for {len(kg_ids)} entities")
        # covered[row]: the entity has a trained Z'' (old teachers without the mask: every entity)
        self.covered = torch.ones(len(kg_ids), dtype=torch.bool) if covered is None else covered.bool()
        self.vectors = vectors
        self.kg_ids = kg_ids
        self.names = names
        self.types = types
        self.metadata = metadata
        self.parts = parts or {}
        self.index = {kg_id: row for row, kg_id in enumerate(kg_ids)}
        self.synonyms: list[list[str]] = [[] for _ in kg_ids]  # per entity, from entities.tsv (empty: older teacher)
        self.xrefs: list[list[str]] = [[] for _ in kg_ids]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.kg_ids)

    def row_of(self, kg_id: str) -> int:
        """Row of ``kg_id``; ``KeyError`` naming the id when it is not a teacher entity."""
        try:
            return self.index[kg_id]
        except KeyError:
            raise KeyError(f"{kg_id!r} is not an entity of this teacher") from None

    def vector(self, kg_id: str) -> torch.Tensor:
        return self.vectors[self.row_of(kg_id)]

    @property
    def covered_index(self) -> dict[str, int]:
        """KG id -> row of the entities with a trained Z'': the distillation targets (uncovered ids are absent)."""
        return {kg_id: row for kg_id, row in self.index.items() if self.covered[row]}

    @classmethod
    def load(cls, directory: str | Path) -> Teacher:
        """Read a built teacher; a missing, truncated or mismatched file raises an error naming it (no silent mix)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        directory = Path(directory)
        check_teacher_files(directory)
        tensors = load_file(directory / VECTORS_FILE)
        with safe_open(directory / VECTORS_FILE, framework="pt") as handle:
            vectors_metadata = handle.metadata() or {}
        columns = read_entity_columns(directory / ENTITIES_FILE)
        kg_ids, names, types = columns["kg_ids"], columns["names"], columns["types"]
        metadata = read_summary(directory)
        if "H" not in tensors:
            raise TeacherFilesError(f"{directory / VECTORS_FILE} has no tensor 'H' (found {sorted(tensors)})")
        verify_fingerprint(directory, metadata, tensors["H"], vectors_metadata, kg_ids)
        covered = tensors.pop("covered", None)
        parts = {k: v for k, v in tensors.items() if k != "H"}
        teacher = cls(tensors["H"].float(), kg_ids, names, types, metadata, parts, covered)
        teacher.synonyms, teacher.xrefs = columns["synonyms"], columns["xrefs"]
        return teacher


def describe(summary: dict) -> str:
    """A short human-readable summary of teacher.json."""
    gnn, transr = summary["metrics"]["gnn"], summary["metrics"]["transr"]
    lines = [
        f"entities: {summary['entities']}  edges: {summary['edges']}  KG {summary['kg']['source']} "
        f"({summary['kg']['fingerprint']})",
        "dims: " + ", ".join(f"{k}={v}" for k, v in summary["dims"].items()),
        "per type: " + ", ".join(f"{k}={v}" for k, v in summary["entity_count_per_type"].items()),
        f"GNN node-type accuracy: test {gnn['test_accuracy']} (majority {gnn['majority_class_test_accuracy']}), "
        f"mode {gnn['mode']}",
        (f"TransR skipped: {transr['skipped']}" if "skipped" in transr else
         f"TransR: MRR {transr['mrr']:.4f}  Hits@1 {transr.get('hits_at_1', float('nan')):.4f}  "
         f"Hits@10 {transr['hits_at_10']:.4f}  (TransE MRR {transr.get('transe', {}).get('mrr', float('nan')):.4f}); "
         f"coverage {transr.get('covered', '?')}/{transr.get('entities', '?')} entities"),
        "stages: " + ", ".join(f"{k} {v['wall_time_s']:.1f}s/{v['peak_rss_mb']:.0f}MB"
                               + (f" ({v['status']})" if "status" in v else "")
                               for k, v in summary["stage_timings"].items()),
    ]
    return "\n".join(lines)
