"""Real sentences labelled from the knowledge graph: names and synonyms of KG entities, matched type-aware.

`KGAnnotator` matches the names and synonyms of a lexicon (`kogner.kg.lexicon.load_lexicon`: every named entity of
biokg-lite's sources, not only the teacher's sample) against sentences already split into words
(`kogner.words.split_words`), and returns schema records: one ``ner`` span per match, labelled with the entity's
KG type (``disease``, ``cell type``, ...), and ``kge`` links to the matched entities' ids.

Matching rules:

* Keys: names and words are compared under `modeling_kogner.names_kogner.normalize_name` (case, punctuation,
  Greek letters, ``IL6`` = ``IL-6``, plurals). A match starts and ends on word boundaries; punctuation inside it
  (``HNF-6``) is free, except brackets, commas, semicolons, colons and full stops that the name itself lacks.
* Longest match, left to right: a dict from each name key to its entries and, per first word, the longest name
  length bound the lookups (a token-level trie flattened into a dict).
* `AnnotatorSettings`: the types to label, a minimum key length, a common-word filter (English word frequency
  by ``wordfreq``: names at least that common are not matched, unless they are acronyms written in their own case,
  ``MET``), exact case for acronyms (``HeLa``, ``NAT2``) and for short names (an all-lower-case name may still be
  capitalised, as at a sentence start; optionally an acronym may be title-cased, ``Atrx`` for ``ATRX``), and the
  policy for a name of several types: ``skip`` it (the words are consumed, nothing is labelled), label ``all`` its
  types, or keep the first of ``type_priority``.
* ``kge``: every id of the chosen type under the matched key (when there are at most ``max_ids``); with
  ``teacher_ids``, only ids the teacher knows: a match outside the teacher is a label without a distillation
  target.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from kogner.kg.lexicon import LexiconEntry
from kogner.words import word_list
from modeling_kogner.names_kogner import normalize_name

logger = logging.getLogger(__name__)

AMBIGUITY_POLICIES = ("skip", "all", "priority")
DEFAULT_PRIORITY = ("disease", "phenotype", "gene", "chemical", "cell type", "anatomy", "cell line", "organism")
GUARDED_PUNCTUATION = frozenset(",;:.()[]{}")
"""Punctuation that may sit inside a match only where the name itself has it."""
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_ACRONYM = re.compile(r"[A-Z].*[A-Z]|[a-z][A-Z]|[A-Za-z][0-9]|[0-9][A-Za-z]")


@dataclass(frozen=True)
class AnnotatorSettings:
    """What the annotator labels and how strictly (see the module docstring). The defaults are the settings that
    ``benchmarks/kg_annotator.py`` chose on the dev splits of CRAFT and BioRED (its JSON has the comparison)."""

    types: tuple[str, ...] | None = None
    """KG entity types to label; ``None``: every type of the lexicon."""
    min_chars: int = 3
    """Names whose key has fewer letters and digits are never matched."""
    common_zipf: float | None = 5.5
    """Names at least this frequent in English (``wordfreq`` Zipf scale, 7 = "the") are not matched; ``None``: off."""
    case_sensitive_chars: int = 3
    """Names of at most this many letters and digits must match in their own case (acronyms always do)."""
    title_case_acronyms: bool = True
    """An acronym may also be written with only its first letter upper-case (``Atrx`` for ``ATRX``: mouse gene
    nomenclature); such a match is still subject to the common-word filter."""
    ambiguous: str = "priority"
    """A key naming entities of several selected types: ``skip``, ``all`` or ``priority``."""
    type_priority: tuple[str, ...] = DEFAULT_PRIORITY
    max_ids: int = 5
    """A match whose key names more entities of its type than this gets no ``kge`` link (label only)."""
    max_words: int = 10
    """Names with more words are not indexed."""

    def __post_init__(self) -> None:
        if self.ambiguous not in AMBIGUITY_POLICIES:
            raise ValueError(f"ambiguous={self.ambiguous!r}: expected one of {AMBIGUITY_POLICIES}")
        for name in ("min_chars", "case_sensitive_chars", "max_ids", "max_words"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")

    def public(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


@dataclass
class AnnotationStats:
    """Counts of an annotation run."""

    sentences: int = 0
    matches: Counter = field(default_factory=Counter)
    skipped_ambiguous: int = 0
    links: int = 0
    links_outside_teacher: int = 0

    def public(self) -> dict[str, Any]:
        return {"sentences": self.sentences, "matches_per_type": dict(sorted(self.matches.items())),
                "skipped_ambiguous": self.skipped_ambiguous, "kge_links": self.links,
                "ids_outside_teacher": self.links_outside_teacher}


@lru_cache(maxsize=200_000)
def word_keys(word: str, previous: str = "") -> tuple[str, ...]:
    """The normalised words of one text word (``"IL6"`` -> ``("il", "6")``, ``"-"`` -> ``()``); ``previous`` only
    matters for ``I`` (``type I`` -> ``type 1``)."""
    if word.lower() == "i" and previous:
        return tuple(normalize_name(f"{previous} {word}").split()[-1:])
    return tuple(normalize_name(word).split())


@lru_cache(maxsize=200_000)
def english_zipf(key: str) -> float:
    """How common ``key`` is in English on the Zipf scale (``wordfreq``; 0 for unknown words)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(key, "en")


def _surface(text: str) -> str:
    return _NOT_ALNUM.sub("", text)


NAME_COLUMNS = ("key", "kg_id", "type", "surface", "acronym", "punctuation")
LEXICON_LIST_JOIN = "\x1f"
"""How `kogner.kg.lexicon.load_lexicon_table` joins the synonyms and name keys of one entity."""


def _name_row(name: str, key: str, kg_id: str, entity_type: str, max_words: int) -> tuple | None:
    """The `NAME_COLUMNS` of one name with its key; ``None`` for a key without a letter or with too many words."""
    if not key or key.count(" ") >= max_words or not any(c.isalpha() for c in key):
        return None
    surface = _surface(name)
    return (key, kg_id, entity_type, surface, bool(_ACRONYM.search(surface)),
            "".join(sorted(set(name) & GUARDED_PUNCTUATION)))


def _table(rows: Iterable[tuple | None]) -> pd.DataFrame:
    kept = [row for row in rows if row is not None]
    return pd.DataFrame(kept, columns=list(NAME_COLUMNS)).drop_duplicates(["key", "kg_id", "surface"])


def name_rows(entries: Iterable[LexiconEntry], max_words: int = 10) -> pd.DataFrame:
    """One row per distinct (entity, name or synonym): its key (`normalize_name`), kg_id, type, surface (letters and
    digits, case kept), whether it is an acronym, and the guarded punctuation it holds. Names without a letter, or
    with more than ``max_words`` words, are left out."""
    return _table(_name_row(name, normalize_name(name), entry.kg_id, entry.entity_type, max_words)
                  for entry in entries for name in (entry.name, *entry.synonyms))


def name_table(types: Sequence[str] | None = None, cache_dir: str | Path | None = None, max_words: int = 10,
               progress: bool = True) -> pd.DataFrame:
    """`name_rows` of the whole biokg-lite lexicon (`kogner.kg.lexicon.load_lexicon_table`, optionally only some
    ``types``), from the name keys the lexicon caches (nothing is normalised again)."""
    from kogner.kg.lexicon import load_lexicon_table

    lexicon = load_lexicon_table(types, cache_dir=cache_dir)
    columns = [lexicon[column].tolist() for column in ("kg_id", "type", "name", "synonyms", "name_keys")]

    def rows() -> Iterator[tuple | None]:
        for kg_id, entity_type, name, synonyms, keys in tqdm(zip(*columns), total=len(lexicon), unit="entity",
                                                             desc="reading names", disable=not progress,
                                                             mininterval=5):
            names = [name, *(synonyms.split(LEXICON_LIST_JOIN) if synonyms else [])]
            for one, key in zip(names, keys.split(LEXICON_LIST_JOIN)):
                yield _name_row(one, key, kg_id, entity_type, max_words)

    return _table(rows())


class KGAnnotator:
    """A longest-match annotator over lexicon names; build once, then `annotate` sentences (lists of words).

    ``names``: lexicon entries, or a `name_rows` / `name_table` table (faster: the names are normalised already).
    ``teacher_ids``: the teacher's KG ids (its ``entities.tsv``); ``None`` keeps every id as a ``kge`` link.
    """

    def __init__(self, names: Iterable[LexiconEntry] | pd.DataFrame, settings: AnnotatorSettings | None = None,
                 teacher_ids: Collection[str] | None = None, progress: bool = False) -> None:
        self.settings = settings or AnnotatorSettings()
        self.teacher_ids = set(teacher_ids) if teacher_ids is not None else None
        self.wanted = set(self.settings.types) if self.settings.types is not None else None
        table = names if isinstance(names, pd.DataFrame) else name_rows(names, self.settings.max_words)
        if self.wanted is not None:
            table = table[table["type"].isin(list(self.wanted))]
        self.index: dict[str, list[tuple[str, str, str, bool, frozenset[str]]]] = {}
        self.longest: dict[str, int] = {}  # first word of a key -> most words of a key starting with it
        punctuation_sets: dict[str, frozenset[str]] = {}
        columns = [table[column].tolist() for column in NAME_COLUMNS]
        for key, kg_id, entity_type, surface, acronym, punctuation in tqdm(
                zip(*columns), total=len(table), desc="indexing names", unit="name", disable=not progress,
                mininterval=5):
            guarded = punctuation_sets.setdefault(punctuation, frozenset(punctuation))
            self.index.setdefault(key, []).append((kg_id, entity_type, surface, acronym, guarded))
            first, _, rest = key.partition(" ")
            words = rest.count(" ") + 2 if rest else 1
            if words > self.longest.get(first, 0):
                self.longest[first] = words

    def with_settings(self, settings: AnnotatorSettings) -> KGAnnotator:
        """An annotator with other settings over the same index (cheap: nothing is re-indexed). Types outside this
        annotator's own ``types`` stay unmatched, since they were never indexed."""
        other = object.__new__(KGAnnotator)
        other.__dict__.update(self.__dict__)
        other.settings = settings
        other.wanted = set(settings.types) if settings.types is not None else None
        return other

    # ------------------------------------------------------------------------------------------------- matching
    def _accepts(self, item: tuple[str, str, str, bool, frozenset[str]], key: str, text_surface: str,
                 inner_punctuation: set[str]) -> bool:
        settings = self.settings
        _, entity_type, surface, acronym, punctuation = item
        if self.wanted is not None and entity_type not in self.wanted:
            return False
        if len(surface) < settings.min_chars or not inner_punctuation <= punctuation:
            return False
        exact_case = acronym or len(surface) <= settings.case_sensitive_chars
        if exact_case and text_surface != surface and not (
                surface.islower() and text_surface == surface[:1].upper() + surface[1:]) and not (
                settings.title_case_acronyms and acronym and text_surface[:1].isupper()
                and text_surface[1:] == text_surface[1:].lower() and text_surface.upper() == surface):
            return False
        own_case_acronym = acronym and text_surface == surface
        return settings.common_zipf is None or own_case_acronym or english_zipf(key) < settings.common_zipf

    def _choose(self, items: list[tuple[str, str, str, bool, frozenset[str]]]) -> list[str]:
        """The types to label a match with (empty: an ambiguous key under ``skip``)."""
        types = list(dict.fromkeys(item[1] for item in items))
        if len(types) == 1 or self.settings.ambiguous == "all":
            return types
        if self.settings.ambiguous == "skip":
            return []
        ranked = sorted(types, key=lambda t: (self.settings.type_priority + (t,)).index(t))
        return ranked[:1]

    def annotate(self, tokens: Sequence[str], stats: AnnotationStats | None = None) -> dict[str, Any]:
        """The schema record of one sentence (its words): ``ner`` spans of matched names, ``kge`` links."""
        stats = stats if stats is not None else AnnotationStats()
        stats.sentences += 1
        keys: list[str] = []
        owner: list[int] = []  # normalised word -> its text word
        for position, token in enumerate(tokens):
            previous = tokens[position - 1] if position and token.lower() == "i" else ""
            for key in word_keys(token, previous):
                keys.append(key)
                owner.append(position)
        ner: list[dict[str, Any]] = []
        kge: list[dict[str, Any]] = []
        start = 0
        while start < len(keys):
            if start and owner[start] == owner[start - 1]:  # not the first key of its text word
                start += 1
                continue
            consumed = self._match_at(tokens, keys, owner, start, ner, kge, stats)
            start += consumed or 1
        return {"tokens": list(tokens), "ner": ner, "kge": kge}

    def _match_at(self, tokens: Sequence[str], keys: list[str], owner: list[int], start: int,
                  ner: list[dict[str, Any]], kge: list[dict[str, Any]], stats: AnnotationStats) -> int:
        """Label the longest accepted name starting at normalised word ``start``; the words consumed (0: none)."""
        most = min(self.longest.get(keys[start], 0), len(keys) - start)
        for length in range(most, 0, -1):
            end = start + length  # exclusive, in normalised words
            if end < len(keys) and owner[end] == owner[end - 1]:  # would end inside a text word
                continue
            key = " ".join(keys[start:end])
            items = self.index.get(key)
            if not items:
                continue
            first, last = owner[start], owner[end - 1]
            text_surface = _surface("".join(tokens[first:last + 1]))
            inner = {token for token in tokens[first:last + 1] if token in GUARDED_PUNCTUATION}
            accepted = [item for item in items if self._accepts(item, key, text_surface, inner)]
            if not accepted:
                continue
            types = self._choose(accepted)
            if not types:
                stats.skipped_ambiguous += 1
                return length
            for entity_type in types:
                ner.append({"start": first, "end": last, "label": entity_type})
                stats.matches[entity_type] += 1
                ids = sorted({item[0] for item in accepted if item[1] == entity_type})
                if len(ids) > self.settings.max_ids:
                    continue
                for kg_id in ids:
                    if self.teacher_ids is not None and kg_id not in self.teacher_ids:
                        stats.links_outside_teacher += 1
                        continue
                    kge.append({"start": first, "end": last, "kg_id": kg_id})
                    stats.links += 1
            return length
        return 0

    def annotate_all(self, sentences: Iterable[Sequence[str]], stats: AnnotationStats | None = None,
                     progress: bool = False) -> list[dict[str, Any]]:
        """Schema records of many sentences, in order (a progress bar when asked)."""
        stats = stats if stats is not None else AnnotationStats()
        return [self.annotate(tokens, stats) for tokens in tqdm(
            sentences, desc="annotating", unit="sentence", disable=not progress, mininterval=2)]


# ------------------------------------------------------------------------------------------------------ inputs/outputs
def text_file_sentences(path: str | Path, progress: bool = False) -> list[list[str]]:
    """The sentences (as words) of a plain-text file: each non-blank line split by pysbd, then into words."""
    from modeling_kogner.text_kogner import sentence_spans

    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path}: no text (the file is empty or blank)")
    sentences = []
    for line in tqdm(lines, desc="splitting sentences", unit="line", disable=not progress, mininterval=2):
        sentences.extend(words for start, end in sentence_spans(line) if (words := word_list(line[start:end])))
    return sentences


def source_sentences(source: str, splits: Sequence[str] = ("train", "validation"), data_dir: str | None = None,
                     overlap_with: Sequence[str] | None = None, progress: bool = False) -> dict[str, list[list[str]]]:
    """Split -> sentences (words) of a source: a plain-text file (all in ``train``), or any training source of
    `kogner.corpora.mix` (``NAME`` gives each of ``splits`` present, ``NAME:SPLIT`` that one split). A PubTator
    source is filtered by ``overlap_with`` as for training (`kogner.corpora.mix.load_pubtator_source`)."""
    from kogner.corpora.gliner_format import is_gliner_file
    from kogner.corpora.mix import load_source, split_source
    from kogner.corpora.pubtator import is_pubtator_file

    path = Path(source)
    if path.is_file() and not (is_gliner_file(path) or is_pubtator_file(path)):
        return {"train": text_file_sentences(path, progress)}
    name, separator, _ = source.rpartition(":")
    wanted = [split_source(source, "train")[1]] if separator and name else list(splits)
    found: dict[str, list[list[str]]] = {}
    for split in wanted:
        try:
            dataset, _ = load_source(f"{split_source(source, split)[0]}:{split}", split, data_dir, overlap_with)
        except (FileNotFoundError, ValueError) as error:
            if len(wanted) == 1:
                raise
            logger.warning("%s: no %s split (%s), skipped", source, split, error)
            continue
        found[split] = [list(tokens) for tokens in dataset["tokens"]]
    if not found:
        raise ValueError(f"{source}: none of the splits {wanted} could be read")
    return found


def annotation_card(source: str, settings: AnnotatorSettings, summary: dict[str, Any]) -> str:
    """The README.md of an annotated dataset: what was labelled, from what, how."""
    return "\n".join([
        "# KG-annotated text", "",
        f"Sentences of `{source}` labelled from the biokg-lite lexicon by `kogner.datagen.kg_annotator` (longest "
        "match of KG names and synonyms; labels are KG entity types, `kge` links the matched entities' ids). "
        "The annotation is partial: names the lexicon lacks are not labelled.", "",
        "## Settings", "", "```json", json.dumps(settings.public(), indent=2), "```", "",
        "## Counts", "", "```json", json.dumps(summary, indent=2), "```", ""])


def annotate_to_folder(annotator: KGAnnotator, source: str, out: str | Path, splits: Sequence[str] = ("train",
                       "validation"), data_dir: str | None = None, overlap_with: Sequence[str] | None = None,
                       progress: bool = False) -> dict[str, Any]:
    """Annotate a source (see `source_sentences`) and save it as a `DatasetDict` in ``out`` (``load_from_disk``,
    a training source like ``runs/data``) with ``annotation.json`` and ``README.md``; ``dataset_dict.json`` is
    published last, so an interrupted save is never taken for a dataset. Returns the counts."""
    from datasets import Dataset, DatasetDict

    from kogner.atomic import partial_path, publish_folder
    from kogner.schema import NER_FEATURES, validate_dataset

    stats = AnnotationStats()
    parts = {split: Dataset.from_list(annotator.annotate_all(sentences, stats, progress), features=NER_FEATURES)
             for split, sentences in source_sentences(source, splits, data_dir, overlap_with, progress).items()}
    dataset = DatasetDict(parts)
    validate_dataset(dataset)
    summary = {"source": source, "splits": {split: len(part) for split, part in parts.items()}, **stats.public()}
    out = Path(out)
    staging = partial_path(out / "dataset")
    shutil.rmtree(staging, ignore_errors=True)
    dataset.save_to_disk(str(staging))
    (staging / "annotation.json").write_text(json.dumps({"settings": annotator.settings.public(), **summary},
                                                        indent=2), encoding="utf-8")
    (staging / "README.md").write_text(annotation_card(source, annotator.settings, summary), encoding="utf-8")
    publish_folder(staging, out, marker="dataset_dict.json")
    return summary
