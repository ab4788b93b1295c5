"""ONNX export of KoGNER models and inference on ONNX Runtime (``pip install onnx onnxscript onnxruntime``)."""

from .export import check_heads, export_onnx
from .runtime import KoGNERONNXModel

__all__ = ["KoGNERONNXModel", "check_heads", "export_onnx"]
