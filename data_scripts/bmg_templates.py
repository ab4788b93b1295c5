"""The offline ``template`` generator: abstract-like sentences about a KG relation row, deterministic by seed.

Variety is the point (a student must learn entities, not templates): many patterns per entity-type
pair, generic patterns for any pair, optional opening and closing clauses, random statistics, and
entity surfaces that are sometimes a synonym or lowercased. Each row gets its own random stream
seeded by ``(seed, row_id)``, so output does not depend on order, batching or resumption.

About a quarter of the rows (``COMPOSITE_SHARE``, chosen by seed and row id) get a *composite*
sentence instead: a pattern with typed slots (`COMPOSITE_PATTERNS`) that holds the row's two entities
and one or two *partner* entities drawn (seeded) from the other sampled rows, each annotated with its
own type and KG id. These put entities into the contexts real abstracts use and relation rows alone
never produce, above all a chemical glued to a disease or phenotype by a hyphenated modifier
("cisplatin-induced nephrotoxicity", "X-resistant Y cells", "BRCA1 carriers", "anti-X"). The partner
pool is fixed when the generator is built (``partners``), so a row's sentence does not depend on
which rows a call to ``generate`` receives.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any

from data_scripts.bmg_generation import GeneratorAnswer, RelationRow, find_first_occurrence

Entity = tuple[str, str, str, tuple[str, ...]]
"""(kg_id, name, type, synonyms), as `RelationRow.entities` gives them."""
from data_scripts.words import split_words, word_list

# Entity type (natural language, any KG) -> pattern family.
_FAMILY_OF_TYPE = {
    "gene": "gene", "protein": "gene", "transcript": "gene", "promoter": "gene", "dna": "gene", "rna": "gene",
    "chemical": "chemical", "drug": "chemical", "metabolite": "chemical", "exposure": "chemical",
    "disease": "disease", "phenotype": "phenotype", "cell type": "cell type", "cell line": "cell line",
    "anatomy": "anatomy", "tissue": "anatomy", "organism": "organism", "microbiota": "organism",
    "pathway": "pathway",
}
# Families named by common nouns: a sentence-initial surface of these gets a capital first letter.
_COMMON_NOUN_FAMILIES = {"disease", "phenotype", "anatomy", "cell type", "chemical", "pathway", "organism", "entity"}

# {A}, {B}: the two entities in the order of the key. Statistics: {N} {P} {FOLD} {PCT} {OR} {CI}.
PAIR_PATTERNS: dict[tuple[str, str], list[str]] = {
    ("gene", "disease"): [
        "Mutations in {A} have been implicated in the pathogenesis of {B}.",
        "We identified a novel heterozygous variant in {A} in a family segregating {B}.",
        "Loss-of-function variants of {A} were enriched among patients with {B} (P = {P}).",
        "{B} is frequently associated with altered expression of {A}.",
        "Expression of {A} was {FOLD}-fold higher in tissue from patients with {B} than in controls.",
        "Genome-wide association analysis linked the {A} locus to susceptibility to {B} (OR = {OR}, 95% CI {CI}).",
        "Whole-exome sequencing of {N} probands with {B} revealed recurrent alterations in {A}.",
        "These data suggest that {A} contributes to the development of {B}.",
        "Knockdown of {A} attenuated disease progression in a murine model of {B}.",
        "Biallelic {A} variants were found in {PCT}% of individuals diagnosed with {B}.",
        "The role of {A} in {B} remains poorly understood.",
        "Patients with {B} carrying pathogenic {A} alleles showed an earlier age of onset.",
    ],
    ("gene", "phenotype"): [
        "Patients carrying {A} variants frequently present with {B}.",
        "{B} was observed in {PCT}% of individuals with pathogenic variants in {A}.",
        "Disruption of {A} results in {B} in both humans and mice.",
        "The clinical spectrum of {A}-related disorders includes {B}.",
        "Heterozygous deletions encompassing {A} were associated with {B}.",
        "We describe {N} patients with de novo {A} mutations, all of whom exhibited {B}.",
        "{B} has been reported as a recurrent feature in carriers of {A} variants.",
        "Variants in {A} should be considered in patients presenting with {B}.",
        "Functional studies indicate that reduced {A} activity underlies {B}.",
    ],
    ("disease", "phenotype"): [
        "{B} is a common clinical feature of {A}.",
        "Patients with {A} typically present with {B}.",
        "{B} was documented in {N} of the patients diagnosed with {A}.",
        "The diagnosis of {A} should be considered in children with {B}.",
        "In {A}, {B} usually develops during the first decade of life.",
        "{A} is characterized by {B} and progressive functional decline.",
        "Among individuals with {A}, {PCT}% reported {B} at presentation.",
        "{B} may be the first manifestation of {A}.",
        "We report a case of {A} presenting with severe {B}.",
    ],
    ("chemical", "gene"): [
        "{A} inhibited {B} activity in a dose-dependent manner.",
        "Treatment with {A} reduced {B} expression by {PCT}% (P = {P}).",
        "{B} is a direct molecular target of {A}.",
        "The binding of {A} to {B} was confirmed by surface plasmon resonance.",
        "Cells exposed to {A} showed a {FOLD}-fold induction of {B} mRNA.",
        "{A} is metabolized primarily by {B} in the liver.",
        "Pharmacological blockade of {B} with {A} abolished the response.",
        "Polymorphisms in {B} modulate the clinical response to {A}.",
        "We examined whether {A} modulates {B} signaling in vitro.",
    ],
    ("chemical", "disease"): [
        "{A} is widely used in the treatment of {B}.",
        "Long-term exposure to {A} was associated with an increased risk of {B} (HR = {OR}).",
        "In a randomized trial of {N} patients with {B}, {A} improved overall survival.",
        "{A} showed therapeutic efficacy in a preclinical model of {B}.",
        "The efficacy of {A} in patients with {B} remains controversial.",
        "Serum levels of {A} were elevated in patients with {B} compared with healthy controls.",
        "{B} has been reported as a rare adverse effect of {A}.",
        "We evaluated the safety of {A} in adults with {B}.",
        "Administration of {A} attenuated the severity of experimental {B}.",
    ],
    ("chemical", "phenotype"): [
        "{A} administration induced {B} in {PCT}% of treated animals.",
        "{B} was the most frequent adverse event reported with {A}.",
        "Patients receiving {A} developed {B} within {N} days of treatment.",
        "{A} alleviated {B} in a placebo-controlled study.",
        "Exposure to {A} has been linked to {B}.",
        "The onset of {B} after {A} intake was dose dependent.",
    ],
    ("chemical", "chemical"): [
        "{A} and {B} were co-administered without significant interaction.",
        "{A} is structurally related to {B}.",
        "The combination of {A} with {B} produced a synergistic effect.",
        "{A} is converted to {B} by hepatic enzymes.",
    ],
    ("gene", "gene"): [
        "{A} physically interacts with {B} in vivo.",
        "{A} regulates the transcription of {B}.",
        "Co-immunoprecipitation experiments confirmed that {A} binds {B}.",
        "Expression of {A} was positively correlated with that of {B} (r = 0.{N}).",
        "Silencing of {A} reduced {B} protein levels by {PCT}%.",
        "{A} and {B} act in the same signaling pathway.",
        "Phosphorylation of {B} by {A} is required for its activation.",
    ],
    ("disease", "disease"): [
        "{A} is frequently comorbid with {B}.",
        "Patients with {A} have an increased risk of developing {B}.",
        "{A} shares several clinical features with {B}.",
        "{A} must be distinguished from {B} in the differential diagnosis.",
        "The coexistence of {A} and {B} has been reported in {N} patients.",
    ],
    ("phenotype", "phenotype"): [
        "{A} often co-occurs with {B}.",
        "{A} was accompanied by {B} in most affected individuals.",
        "The presence of {A} and {B} suggests a syndromic cause.",
        "{B} frequently follows {A} in affected children.",
    ],
    ("cell type", "anatomy"): [
        "{A} populations are abundant in the {B}.",
        "Single-cell RNA sequencing of the {B} identified a distinct {A} cluster.",
        "In the {B}, {A} markers were detected in {PCT}% of sampled cells.",
        "The density of {A} in the {B} decreased with age.",
        "We characterized the transcriptional profile of {A} isolated from the {B}.",
        "Loss of {A} from the {B} was observed in the early stages of disease.",
    ],
    ("cell type", "disease"): [
        "Dysfunction of {A} contributes to the pathogenesis of {B}.",
        "The number of circulating {A} was reduced in patients with {B}.",
        "{A} infiltration correlated with the severity of {B}.",
        "Targeting {A} may represent a therapeutic strategy for {B}.",
    ],
    ("cell type", "gene"): [
        "{B} is highly expressed in {A}.",
        "{A} were identified by the expression of {B}.",
        "Deletion of {B} in {A} impaired their differentiation.",
        "Flow cytometry showed that {A} express high levels of {B}.",
    ],
    ("cell line", "disease"): [
        "The {A} cell line was derived from a patient with {B}.",
        "{A} cells are commonly used as an in vitro model of {B}.",
        "We treated {A} cells, a model of {B}, with increasing drug concentrations.",
        "Proliferation of {A}, a {B} cell line, was inhibited by {PCT}%.",
        "Xenografts of {A} cells recapitulated key features of {B}.",
    ],
    ("cell line", "cell type"): [
        "The {A} cell line displays characteristics of {B}.",
        "{A} cells were originally established from {B}.",
        "Like primary {B}, {A} cells responded to stimulation within {N} minutes.",
        "{A} is an immortalized line of {B} origin.",
    ],
    ("cell line", "organism"): [
        "The {A} cell line was established from {B} tissue.",
        "{A} cells of {B} origin were cultured in DMEM supplemented with 10% FBS.",
        "We used the {B}-derived cell line {A} for all transfection experiments.",
        "{A}, a cell line derived from {B}, was obtained from a public repository.",
    ],
    ("cell line", "anatomy"): [
        "The {A} cell line originates from the {B}.",
        "{A} cells, derived from the {B}, were maintained at 37 C.",
        "We compared {A} with primary cells isolated from the {B}.",
    ],
    ("anatomy", "anatomy"): [
        "The {A} is part of the {B}.",
        "Lesions of the {A} frequently extend into the {B}.",
        "The {A} lies adjacent to the {B}.",
        "Imaging revealed abnormalities in both the {A} and the {B}.",
        "Blood supply to the {A} derives from vessels of the {B}.",
    ],
    ("anatomy", "disease"): [
        "{B} primarily affects the {A}.",
        "Involvement of the {A} is a hallmark of {B}.",
        "Biopsies of the {A} from patients with {B} showed marked inflammation.",
    ],
    ("anatomy", "phenotype"): [
        "{B} results from abnormal development of the {A}.",
        "Examination of the {A} revealed {B}.",
        "{B} localized to the {A} was noted in {N} cases.",
    ],
    ("organism", "organism"): [
        "{A} and {B} share a common ancestor.",
        "Comparative genomics of {A} and {B} revealed conserved gene clusters.",
        "{A} is closely related to {B}.",
    ],
    ("organism", "disease"): [
        "{A} infection is a major cause of {B}.",
        "{B} was experimentally induced in {A}.",
        "{A} models of {B} have provided key mechanistic insight.",
    ],
    ("organism", "gene"): [
        "The {B} orthologue of {A} was cloned and characterized.",
        "In {A}, {B} is required for normal development.",
        "Deletion of {B} in {A} caused a severe growth defect.",
    ],
    ("cell type", "cell type"): [
        "{A} differentiate from {B} under the control of lineage-specific transcription factors.",
        "Both {A} and {B} were quantified by flow cytometry.",
        "{A} share several surface markers with {B}.",
    ],
}

HIERARCHY_PATTERNS = [
    "{A} is a subtype of {B}.",
    "{A}, a form of {B}, was first described in {YEAR}.",
    "{A} is classified as a type of {B}.",
    "As a subclass of {B}, {A} shares many of its defining features.",
    "Within the broader category of {B}, {A} represents a distinct entity.",
    "{A} belongs to the group of {B}.",
    "We considered {A} as a specific form of {B} in all analyses.",
]
PART_OF_PATTERNS = [
    "{A} is part of {B}.",
    "{A} constitutes a component of {B}.",
    "Within {B}, {A} has a specialized function.",
    "{A} is located within {B}.",
]
GENERIC_PATTERNS = [
    "We investigated the association between {A} and {B} in a cohort of {N} subjects.",
    "The relationship between {A} and {B} was examined using multivariate analysis.",
    "A significant association was found between {A} and {B} (P = {P}).",
    "{A} was linked to {B} in an integrated analysis of public databases.",
    "Previous studies have connected {A} with {B}.",
    "Our findings reveal a previously unrecognized link between {A} and {B}.",
    "Both {A} and {B} were identified in the network analysis.",
    "Evidence from {N} studies supports a connection between {B} and {A}.",
    "Little is known about how {A} relates to {B}.",
    "Text mining of {N} abstracts highlighted {A} together with {B}.",
    "Here we show that {A} is associated with {B}.",
    "To date, no study has systematically assessed {A} in relation to {B}.",
    "{A} and {B} were jointly considered in the curated knowledge base.",
    "Further work is needed to clarify whether {A} influences {B}.",
]
OPENERS = [
    "In this study,", "Here,", "Notably,", "Interestingly,", "Moreover,", "In addition,", "Furthermore,",
    "Consistent with previous reports,", "In contrast,", "Taken together,", "In a retrospective cohort,",
    "Using RNA sequencing,", "In a multicenter study,", "In {YEAR},", "Unexpectedly,", "As shown in Figure {FIG},",
    "In a cohort of {N} patients,", "Using CRISPR-Cas9 screening,", "Based on immunohistochemistry,",
    "After adjustment for age and sex,", "In line with our hypothesis,", "At the molecular level,",
    "In the validation cohort,", "Mechanistically,", "Clinically,", "By contrast,",
]
CLOSERS = [
    ", suggesting a shared mechanism.", ", although the underlying mechanism remains unclear.",
    " (Table {FIG}).", " (Figure {FIG}).", " in the discovery cohort.", ", which was confirmed by western blot.",
    " after {N} weeks of follow-up.", ", independent of age and sex.", " in two independent cohorts.",
    ", as previously reported.", " (n = {N}).", ", supporting a causal role.", " in vitro and in vivo.",
    ", but not in controls.", ", consistent with earlier findings.", " (P < 0.05).",
    ", highlighting a potential therapeutic target.", " in a subset of cases.",
]
# Composite patterns: typed slots, each filled by a distinct entity of its family. The row's head and tail
# take one slot of their family each (both slots of a family when they share it); partners fill the rest.
# Word splitting cuts "{CHEM}-induced" into chemical words, "-", "induced": the chemical span ends at the hyphen.
SLOT_FAMILY = {
    "CHEM": "chemical", "CHEMB": "chemical", "DIS": "disease", "DISB": "disease", "PHEN": "phenotype",
    "PHENB": "phenotype", "GENE": "gene", "GENEB": "gene", "CELL": "cell type", "CELLB": "cell type",
    "LINE": "cell line", "LINEB": "cell line", "ANAT": "anatomy", "ANATB": "anatomy", "ORG": "organism",
    "ORGB": "organism",
}
COMPOSITE_PATTERNS = [
    # chemical + disease/phenotype (+ gene)
    "{CHEM}-induced {PHEN} was observed in {GENE} carriers.",
    "{CHEM}-induced {DIS} was more frequent in {GENE} carriers (OR = {OR}).",
    "{CHEM}-associated {PHEN} developed in {PCT}% of patients with {DIS}.",
    "{CHEM}-related {DIS} was accompanied by {PHEN} in most cases.",
    "We studied {CHEM}-induced {DIS} in {GENE}-deficient mice.",
    "{CHEM}-mediated suppression of {GENE} alleviated {PHEN} in a mouse model of {DIS}.",
    "{DIS} patients treated with {CHEM} frequently developed {PHEN}.",
    "{CHEM}-induced {PHEN} and {PHENB} were dose limiting in {DIS} patients.",
    "Anti-{GENE} therapy combined with {CHEM} improved outcomes in {DIS} patients.",
    "{CHEM}-induced {PHEN} in {ORG} mimics {DIS}.",
    "{CHEM}-induced {PHEN} resembles the {PHENB} seen in {GENE} carriers.",
    "{GENE} carriers with {DIS} showed {CHEM}-induced {PHEN} more often than non-carriers.",
    "{GENE}-mutant {DIS} was sensitive to {CHEM} (P = {P}).",
    "In {GENE}-positive {DIS}, resistance to {CHEM} emerged after {N} weeks.",
    "{GENE} carriers exposed to {CHEM} presented with {PHEN}.",
    "{CHEM}-mediated {GENE} inhibition reversed {PHEN} in models of {DIS}.",
    "{CHEM}-mediated activation of {GENE} in {CELL} protected against {DIS}.",
    "{CHEM}-induced {PHEN} was associated with {GENE} polymorphisms in {DIS} patients.",
    "{CHEM}-related {PHEN} was reported in {N} {DIS} patients.",
    "{DIS} patients with {CHEM}-induced {PHEN} required dose reduction.",
    "Anti-{GENE} antibodies reduced {CHEM}-induced {PHEN} in {ORG}.",
    "{PHEN} and {PHENB} in {DIS} patients were aggravated by {CHEM}.",
    "{CHEM}-induced {PHEN}, like {PHENB}, was reversible after drug withdrawal.",
    "{DIS}, a subtype of {DISB}, responded to {CHEM}-based therapy.",
    "{CHEM}-associated {DIS} is frequently misdiagnosed as {DISB}.",
    "{DIS} and {DISB} patients receiving {CHEM} had similar rates of adverse events.",
    "{CHEM}-induced {DIS} in {ORG} resembles human {DISB}.",
    "{GENE} and {GENEB} carriers differed in their risk of {CHEM}-induced {PHEN}.",
    # two chemicals
    "{CHEM}-induced {DIS} was attenuated by {CHEMB} pretreatment.",
    "{CHEM}-related {PHEN} was less common with {CHEMB} (P = {P}).",
    "Pretreatment with {CHEM} prevented {CHEMB}-induced {DIS} in {ORG}.",
    "{CHEM} and {CHEMB} both caused {PHEN} in {ORG}.",
    "{CHEM}-induced {PHEN} and {CHEMB}-associated {PHENB} were recorded separately.",
    "{CHEM} and its analogue {CHEMB} inhibited {GENE} in {LINE} cells.",
    "{CHEMB}-treated {LINE} cells became cross-resistant to {CHEM}.",
    # cells and cell lines
    "{CHEM}-treated {CELL} showed reduced {GENE} expression.",
    "{CHEM}-resistant {LINE} cells overexpressed {GENE} ({FOLD}-fold).",
    "{GENE}-deficient {CELL} were hypersensitive to {CHEM}.",
    "{GENE}-positive {LINE} cells responded poorly to {CHEM}.",
    "{CHEM}-treated {CELL} and {CELLB} were compared by flow cytometry.",
    "{GENE}-deficient {CELL} failed to differentiate into {CELLB}.",
    "{CHEM}-sensitive {CELL} and {CELLB} were depleted in {DIS}.",
    "{CHEM}-treated {CELL} from {ORG} expressed {CELLB} markers.",
    "{GENE}-positive {CELL}, a subset of {CELLB}, expanded in {CHEM}-treated mice.",
    "{CHEM}-treated {CELL} isolated from the {ANAT} expressed {GENE}.",
    "{CHEM}-resistant {LINE} and {LINEB} cells were established by stepwise selection.",
    "{GENE}-positive {LINE} cells, unlike {LINEB} cells, were sensitive to {CHEM}.",
    "{GENE}-deficient {LINE} and {LINEB} cells were treated with {CHEM}.",
    "{CHEM}-treated {LINE} cells acquired features of {CELL}.",
    "{CHEM}-resistant {LINE} cells displayed {CELL}-like morphology.",
    "{CHEM}-resistant {LINE} cells, derived from the {ANAT}, expressed high levels of {GENE}.",
    "{CHEM}-treated {LINE} cells of {ORG} origin showed a {FOLD}-fold induction of {GENE}.",
    "{CHEM}-resistant {LINE} cells, a model of {DIS}, overexpressed {GENE}.",
    # anatomy and organisms
    "{CHEM}-induced damage to the {ANAT} and {ANATB} was reduced in {GENE}-knockout mice.",
    "{CHEM}-related lesions of the {ANAT} extended into the {ANATB}.",
    "{CHEM}-induced injury of the {ANAT} spared the adjacent {ANATB}.",
    "{CHEM} accumulated in the {ANAT} and {ANATB} of {ORG}.",
    "{CHEM}-associated {DIS} has been reported in {ORG} and {ORGB}.",
    "{CHEM}-exposed {ORG} and {ORGB} developed {PHEN}.",
    "{ORG} and {ORGB} differ in their sensitivity to {CHEM}.",
    "{GENE}-deficient {ORG} developed {CHEM}-induced {PHEN} within {N} days.",
    "{GENE}-deficient {CELL} lacked {GENEB} after {CHEM} treatment.",
]
COMPOSITE_SHARE = 0.25
"""Fraction of rows (chosen by seed and row id) written as composite sentences when a pattern fits."""
TEMPLATE_VERSION = 3
"""Bump whenever patterns or rendering change: resumed runs compare it and refuse to mix outputs."""
_PLACEHOLDER = re.compile(r"\{([A-Z]+)\}")
_MAX_ATTEMPTS = 8


def _family(entity_type: str) -> str:
    return _FAMILY_OF_TYPE.get(entity_type.casefold(), "entity")


def _statistic(name: str, rng: random.Random) -> str:
    if name == "N":
        return str(rng.choice([rng.randint(5, 60), rng.randint(60, 900), rng.randint(900, 12000)]))
    if name == "P":
        return rng.choice([f"0.0{rng.randint(1, 4)}", f"{rng.randint(1, 9)}e-{rng.randint(3, 9)}", "0.001", "0.003"])
    if name == "FOLD":
        return f"{rng.uniform(1.5, 12):.1f}"
    if name == "PCT":
        return str(rng.randint(8, 92))
    if name == "OR":
        return f"{rng.uniform(1.1, 4.8):.2f}"
    if name == "CI":
        low = rng.uniform(1.01, 1.6)
        return f"{low:.2f}-{low + rng.uniform(0.4, 3):.2f}"
    if name == "YEAR":
        return str(rng.randint(1965, 2023))
    if name == "FIG":
        return str(rng.randint(1, 6)) + rng.choice(["", "A", "B", "C"])
    raise KeyError(f"unknown template placeholder {{{name}}}")


def _lower_first_word(text: str) -> str:
    """'Mutations in' -> 'mutations in' after an opener; acronyms ('DNA', 'mRNA') stay."""
    match = re.match(r"([A-Z])([a-z][\w-]*)", text)
    return text[0].lower() + text[1:] if match else text


def _choose_surface(name: str, synonyms: Sequence[str], family: str, rng: random.Random) -> str:
    draw = rng.random()
    usable = [s for s in synonyms if word_list(s) and len(s) <= 80]
    if draw < 0.18 and usable:
        return rng.choice(usable)
    if draw < 0.33:
        return name.lower()
    return name


def _slot_families(pattern: str) -> list[str]:
    return [SLOT_FAMILY[key] for key in _PLACEHOLDER.findall(pattern) if key in SLOT_FAMILY]


def _fill(text: str, rng: random.Random) -> str:
    return _PLACEHOLDER.sub(lambda m: _statistic(m.group(1), rng), text)


class TemplateGenerator:
    """Offline generator: biomedical-abstract-like sentences from many patterns, deterministic by seed.

    ``partners`` are the rows whose entities composite sentences may add (normally every sampled row);
    without them, each call to `generate` draws partners from the rows it receives.
    """

    name = "template"

    def __init__(self, seed: int = 0, partners: Sequence[RelationRow] | None = None) -> None:
        self.seed = seed
        self._partners_by_family = self._index_partners(partners) if partners is not None else None

    @staticmethod
    def _index_partners(rows: Sequence[RelationRow]) -> dict[str, list[Entity]]:
        """Distinct entities of ``rows`` by pattern family, in first-seen order (deterministic)."""
        by_family: dict[str, list[Entity]] = {}
        seen: set[str] = set()
        for row in rows:
            for entity in row.entities():
                if entity[0] not in seen:
                    seen.add(entity[0])
                    by_family.setdefault(_family(entity[2]), []).append(entity)
        return by_family

    def settings(self) -> dict[str, Any]:
        total = sum(len(p) for p in PAIR_PATTERNS.values()) + len(HIERARCHY_PATTERNS) + len(PART_OF_PATTERNS)
        return {
            "generator": self.name,
            "version": TEMPLATE_VERSION,
            "seed": self.seed,
            "patterns": total + len(GENERIC_PATTERNS),
            "composite_patterns": len(COMPOSITE_PATTERNS),
            "composite_share": COMPOSITE_SHARE,
            "openers": len(OPENERS),
            "closers": len(CLOSERS),
        }

    def _patterns_for(self, row: RelationRow) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
        """(specific, generic) patterns as (pattern, swapped): swapped means {A} is the tail."""
        head_family, tail_family = _family(row.head_type), _family(row.tail_type)
        relation = row.relation.casefold()
        specific: list[tuple[str, bool]] = []
        if re.search(r"is_a|is a|subclass|subtype|parent|child", relation):
            specific = [(p, False) for p in HIERARCHY_PATTERNS]
        elif "part_of" in relation or "part of" in relation:
            specific = [(p, False) for p in PART_OF_PATTERNS]
        specific += [(p, False) for p in PAIR_PATTERNS.get((head_family, tail_family), [])]
        if head_family != tail_family:
            specific += [(p, True) for p in PAIR_PATTERNS.get((tail_family, head_family), [])]
        generic = [(p, False) for p in GENERIC_PATTERNS] + [(p, True) for p in GENERIC_PATTERNS]
        return specific, generic

    def _composite_patterns_for(self, row: RelationRow, partners: dict[str, list[Entity]]) -> list[str]:
        """Composite patterns with a slot for head and tail and enough partners for every other slot."""
        own = [_family(row.head_type), _family(row.tail_type)]
        fitting = []
        for pattern in COMPOSITE_PATTERNS:
            rest = _slot_families(pattern)
            if not all(family in rest for family in own) or (own[0] == own[1] and rest.count(own[0]) < 2):
                continue
            for family in own:
                rest.remove(family)
            # the row's own entities (normally in the pool) are never their own partners
            if all(len(partners.get(f, [])) - own.count(f) >= rest.count(f) for f in set(rest)):
                fitting.append(pattern)
        return fitting

    def _assign_slots(
        self, row: RelationRow, pattern: str, partners: dict[str, list[Entity]], rng: random.Random
    ) -> tuple[dict[str, str], list[Entity]]:
        """Slot -> role ('head', 'tail', 'extra0', ...) and the partner entities drawn for the extra roles."""
        slots = [key for key in _PLACEHOLDER.findall(pattern) if key in SLOT_FAMILY]
        free = list(slots)
        rng.shuffle(free)  # which of two same-family slots the row's entities take
        roles: dict[str, str] = {}
        for role, entity_type in (("head", row.head_type), ("tail", row.tail_type)):
            slot = next(s for s in free if SLOT_FAMILY[s] == _family(entity_type))
            free.remove(slot)
            roles[slot] = role
        taken_ids, taken_names = {row.head_id, row.tail_id}, {row.head_name.casefold(), row.tail_name.casefold()}
        extras: list[Entity] = []
        for slot in sorted(free, key=slots.index):
            candidates = [
                e for e in partners[SLOT_FAMILY[slot]] if e[0] not in taken_ids and e[1].casefold() not in taken_names
            ]
            entity = rng.choice(candidates)
            taken_ids.add(entity[0])
            taken_names.add(entity[1].casefold())
            roles[slot] = f"extra{len(extras)}"
            extras.append(entity)
        return roles, extras

    def render(
        self, row: RelationRow, rng: random.Random, partners: dict[str, list[Entity]] | None = None
    ) -> tuple[str, dict[str, tuple[int, str]], list[Entity]]:
        """One sentence, per entity role ('head', 'tail', 'extra0', ...) the (char start, surface) where it
        was written, and the partner entities of the extra roles (empty unless ``partners`` is given and a
        composite pattern fits the row)."""
        composite = self._composite_patterns_for(row, partners) if partners else []
        extras: list[Entity] = []
        if composite:
            pattern = rng.choice(composite)
            roles, extras = self._assign_slots(row, pattern, partners or {}, rng)
        else:
            specific, generic = self._patterns_for(row)
            pool = specific if specific and rng.random() < 0.8 else generic
            pattern, swapped = rng.choice(pool)
            roles = {"A": "tail" if swapped else "head", "B": "head" if swapped else "tail"}
        entity: dict[str, Entity] = {"head": row.entities()[0], "tail": row.entities()[1]}
        entity.update({f"extra{index}": extra for index, extra in enumerate(extras)})
        surfaces = {
            role: _choose_surface(name, synonyms, _family(entity_type), rng)
            for role, (_, name, entity_type, synonyms) in entity.items()
        }
        opener = _fill(rng.choice(OPENERS), rng) if rng.random() < 0.4 else ""
        if rng.random() < 0.35:
            closer = _fill(rng.choice(CLOSERS), rng)
            pattern = pattern[:-1] + closer if pattern.endswith(".") else pattern + closer
        if opener:
            pattern = _lower_first_word(pattern)

        text = opener + " " if opener else ""
        placed: dict[str, tuple[int, str]] = {}
        cursor = 0
        for match in _PLACEHOLDER.finditer(pattern):
            text += pattern[cursor : match.start()]
            key = match.group(1)
            if key in roles:
                role = roles[key]
                surface = surfaces[role]
                _, name, entity_type, _ = entity[role]
                family = _family(entity_type)
                if not text and surface != name and surface == name.lower() and family not in _COMMON_NOUN_FAMILIES:
                    surface = name  # a lowercased symbol ("per.c6", "ryr1") must not start a sentence
                if not text and family in _COMMON_NOUN_FAMILIES:
                    surface = surface[:1].upper() + surface[1:] if surface[:1].islower() else surface
                elif text and family == "phenotype" and re.match(r"[A-Z][a-z]", surface):
                    surface = surface[0].lower() + surface[1:]  # HPO names are sentence case: "Seizure"
                placed[role] = (len(text), surface)
                text += surface
            else:
                text += _statistic(key, rng)
            cursor = match.end()
        text += pattern[cursor:]
        return text, placed, extras

    def answer(self, row: RelationRow, partners: dict[str, list[Entity]] | None = None) -> GeneratorAnswer:
        """The paper's JSON answer for ``row``; retries patterns until first occurrences are the written ones.

        ``partners`` (entities by family) default to the pool given at construction. Whether the row
        gets a composite sentence is drawn from its own stream, so it does not depend on the pool.
        """
        if partners is None:
            partners = self._partners_by_family or {}
        rng = random.Random(f"{self.seed}:{row.row_id}")
        composite = random.Random(f"{self.seed}:{row.row_id}:composite").random() < COMPOSITE_SHARE
        for attempt in range(_MAX_ATTEMPTS):
            # a composite that keeps colliding (a partner inside a row entity) falls back to a plain sentence
            use_partners = partners if composite and attempt < _MAX_ATTEMPTS // 2 else None
            text, placed, extras = self.render(row, rng, use_partners)
            roles = ["head", "tail", *(f"extra{index}" for index in range(len(extras)))]
            types = [row.head_type, row.tail_type, *(extra[2] for extra in extras)]
            words = split_words(text)
            starts = {start: index for index, (_, start, _) in enumerate(words)}
            ner = []
            for role, entity_type in zip(roles, types):
                char_start, surface = placed[role]
                width = len(word_list(surface))
                ner.append([starts[char_start], starts[char_start] + width - 1, entity_type])
            tokens = [word for word, _, _ in words]
            found = [find_first_occurrence(tokens, word_list(placed[role][1])) for role in roles]
            spans = sorted((start, end) for start, end, _ in ner)
            disjoint = all(later[0] > earlier[1] for earlier, later in zip(spans, spans[1:]))
            if found == [span[0] for span in ner] and disjoint:
                break
        content = json.dumps({"tokenized_text": text, "ner": ner}, ensure_ascii=False)
        return GeneratorAnswer(row, content, surfaces=tuple(placed[role][1] for role in roles), extras=tuple(extras))

    def generate(self, rows: Sequence[RelationRow]) -> Iterator[GeneratorAnswer]:
        partners = self._partners_by_family if self._partners_by_family is not None else self._index_partners(rows)
        for row in rows:
            yield self.answer(row, partners)
