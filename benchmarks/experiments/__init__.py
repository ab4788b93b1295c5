"""One-off experiments whose numbers are recorded in ``benchmarks/results/`` and cited in BENCHMARKS.md.

They informed a choice (loss balance, label descriptions, KG links, whole abstracts) and are kept so the recorded
numbers can be reproduced: ``python -m benchmarks.experiments.<name> --help``. They are not part of a release.
"""
