"""Evaluate a KoGNER model on the benchmark corpora: `python evaluate.py --model runs/demo/model`.

Same as the `kogner-eval` command; `--help` lists the options.
"""

import sys

from kogner.evaluation import main

if __name__ == "__main__":
    sys.exit(main())
