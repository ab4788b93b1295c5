"""The KoGNER teacher (paper §2.3): H = [Z, Z', Z''] for every KG entity.

* Z   — text: the encoder over ``name`` (+ ``: description``), mean-pooled (eq. in §2.3).
* Z'  — spatial: a PyG ``TransformerConv`` stack (K layers) trained on node-type classification
        with a held-out split; Z' is its last hidden layer (eq. 3-4). The paper gives Z' Z's width
        d'; the default here is 128 (``gnn_hidden``; None restores d') with at most 16 messages per
        node, which makes the stage ~10x cheaper on a CPU.
* Z'' — logical: TransR entity embeddings trained with PyKEEN's pipeline (eq. 5).
* H   — the concatenation, each block standardized (see :func:`scale_blocks`).

Each stage is cached under ``<out>/stages/<stage>/`` (``vectors.safetensors`` + ``record.json``)
keyed by a hash of its inputs and settings; a finished stage with the same key is loaded, not
recomputed, so an interrupted build resumes after the last finished stage. Outputs:
``teacher.safetensors`` (``H``, ``Z``, ``Z_prime``, ``Z_double_prime``), ``entities.tsv``
(row, kg_id, name, type) and ``teacher.json``. No pickles anywhere.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from kogner.kg.graph import KnowledgeGraph

from .cache import StageCache, encoder_identity, measured, stable_hash
from .graph import spatial_stage
from .settings import FORMAT_VERSION, STAGES, TeacherSettings
from .text import resolve_device, text_stage
from .transr import logical_stage

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


def _clean(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def write_entities(graph: KnowledgeGraph, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("row\tkg_id\tname\ttype\n")
        for row, (node_id, name, node_type) in enumerate(zip(graph.node_ids, graph.names, graph.types)):
            handle.write(f"{row}\t{_clean(node_id)}\t{_clean(name)}\t{_clean(node_type)}\n")


@dataclass
class BuildResult:
    out_dir: Path
    stage_status: dict[str, str] = field(default_factory=dict)  # stage -> "computed" | "cached"
    summary: dict = field(default_factory=dict)


def build_teacher(graph: KnowledgeGraph, out_dir: str | Path, settings: TeacherSettings | None = None, *,
                  progress: bool = True, extra_timings: dict[str, dict] | None = None,
                  kg_description: dict | None = None) -> BuildResult:
    """Run (or reuse) the three stages and write teacher.safetensors, entities.tsv and teacher.json."""
    from safetensors.torch import save_file

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
        h, scaling = scale_blocks(blocks)
        save_file({"H": h.contiguous(), **{k: v.contiguous() for k, v in blocks.items()}},
                  out_dir / "teacher.safetensors", metadata={"kg_fingerprint": fingerprint})
        write_entities(graph, out_dir / "entities.tsv")
    timings = dict(extra_timings or {})
    for stage in STAGES:
        timings[stage] = {k: records[stage][k] for k in ("wall_time_s", "peak_rss_mb")} | {
            "status": result.stage_status[stage]}
    timings["assemble"] = assemble_stats
    summary = {
        "format_version": FORMAT_VERSION,
        "entities": graph.num_nodes,
        "edges": graph.num_edges,
        "dims": {"Z": int(blocks["Z"].shape[1]), "Z_prime": int(blocks["Z_prime"].shape[1]),
                 "Z_double_prime": int(blocks["Z_double_prime"].shape[1]), "H": int(h.shape[1])},
        "entity_count_per_type": dict(sorted(Counter(graph.types).items())),
        "edge_count_per_relation": dict(sorted(Counter(graph.edge_relations.tolist()).items())),
        "kg": {"source": graph.source, "fingerprint": fingerprint, **(kg_description or {})},
        "encoder": settings.resolved_encoder(),
        "settings": all_settings,
        "metrics": {"gnn": records["spatial"]["metrics"], "transr": records["logical"]["metrics"]},
        "scaling": scaling,
        "stage_timings": timings,
        "stage_keys": {stage: records[stage]["key"] for stage in STAGES},
        "library_versions": library_versions(),
        "device": str(resolve_device(settings.device)),
        "files": {"vectors": "teacher.safetensors", "entities": "entities.tsv"},
    }
    (out_dir / "teacher.json").write_text(json.dumps(summary, indent=2))
    result.summary = summary
    return result


# --------------------------------------------------------------------------------------------
# Reading a built teacher
# --------------------------------------------------------------------------------------------


class Teacher:
    """A built teacher: ``vectors`` ``[M, r]`` (H) with the entity table. Use :meth:`load`."""

    def __init__(self, vectors: torch.Tensor, kg_ids: list[str], names: list[str], types: list[str],
                 metadata: dict, parts: dict[str, torch.Tensor] | None = None) -> None:
        if vectors.shape[0] != len(kg_ids):
            raise ValueError(f"{vectors.shape[0]} vectors but {len(kg_ids)} entities")
        self.vectors = vectors
        self.kg_ids = kg_ids
        self.names = names
        self.types = types
        self.metadata = metadata
        self.parts = parts or {}
        self.index = {kg_id: row for row, kg_id in enumerate(kg_ids)}

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

    @classmethod
    def load(cls, directory: str | Path) -> Teacher:
        from safetensors.torch import load_file

        directory = Path(directory)
        for name in ("teacher.safetensors", "entities.tsv", "teacher.json"):
            if not (directory / name).exists():
                raise FileNotFoundError(f"{directory / name} missing: build the teacher with data_scripts/build_teacher.py")
        tensors = load_file(directory / "teacher.safetensors")
        kg_ids, names, types = [], [], []
        with open(directory / "entities.tsv", encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n").split("\t")
            if header != ["row", "kg_id", "name", "type"]:
                raise ValueError(f"{directory / 'entities.tsv'}, line 1: expected header row/kg_id/name/type, got {header}")
            for number, line in enumerate(handle, 2):
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 4 or fields[0] != str(number - 2):
                    raise ValueError(f"{directory / 'entities.tsv'}, line {number}: expected row {number - 2} "
                                     f"with 4 tab-separated fields")
                kg_ids.append(fields[1])
                names.append(fields[2])
                types.append(fields[3])
        metadata = json.loads((directory / "teacher.json").read_text())
        parts = {k: v for k, v in tensors.items() if k != "H"}
        return cls(tensors["H"].float(), kg_ids, names, types, metadata, parts)


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
        f"TransR: MRR {transr['mrr']:.4f}  Hits@10 {transr['hits_at_10']:.4f}",
        "stages: " + ", ".join(f"{k} {v['wall_time_s']:.1f}s/{v['peak_rss_mb']:.0f}MB"
                               + (f" ({v['status']})" if "status" in v else "")
                               for k, v in summary["stage_timings"].items()),
    ]
    return "\n".join(lines)
