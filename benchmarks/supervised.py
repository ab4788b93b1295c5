"""Supervised protocol: the zero-shot mix + NCBI-disease, BC5CDR, BC2GM train splits; threshold on the dev splits of
every training corpus; their test splits scored; the gliner peer (``benchmarks.peer``) trained on the same mix,
steps, batch and seed in the same run. See ``benchmarks.protocols``.

    python -m benchmarks.supervised --quick                                 # smoke run (minutes)
    python -m benchmarks.supervised --config configs/release-cpu.yaml       # 3 seeds + peer -> benchmarks/results/supervised.json
    python -m benchmarks.supervised --config configs/release-gpu.yaml       # on a GPU
"""

from __future__ import annotations

import sys

from benchmarks.protocols import main

if __name__ == "__main__":
    sys.exit(main("supervised"))
