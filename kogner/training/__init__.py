"""Training: the collator, `KoGNERTrainer`, the model card, and `run_training` (what `train.py` calls)."""
