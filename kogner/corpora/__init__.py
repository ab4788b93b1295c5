"""Benchmark corpora: IOB readers (`iob`), the registry of corpora and their label prompts (`registry`),
linking mentions to a KG (`linking`), and resolving named sources into one training/evaluation mix (`mix`)."""
