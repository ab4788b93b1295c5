"""Loading glue of KoGNER: nested encoders built in the requested dtype, the saved tokenizer, half precision on CPU.

Imports only torch and transformers (this file travels with the weights as remote code).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers.utils import logging

logger = logging.get_logger(__name__)


def build_encoder(config_dict: dict[str, Any]) -> PreTrainedModel:
    """Build a randomly initialised encoder from a config dict, without its pooler (KoGNER never uses it).

    The encoder takes torch's current default dtype, which ``from_pretrained(..., dtype=...)`` sets while the
    model is built, so ``dtype``/``torch_dtype`` apply to the whole model (the dict's saved ``dtype`` does not).
    """
    values = {key: value for key, value in config_dict.items() if key not in ("model_type", "dtype", "torch_dtype")}
    encoder = AutoModel.from_config(
        AutoConfig.for_model(config_dict["model_type"], **values), dtype=torch.get_default_dtype()
    )
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


def load_tokenizer(source: str, encoder_config: PretrainedConfig) -> Any:
    """The standard tokenizer saved in ``source`` (a directory or Hub id).

    AutoTokenizer gets the encoder's config, so it never reads the KoGNER ``config.json`` (whose ``auto_map`` would
    make transformers ask about remote code again).
    """
    try:
        return AutoTokenizer.from_pretrained(source, config=encoder_config)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"no tokenizer could be loaded from {source!r}: save the model with save_pretrained (which writes the "
            "tokenizer) or set model.tokenizer = AutoTokenizer.from_pretrained(...)"
        ) from error


def warn_if_emulated_half_precision(model: PreTrainedModel) -> None:
    """Warn when a bfloat16/float16 model sits on a CPU without native support for that type.

    PyTorch then emulates the type: predictions work, but run slower than in float32.
    """
    if model.device.type != "cpu" or model.dtype not in (torch.bfloat16, torch.float16):
        return
    if model.dtype == torch.bfloat16:
        native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    else:
        native = torch.ops.mkldnn._is_mkldnn_fp16_supported()
    if not native:
        logger.warning(
            "this CPU has no native %s support: PyTorch emulates it, so predictions work but run slower than in "
            "float32 (load without dtype= for speed)", str(model.dtype).removeprefix("torch.")
        )
