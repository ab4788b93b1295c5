"""KoGNER's benchmarks: the measurements behind BENCHMARKS.md, run from the repository root as modules.

    python -m benchmarks.zero_shot --quick
    python -m benchmarks.speed --help

Every script writes its results JSON through :mod:`benchmarks.common` (provenance, atomic writing, run keys).
One-off experiments whose numbers are recorded in ``benchmarks/results/`` live in :mod:`benchmarks.experiments`.

Importing the package sets the offline defaults below before any script imports ``huggingface_hub`` or
``transformers`` (which read them at import time); a value already set in the environment wins.
"""

import os

for _name, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"),
                      ("TOKENIZERS_PARALLELISM", "false"), ("GRADIO_ANALYTICS_ENABLED", "False")):
    os.environ.setdefault(_name, _value)
