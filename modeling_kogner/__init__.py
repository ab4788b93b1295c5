"""KoGNER model package: configuration, model, pre-processing and decoding.

The files in this folder are also the remote code that ``save_pretrained`` copies next to the weights, so they
import only torch, transformers, the standard library and each other.
"""

from transformers import AutoConfig, AutoModel

from .configuration_kogner import KoGNERConfig
from .modeling_kogner import KoGNERModel, KoGNEROutput
from .linking_kogner import EntityIndex
from .processing_kogner import split_words

AutoConfig.register(KoGNERConfig.model_type, KoGNERConfig)
AutoModel.register(KoGNERConfig, KoGNERModel)

__all__ = ["EntityIndex", "KoGNERConfig", "KoGNERModel", "KoGNEROutput", "split_words"]
