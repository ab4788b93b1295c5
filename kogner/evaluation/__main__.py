"""``python -m kogner.evaluation``: see `kogner.evaluation.cli`."""

import sys

from .cli import main

sys.exit(main())
