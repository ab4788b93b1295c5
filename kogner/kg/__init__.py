"""Knowledge graphs: the in-memory graph type and one reader per source.

``load_kg(name, **options)`` is the entry point; ``KG_NAMES`` lists the readers.
"""

from .csv_tables import AttributeTableSpec, EdgeTableSpec, NodeTableSpec, load_biomedgraphica, load_csv_kg
from .graph import KnowledgeGraph
from .hetionet import load_hetionet
from .load import KG_NAMES, load_kg, parse_kg_options
from .primekg import load_primekg
from .tables import KGFormatError, load_table_kg, save_table_kg

__all__ = [
    "AttributeTableSpec", "EdgeTableSpec", "KG_NAMES", "KGFormatError", "KnowledgeGraph", "NodeTableSpec",
    "load_biomedgraphica", "load_csv_kg", "load_hetionet", "load_kg", "load_primekg", "parse_kg_options", "load_table_kg",
    "save_table_kg",
]
