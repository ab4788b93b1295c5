"""Annotate a collection of documents with a KoGNER model: ``kogner-annotate`` (see `kogner.annotate.cli`).

Resumable (`kogner.annotate.shards`), multi-process under ``accelerate launch`` (`kogner.annotate.run`), reading
text files, JSONL, PubTator and `datasets` sources (`kogner.annotate.inputs`) and writing JSONL, PubTator and
BioC XML (`kogner.annotate.formats`).
"""

from .inputs import AnnotateInputError, Document, open_source
from .run import AnnotateOptions, annotate_corpus, format_summary
from .shards import OutputFolderError

__all__ = ["AnnotateInputError", "AnnotateOptions", "Document", "OutputFolderError", "annotate_corpus",
           "format_summary", "open_source"]
