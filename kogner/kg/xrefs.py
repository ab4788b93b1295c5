"""Identifiers of KG nodes: which kind each cross-reference is, a canonical spelling, and a report per source.

Sources spell the same kind of identifier differently (``MSH:``/``MESH:``, ``MIM:``/``OMIM:``,
``Orphanet:``/``ORPHA:``, ``SNOMEDCT_US:``); :func:`canonical_xref` rewrites the prefix to one
spelling so ids from a corpus and from the KG meet. An identifier whose prefix is not in
:data:`XREF_KINDS` is kept as it is (never dropped) and counted as ``unrecognised``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

# canonical kind -> the prefixes (case-insensitive) that name it
XREF_KINDS: dict[str, tuple[str, ...]] = {
    "OMIM": ("OMIM", "MIM", "OMIMPS"), "ORPHA": ("ORPHA", "ORPHANET", "ORDO"), "MESH": ("MESH", "MSH"),
    "UMLS": ("UMLS", "UMLS_CUI"), "NCBIGene": ("NCBIGENE", "ENTREZ", "ENTREZGENE", "GENEID", "NCBI_GENE"),
    "HGNC": ("HGNC",), "NCBITaxon": ("NCBITAXON", "TAXON", "NCBI_TAXON", "NCBITAXONOMY"),
    "Cellosaurus": ("CVCL", "CELLOSAURUS"), "HP": ("HP", "HPO"), "MONDO": ("MONDO",), "CHEBI": ("CHEBI",),
    "CL": ("CL",), "UBERON": ("UBERON",), "EFO": ("EFO",), "DOID": ("DOID",), "DECIPHER": ("DECIPHER",),
    "SNOMEDCT": ("SNOMEDCT", "SNOMEDCT_US", "SNOMED_CT", "SCTID"), "NCIT": ("NCIT",), "MEDDRA": ("MEDDRA",),
    "ICD": ("ICD", "ICD9", "ICD9CM", "ICD10", "ICD10CM", "ICD11"), "GARD": ("GARD",), "MP": ("MP",),
    "DrugBank": ("DRUGBANK",), "PubChem": ("PUBCHEM", "PUBCHEM.COMPOUND"), "KEGG": ("KEGG",),
}
_KIND_OF_PREFIX = {prefix: kind for kind, prefixes in XREF_KINDS.items() for prefix in prefixes}
_PREFIXED = re.compile(r"^([A-Za-z][A-Za-z0-9_.]*?)[:_](.+)$")


def split_xref(xref: str) -> tuple[str | None, str]:
    """``(kind, local id)`` of an identifier (``"MSH:D003550"`` -> ``("MESH", "D003550")``); ``(None, xref)`` when
    its prefix is not a known kind."""
    text = xref.strip()
    if ":" in text:
        prefix, local = text.split(":", 1)
        kind = _KIND_OF_PREFIX.get(prefix.upper())
        if kind is None and prefix.upper().startswith("ICD"):
            kind = "ICD"
        return (kind, local) if kind and local else (None, text)
    match = _PREFIXED.match(text)  # CVCL_0030
    if match and _KIND_OF_PREFIX.get(match.group(1).upper()) == "Cellosaurus":
        return "Cellosaurus", match.group(2)
    return None, text


def xref_kind(xref: str) -> str | None:
    """The canonical kind of an identifier, or ``None`` when unrecognised."""
    return split_xref(xref)[0]


def canonical_xref(xref: str) -> str:
    """One spelling per kind (``"MSH:D003550"`` -> ``"MESH:D003550"``, ``"CVCL_0030"`` stays); unrecognised
    identifiers are returned stripped but otherwise unchanged."""
    kind, local = split_xref(xref)
    if kind is None:
        return xref.strip()
    return f"CVCL_{local}" if kind == "Cellosaurus" else f"{kind}:{local}"


def identifier_lookup(kg_ids: Sequence[str], xrefs: Sequence[Iterable[str]]) -> dict[str, list[str]]:
    """Canonical identifier -> the KG ids of the nodes that carry it (as their own id or as an xref)."""
    lookup: dict[str, list[str]] = defaultdict(list)
    for kg_id, others in zip(kg_ids, xrefs):
        for identifier in (kg_id, *others):
            key = canonical_xref(identifier)
            if kg_id not in lookup[key]:
                lookup[key].append(kg_id)
    return dict(lookup)


def xref_report(kg_ids: Sequence[str], xrefs: Sequence[Iterable[str]], examples: int = 5) -> dict[str, Any]:
    """Per source (the kind of the node's own id, or its prefix), how many nodes carry which kind of identifier.

    Returns ``{source: {"nodes", "nodes_with_xrefs", "kinds": {kind: nodes}, "unrecognised": xref strings,
    "unrecognised_examples": [...]}}``, sources and kinds sorted.
    """
    report: dict[str, dict[str, Any]] = {}
    for kg_id, others in zip(kg_ids, xrefs):
        source = xref_kind(kg_id) or kg_id.split(":", 1)[0]
        entry = report.setdefault(source, {"nodes": 0, "nodes_with_xrefs": 0, "kinds": Counter(), "unrecognised": 0,
                                           "unrecognised_examples": []})
        entry["nodes"] += 1
        others = list(others)
        entry["nodes_with_xrefs"] += bool(others)
        kinds = set()
        for xref in others:
            kind = xref_kind(xref)
            if kind is None:
                entry["unrecognised"] += 1
                if len(entry["unrecognised_examples"]) < examples:
                    entry["unrecognised_examples"].append(xref)
            else:
                kinds.add(kind)
        entry["kinds"].update(kinds)
    return {source: {**entry, "kinds": dict(sorted(entry["kinds"].items()))} for source, entry in sorted(report.items())}
