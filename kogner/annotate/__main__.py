"""``python -m kogner.annotate`` (and ``accelerate launch -m kogner.annotate``): see `kogner.annotate.cli`."""

import sys

from .cli import main

sys.exit(main())
