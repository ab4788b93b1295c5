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

import hashlib
import json
import logging
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from data_scripts.kg_types import KnowledgeGraph
from data_scripts.text_embedding import default_encoder, encode_texts, resolve_device

logger = logging.getLogger(__name__)

STAGES = ("text", "spatial", "logical")
FORMAT_VERSION = 1


@dataclass
class TeacherSettings:
    """Every knob of the teacher; all of them feed the stage cache keys."""

    encoder: str | None = None            # HF path or Hub id; None = offline all-MiniLM-L6-v2
    text_max_length: int = 128
    text_batch_size: int = 64
    gnn_layers: int = 2                   # K in eq. 3
    gnn_heads: int = 2
    gnn_hidden: int | None = 128          # width of Z'; None = Z's width (the paper's d'), 3x the CPU cost
    gnn_max_neighbors: int | None = 16    # messages per node per layer (random subset of hub neighbours)
    gnn_epochs: int = 30
    gnn_lr: float = 2e-3
    gnn_dropout: float = 0.2
    gnn_test_fraction: float = 0.2
    gnn_full_batch_max_nodes: int = 200_000   # above: sampled mini-batches (NeighborLoader or fallback)
    gnn_batch_size: int = 1024
    gnn_fanouts: tuple[int, ...] = (10, 10)
    transr_dim: int = 128                 # d'' (entity embedding width)
    transr_relation_dim: int = 64
    transr_epochs: int = 15
    transr_batch_size: int = 2048
    transr_lr: float = 5e-3
    transr_split: tuple[float, float, float] = (0.9, 0.05, 0.05)
    transr_max_train_triples: int | None = 100_000   # subsample training triples above this (CPU budget)
    transr_max_eval_triples: int = 1000               # subsample test triples for MRR/Hits@10
    seed: int = 0
    device: str | None = None             # None/"auto": cuda when available

    def resolved_encoder(self) -> str:
        return self.encoder or default_encoder()


# --------------------------------------------------------------------------------------------
# Measuring and caching
# --------------------------------------------------------------------------------------------


class PeakMemory:
    """Samples this process's resident memory in a thread; ``peak_mb`` after the ``with`` block."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self.peak_mb = 0.0

    def _sample(self) -> None:
        self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Yields a dict filled with ``wall_time_s`` and ``peak_rss_mb`` when the block ends."""
    stats: dict[str, float] = {}
    start = time.perf_counter()
    with PeakMemory() as memory:
        yield stats
    stats["wall_time_s"] = round(time.perf_counter() - start, 3)
    stats["peak_rss_mb"] = round(memory.peak_mb, 1)


def stable_hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encoder_identity(encoder: str) -> dict[str, object]:
    """What identifies an encoder for caching: the path/id plus, for local folders, file sizes + config."""
    path = Path(encoder)
    if not path.is_dir():
        return {"encoder": encoder}
    files = {p.name: p.stat().st_size for p in sorted(path.iterdir()) if p.is_file()}
    config = (path / "config.json").read_text() if (path / "config.json").exists() else ""
    return {"encoder": str(path.resolve()), "files": files, "config": hashlib.sha256(config.encode()).hexdigest()}


class StageCache:
    """``<root>/<stage>/vectors.safetensors`` + ``record.json``; the record is written last (completion mark)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def record_path(self, stage: str) -> Path:
        return self.root / stage / "record.json"

    def load(self, stage: str, key: str) -> tuple[dict[str, torch.Tensor], dict] | None:
        from safetensors.torch import load_file

        record_path = self.record_path(stage)
        if not record_path.exists():
            return None
        record = json.loads(record_path.read_text())
        if record.get("key") != key:
            return None
        return load_file(self.root / stage / "vectors.safetensors"), record

    def save(self, stage: str, key: str, tensors: dict[str, torch.Tensor], record: dict) -> dict:
        from safetensors.torch import save_file

        folder = self.root / stage
        folder.mkdir(parents=True, exist_ok=True)
        self.record_path(stage).unlink(missing_ok=True)  # invalid until both files are complete
        tmp = folder / "vectors.safetensors.tmp"
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp)
        os.replace(tmp, folder / "vectors.safetensors")
        record = {"stage": stage, "key": key, **record}
        tmp_record = folder / "record.json.tmp"
        tmp_record.write_text(json.dumps(record, indent=2))
        os.replace(tmp_record, self.record_path(stage))
        return record


# --------------------------------------------------------------------------------------------
# Stage Z: text
# --------------------------------------------------------------------------------------------


def entity_texts(graph: KnowledgeGraph) -> list[str]:
    """``"name: description"`` (or just the name) for every node."""
    return [f"{name}: {description}" if description else name
            for name, description in zip(graph.names, graph.descriptions)]


def text_stage(graph: KnowledgeGraph, settings: TeacherSettings, progress: bool = True) -> tuple[torch.Tensor, dict]:
    vectors = encode_texts(entity_texts(graph), settings.resolved_encoder(), batch_size=settings.text_batch_size,
                           max_length=settings.text_max_length, device=settings.device, progress=progress)
    return vectors, {"dim": int(vectors.shape[1])}


# --------------------------------------------------------------------------------------------
# Stage Z': Graph Transformer pretrained on node-type classification
# --------------------------------------------------------------------------------------------


def undirected_edge_index(graph: KnowledgeGraph) -> torch.Tensor:
    """Both directions of every edge, duplicates removed, ``[2, E']``."""
    heads = torch.tensor(graph.edge_heads, dtype=torch.long)
    tails = torch.tensor(graph.edge_tails, dtype=torch.long)
    both = torch.stack([torch.cat([heads, tails]), torch.cat([tails, heads])])
    if both.numel() == 0:
        return both.reshape(2, 0)
    return torch.unique(both, dim=1)


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-type split; a type with one member goes to training only (it cannot be held out)."""
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = 0 if len(members) < 2 else min(len(members) - 1, max(1, round(test_fraction * len(members))))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def cap_in_degree(edge_index: torch.Tensor, num_nodes: int, max_neighbors: int | None, seed: int) -> torch.Tensor:
    """Keep at most ``max_neighbors`` random incoming edges per node (hub phenotypes have thousands)."""
    if max_neighbors is None or edge_index.shape[1] == 0:
        return edge_index
    generator = torch.Generator().manual_seed(seed)
    shuffled = edge_index[:, torch.randperm(edge_index.shape[1], generator=generator)]
    order = torch.argsort(shuffled[1], stable=True)
    targets = shuffled[1][order]
    starts = torch.zeros(num_nodes + 1, dtype=torch.long)
    starts[1:] = torch.cumsum(torch.bincount(targets, minlength=num_nodes), 0)
    rank = torch.arange(len(targets)) - starts[targets]
    return shuffled[:, order[rank < max_neighbors]]


class GraphTransformer(torch.nn.Module):
    """Input projection to ``dim``, K ``TransformerConv`` layers of width ``dim``, a type classifier."""

    def __init__(self, in_dim: int, dim: int, num_types: int, layers: int, heads: int, dropout: float) -> None:
        from torch_geometric.nn import TransformerConv

        super().__init__()
        if dim % heads:
            raise ValueError(f"GNN width {dim} is not divisible by gnn_heads={heads}")
        self.project = torch.nn.Identity() if in_dim == dim else torch.nn.Linear(in_dim, dim)
        self.convs = torch.nn.ModuleList(
            TransformerConv(dim, dim // heads, heads=heads, dropout=dropout) for _ in range(layers))
        self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(dim) for _ in range(layers))
        self.dropout = dropout
        self.classifier = torch.nn.Linear(dim, num_types)

    def embed(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x, edge_index))
            if index < len(self.convs) - 1:
                x = torch.nn.functional.dropout(torch.relu(x), self.dropout, self.training)
        return x

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.embed(x, edge_index)))


class NeighborSampler:
    """Sampled K-hop subgraphs around seed nodes.

    Uses PyG's ``NeighborLoader`` when pyg-lib or torch-sparse is installed; otherwise a small
    pure-torch sampler (uniform, with replacement) so the mini-batch path works everywhere.
    """

    def __init__(self, edge_index: torch.Tensor, num_nodes: int, fanouts: tuple[int, ...], seed: int) -> None:
        import torch_geometric.typing as pyg_typing

        self.num_nodes = num_nodes
        self.fanouts = fanouts
        self.generator = torch.Generator().manual_seed(seed)
        self.use_pyg = bool(pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE)
        self.edge_index = edge_index
        order = torch.argsort(edge_index[1], stable=True)  # CSR by target: messages flow source -> target
        self.sources = edge_index[0][order]
        counts = torch.bincount(edge_index[1], minlength=num_nodes)
        self.rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        self.rowptr[1:] = torch.cumsum(counts, 0)

    def batches(self, x: torch.Tensor, seeds: torch.Tensor, batch_size: int, shuffle: bool):
        """Yields ``(x_sub, edge_index_sub, seed_positions, seed_ids)``."""
        if self.use_pyg:
            from torch_geometric.data import Data
            from torch_geometric.loader import NeighborLoader

            loader = NeighborLoader(Data(x=x, edge_index=self.edge_index, num_nodes=self.num_nodes),
                                    num_neighbors=list(self.fanouts), input_nodes=seeds, batch_size=batch_size,
                                    shuffle=shuffle, generator=self.generator)
            for batch in loader:
                yield batch.x, batch.edge_index, torch.arange(batch.batch_size), batch.n_id[:batch.batch_size]
            return
        if shuffle:
            seeds = seeds[torch.randperm(len(seeds), generator=self.generator)]
        for start in range(0, len(seeds), batch_size):
            batch_seeds = seeds[start:start + batch_size]
            nodes, edge_index = self._sample(batch_seeds)
            yield x[nodes], edge_index, torch.searchsorted(nodes, batch_seeds), batch_seeds

    def _sample(self, seeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frontier, sources, targets = seeds, [], []
        for fanout in self.fanouts:
            degree = self.rowptr[frontier + 1] - self.rowptr[frontier]
            frontier = frontier[degree > 0]
            degree = degree[degree > 0]
            if len(frontier) == 0:
                break
            target = frontier.repeat_interleave(fanout)
            offset = (torch.rand(len(target), generator=self.generator) * degree.repeat_interleave(fanout)).long()
            source = self.sources[self.rowptr[frontier].repeat_interleave(fanout) + offset]
            sources.append(source)
            targets.append(target)
            frontier = torch.unique(source)
        if sources:
            pairs = torch.unique(torch.stack([torch.cat(sources), torch.cat(targets)]), dim=1)
        else:
            pairs = torch.empty(2, 0, dtype=torch.long)
        nodes = torch.unique(torch.cat([seeds, pairs.flatten()]))
        return nodes, torch.searchsorted(nodes, pairs)


def spatial_stage(graph: KnowledgeGraph, z: torch.Tensor, settings: TeacherSettings,
                  progress: bool = True) -> tuple[torch.Tensor, dict]:
    """Train the Graph Transformer on node types, return Z' (its last hidden layer) and metrics."""
    from tqdm.auto import tqdm

    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    type_names = graph.type_names()
    label_of = {name: i for i, name in enumerate(type_names)}
    labels = torch.tensor([label_of[t] for t in graph.types], dtype=torch.long)
    train_idx, test_idx = stratified_split(labels, settings.gnn_test_fraction, settings.seed)
    all_edges = undirected_edge_index(graph)
    edge_index = cap_in_degree(all_edges, graph.num_nodes, settings.gnn_max_neighbors, settings.seed)
    width = settings.gnn_hidden or z.shape[1]
    model = GraphTransformer(z.shape[1], width, len(type_names), settings.gnn_layers, settings.gnn_heads,
                             settings.gnn_dropout).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.gnn_lr, weight_decay=1e-4)
    full_batch = graph.num_nodes <= settings.gnn_full_batch_max_nodes
    sampler = None if full_batch else NeighborSampler(edge_index, graph.num_nodes, settings.gnn_fanouts, settings.seed)
    x_all, edges_all, labels_dev = z.to(device), edge_index.to(device), labels.to(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    last_loss = float("nan")
    for _ in tqdm(range(settings.gnn_epochs), desc="graph transformer", disable=not progress, unit="epoch"):
        model.train()
        if full_batch:
            optimizer.zero_grad()
            loss = loss_fn(model(x_all, edges_all)[train_idx.to(device)], labels_dev[train_idx.to(device)])
            loss.backward()
            optimizer.step()
            last_loss = loss.item()
            continue
        for x_sub, edges_sub, positions, seed_ids in sampler.batches(z, train_idx, settings.gnn_batch_size, True):
            optimizer.zero_grad()
            logits = model(x_sub.to(device), edges_sub.to(device))[positions.to(device)]
            loss = loss_fn(logits, labels_dev[seed_ids.to(device)])
            loss.backward()
            optimizer.step()
            last_loss = loss.item()

    model.eval()
    with torch.no_grad():
        if full_batch:
            hidden = model.embed(x_all, edges_all)
            predictions = model.classifier(torch.relu(hidden)).argmax(-1).cpu()
            z_prime = hidden.cpu()
        else:
            z_prime = torch.empty(graph.num_nodes, width)
            predictions = torch.empty(graph.num_nodes, dtype=torch.long)
            for x_sub, edges_sub, positions, seed_ids in sampler.batches(
                    z, torch.arange(graph.num_nodes), settings.gnn_batch_size, False):
                hidden = model.embed(x_sub.to(device), edges_sub.to(device))[positions.to(device)]
                z_prime[seed_ids] = hidden.cpu()
                predictions[seed_ids] = model.classifier(torch.relu(hidden)).argmax(-1).cpu()

    def accuracy(rows: torch.Tensor) -> float | None:
        return None if len(rows) == 0 else float((predictions[rows] == labels[rows]).float().mean())

    test_counts = Counter(labels[test_idx].tolist())
    metrics = {
        "test_accuracy": accuracy(test_idx),
        "train_accuracy": accuracy(train_idx),
        "majority_class_test_accuracy": (max(test_counts.values()) / len(test_idx)) if len(test_idx) else None,
        "train_nodes": len(train_idx), "test_nodes": len(test_idx),
        "types_without_test_nodes": [type_names[i] for i in range(len(type_names)) if i not in test_counts],
        "final_train_loss": last_loss,
        "mode": "full-batch" if full_batch else ("NeighborLoader" if sampler.use_pyg else "torch neighbor sampler"),
        "undirected_edges": int(all_edges.shape[1]),
        "message_edges_after_neighbor_cap": int(edge_index.shape[1]),
    }
    return z_prime, metrics


# --------------------------------------------------------------------------------------------
# Stage Z'': TransR
# --------------------------------------------------------------------------------------------


def logical_stage(graph: KnowledgeGraph, settings: TeacherSettings) -> tuple[torch.Tensor, dict]:
    """TransR via PyKEEN's pipeline; every KG node is a PyKEEN entity with id = its row."""
    from pykeen.pipeline import pipeline
    from pykeen.triples import TriplesFactory

    if graph.num_edges < 3:
        raise ValueError(f"TransR needs at least 3 edges to split train/validation/test; the graph has {graph.num_edges}")
    relation_names = graph.relation_names()
    relation_of = {name: i for i, name in enumerate(relation_names)}
    mapped = torch.stack([
        torch.tensor(graph.edge_heads, dtype=torch.long),
        torch.tensor([relation_of[r] for r in graph.edge_relations.tolist()], dtype=torch.long),
        torch.tensor(graph.edge_tails, dtype=torch.long),
    ], dim=1)
    mapped = torch.unique(mapped, dim=0)
    factory = TriplesFactory(mapped, entity_to_id={n: i for i, n in enumerate(graph.node_ids)},
                             relation_to_id=relation_of, num_entities=graph.num_nodes,
                             num_relations=len(relation_names))
    train, valid, test = factory.split(list(settings.transr_split), random_state=settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)

    def subsample(part: TriplesFactory, limit: int | None) -> TriplesFactory:
        if limit is None or part.num_triples <= limit:
            return part
        keep = torch.randperm(part.num_triples, generator=generator)[:limit]
        return part.clone_and_exchange_triples(part.mapped_triples[keep.sort().values])

    train_used = subsample(train, settings.transr_max_train_triples)
    test_used = subsample(test, settings.transr_max_eval_triples)
    device = resolve_device(settings.device)
    result = pipeline(
        training=train_used, validation=valid, testing=test_used,
        model="TransR",
        model_kwargs={"embedding_dim": settings.transr_dim, "relation_dim": settings.transr_relation_dim},
        optimizer="Adam", optimizer_kwargs={"lr": settings.transr_lr},
        training_kwargs={"num_epochs": settings.transr_epochs, "batch_size": settings.transr_batch_size,
                         "use_tqdm_batch": False},
        evaluation_kwargs={"batch_size": 256, "use_tqdm": False},
        random_seed=settings.seed, device=str(device),
    )
    metric = result.metric_results.get_metric
    embeddings = result.model.entity_representations[0](indices=None).detach().float().cpu()
    losses = [float(v) for v in result.losses]
    metrics = {
        "mrr": float(metric("both.realistic.inverse_harmonic_mean_rank")),
        "hits_at_10": float(metric("both.realistic.hits_at_10")),
        "evaluation": "filtered rank-based, both sides, realistic ranks",
        "triples": {"total": int(mapped.shape[0]), "train": train.num_triples, "train_used": train_used.num_triples,
                    "validation": valid.num_triples, "test": test.num_triples, "test_evaluated": test_used.num_triples},
        "relations": len(relation_names),
        "first_epoch_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
    }
    return embeddings, metrics


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
