"""A pure-Python TFLite reader (numpy + struct) and a rebuilder of TFLite graphs as PyTorch modules.

    model = read_tflite(path)          # typed tensors / operators, float16 and sparse weights
    graph = load_tflite_graph(path)    # nn.Module, NCHW, batched, differentiable
"""

from core.face.tflite.graph import TfliteGraph, UnsupportedOperatorError, load_tflite_graph
from core.face.tflite.model import TfliteFormatError, TfliteModel, read_tflite

__all__ = ["TfliteFormatError", "TfliteGraph", "TfliteModel", "UnsupportedOperatorError", "load_tflite_graph",
           "read_tflite"]
