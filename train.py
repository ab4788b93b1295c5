"""Train KoGNER: `accelerate launch train.py --config configs/cpu-demo.yaml [--key value ...]`.

Every option (model, data, Hugging Face TrainingArguments) can be set in the YAML file given by ``--config``
and/or on the command line; the command line wins. ``python train.py --help`` lists them all; the code is in
`kogner.training` (`arguments`, `cli`, `pipeline`).
"""

import sys

from kogner.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
