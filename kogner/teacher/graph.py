"""Z': a PyG Graph Transformer pretrained on node-type classification (paper eq. 3-4)."""

from __future__ import annotations

import logging
from collections import Counter

import torch

from kogner.kg.graph import KnowledgeGraph

from .settings import TeacherSettings
from .text import resolve_device

logger = logging.getLogger(__name__)


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
