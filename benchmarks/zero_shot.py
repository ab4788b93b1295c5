"""Zero-shot protocol: train on the 7 added corpora + KG data, choose the threshold on their dev splits, score the
unseen NCBI-disease, BC5CDR, BC2GM, JNLPBA (and BC4CHEMD when present) test splits. See ``benchmarks.protocols``.

    python -m benchmarks.zero_shot --quick                                  # smoke run (minutes)
    python -m benchmarks.zero_shot --config configs/release-cpu.yaml        # 3 seeds -> benchmarks/results/zero_shot.json
    python -m benchmarks.zero_shot --config configs/release-gpu.yaml        # on a GPU
"""

from __future__ import annotations

import sys

from benchmarks.protocols import main

if __name__ == "__main__":
    sys.exit(main("zero_shot"))
