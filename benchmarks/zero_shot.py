"""Zero-shot protocol: train on the 7 added corpora + KG data, choose the threshold on their dev splits, score the
unseen NCBI-disease, BC5CDR, BC2GM, JNLPBA (and BC4CHEMD when present) test splits. See benchmarks/protocols.py.

    python benchmarks/zero_shot.py --quick                                  # smoke run (minutes)
    python benchmarks/zero_shot.py --config configs/release-cpu.yaml        # 3 seeds -> benchmarks/results/zero_shot.json
    python benchmarks/zero_shot.py --config configs/release-gpu.yaml        # on a GPU
"""

from __future__ import annotations

import sys

from protocols import main  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

if __name__ == "__main__":
    sys.exit(main("zero_shot"))
