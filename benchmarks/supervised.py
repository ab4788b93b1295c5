"""Supervised protocol: the zero-shot mix + NCBI-disease, BC5CDR, BC2GM train splits; threshold on the dev splits of
every training corpus; their test splits scored; the gliner peer (benchmarks/peer.py) trained on the same mix,
steps, batch and seed in the same run. See benchmarks/protocols.py.

    python benchmarks/supervised.py --quick                                 # smoke run (minutes)
    python benchmarks/supervised.py --config configs/release-cpu.yaml       # 3 seeds + peer -> benchmarks/results/supervised.json
    python benchmarks/supervised.py --config configs/release-gpu.yaml       # on a GPU
"""

from __future__ import annotations

import sys

from protocols import main  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

if __name__ == "__main__":
    sys.exit(main("supervised"))
