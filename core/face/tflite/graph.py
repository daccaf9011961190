"""Rebuild a parsed TFLite graph as a PyTorch ``nn.Module`` (a small interpreter of the op subset).

Constant sub-graphs (DEQUANTIZE of float16 / int8 weights, DENSIFY of sparse weights) are folded
with numpy at build time, so the module holds plain float32 weights. Every other operator becomes
one module from :mod:`core.face.tflite.layers` / :mod:`core.face.tflite.shape_ops`, run in the
file's execution order. Rank-4 tensors are NCHW inside and at the boundary: the module takes
``(B, C, H, W)`` where the file says ``(1, H, W, C)``, and returns rank-4 outputs as NCHW. It is
batched (any B), device-agnostic and differentiable with respect to its inputs; the weights are
frozen parameters (``requires_grad=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.face.tflite import options as opt
from core.face.tflite.layers import Binary, Conv2d, Pad, Pool2d, PRelu, Unary
from core.face.tflite.layout import broadcast_constant_nchw, nchw_axis
from core.face.tflite.model import OperatorSpec, TensorSpec, TfliteModel, read_tflite
from core.face.tflite.schema import Activation, Padding, TensorType
from core.face.tflite.shape_ops import Concat, DepthToSpace, Reshape, ResizeBilinear
from core.face.tflite.sparsity import densify


class UnsupportedOperatorError(ValueError):
    """The graph uses an operator (or a form of one) this rebuilder does not implement."""


def dequantize(t: TensorSpec, data: np.ndarray) -> np.ndarray:
    """DEQUANTIZE a constant: float16 -> float32, or affine int8/uint8/int16 -> float32."""
    if t.type == TensorType.FLOAT16:
        return data.astype(np.float32)
    if t.quantization is None:
        raise UnsupportedOperatorError(f"DEQUANTIZE of {t.type.name} tensor {t.name!r} without quantization")
    q = t.quantization
    shape = [1] * data.ndim
    if q.scale.size > 1:
        shape[q.axis] = q.scale.size
    real = (data.astype(np.float32) - q.zero_point.reshape(shape)) * q.scale.reshape(shape)
    return real.astype(np.float32)


class _Builder:
    """Folds constants and turns each remaining operator into a module."""

    def __init__(self, model: TfliteModel) -> None:
        self.model = model
        self.consts: dict[int, np.ndarray] = {
            t.index: t.data for t in model.tensors if t.data is not None and t.sparsity is None
        }
        self.consumers: dict[int, list[OperatorSpec]] = {}
        for op in model.operators:
            for i in op.inputs:
                self.consumers.setdefault(i, []).append(op)
        # PAD outputs folded into the VALID convolution that reads them: output -> (input, pads)
        self.folded_pads: dict[int, tuple[int, tuple[int, int, int, int]]] = {}

    def const(self, idx: int, op: OperatorSpec) -> np.ndarray:
        if idx not in self.consts:
            raise UnsupportedOperatorError(f"{op.name} (op {op.index}) needs input {idx} "
                                           f"({self.model.tensors[idx].name!r}) to be a constant")
        return self.consts[idx]

    def fold(self, op: OperatorSpec) -> bool:
        """Evaluate ``op`` now when all its inputs are constants; True when folded."""
        ins = [i for i in op.inputs if i >= 0]
        tensors = self.model.tensors
        if op.name == "DENSIFY" and tensors[ins[0]].sparsity is not None:
            t = tensors[ins[0]]
            self.consts[op.outputs[0]] = densify(t.data, t.shape, t.sparsity)
            return True
        if op.name == "DEQUANTIZE" and ins[0] in self.consts:
            self.consts[op.outputs[0]] = dequantize(tensors[ins[0]], self.consts[ins[0]])
            return True
        if ins and all(i in self.consts for i in ins):
            raise UnsupportedOperatorError(f"constant folding of {op.name} (op {op.index}) "
                                           "is not implemented")
        return False

    def rank(self, idx: int) -> int:
        return len(self.model.tensors[idx].shape)

    def _broadcast(self, value: np.ndarray, out_rank: int) -> torch.Tensor:
        if out_rank == 4:
            return broadcast_constant_nchw(value)
        return torch.from_numpy(np.ascontiguousarray(value, np.float32))

    def conv_input(self, op: OperatorSpec) -> tuple[int, tuple[int, int, int, int]]:
        """The activation a convolution reads and the PAD folded into it (left, right, top, bottom)."""
        idx = op.inputs[0]
        return self.folded_pads.get(idx, (idx, (0, 0, 0, 0)))

    def build(self, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]] | None:
        """(module, indices of its activation inputs) for a non-constant operator; None when the
        operator was folded into the one consuming its output."""
        handler = _HANDLERS.get(op.name)
        if handler is None:
            raise UnsupportedOperatorError(f"operator {op.name} (op {op.index}) is not supported")
        return handler(self, op)


def _conv(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    o = op.options
    assert isinstance(o, opt.Conv2DOptions)
    w = b.const(op.inputs[1], op)  # (O, KH, KW, I)
    bias = b.const(op.inputs[2], op) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    c_in = b.model.tensors[op.inputs[0]].shape[3]
    if c_in % w.shape[3]:
        raise UnsupportedOperatorError(f"CONV_2D op {op.index}: {c_in} input channels vs kernel {w.shape}")
    src, pre_pad = b.conv_input(op)
    mod = Conv2d(weight=w.transpose(0, 3, 1, 2), bias=bias, stride=(o.stride_h, o.stride_w),
                 dilation=(o.dilation_h, o.dilation_w), padding=o.padding, groups=c_in // w.shape[3],
                 activation=o.activation, pre_pad=pre_pad)
    return mod, (src,)


def _depthwise(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    o = op.options
    assert isinstance(o, opt.DepthwiseConv2DOptions)
    w = b.const(op.inputs[1], op)  # (1, KH, KW, C * M)
    bias = b.const(op.inputs[2], op) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    c_in = b.model.tensors[op.inputs[0]].shape[3]
    if w.shape[3] != c_in * o.depth_multiplier:
        raise UnsupportedOperatorError(f"DEPTHWISE_CONV_2D op {op.index}: kernel {w.shape} for {c_in} "
                                       f"channels x multiplier {o.depth_multiplier}")
    src, pre_pad = b.conv_input(op)
    mod = Conv2d(weight=w.transpose(3, 0, 1, 2), bias=bias, stride=(o.stride_h, o.stride_w),
                 dilation=(o.dilation_h, o.dilation_w), padding=o.padding, groups=c_in,
                 activation=o.activation, pre_pad=pre_pad)
    return mod, (src,)


def _pool(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    o = op.options
    assert isinstance(o, opt.Pool2DOptions)
    kind = "max" if op.name == "MAX_POOL_2D" else "avg"
    return Pool2d(kind=kind, kernel=(o.filter_h, o.filter_w), stride=(o.stride_h, o.stride_w),
                  padding=o.padding, activation=o.activation), (op.inputs[0],)


def _binary(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    o = op.options
    assert isinstance(o, opt.ActivationOptions)
    kind = {"ADD": "add", "SUB": "sub", "MUL": "mul"}[op.name]
    x, y = op.inputs[:2]
    out_rank = b.rank(op.outputs[0])
    if x in b.consts or y in b.consts:
        first = x in b.consts
        c = b._broadcast(b.consts[x if first else y], out_rank)
        mod = Binary(kind=kind, activation=o.activation, const=c, const_first=first)
        return mod, ((y,) if first else (x,))
    if b.rank(x) != b.rank(y):
        raise UnsupportedOperatorError(f"{op.name} op {op.index}: broadcasting between ranks "
                                       f"{b.rank(x)} and {b.rank(y)} is not supported")
    return Binary(kind=kind, activation=o.activation), (x, y)


def _unary(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    kind = {"RELU": "relu", "RELU6": "relu6", "LOGISTIC": "logistic", "TANH": "tanh"}[op.name]
    return Unary(kind=kind), (op.inputs[0],)


def _prelu(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    alpha = b._broadcast(b.const(op.inputs[1], op), b.rank(op.inputs[0]))
    return PRelu(alpha=alpha), (op.inputs[0],)


def _foldable_pad(b: _Builder, op: OperatorSpec, pads: np.ndarray) -> bool:
    """A spatial-only zero PAD read by exactly one VALID convolution (and nothing else)."""
    if pads.shape != (4, 2) or pads[3].any() or op.outputs[0] in b.model.outputs:
        return False
    users = b.consumers.get(op.outputs[0], [])
    if len(users) != 1 or users[0].name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return False
    user = users[0]
    return user.inputs[0] == op.outputs[0] and getattr(user.options, "padding", None) == Padding.VALID


def _pad(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]] | None:
    pads = b.const(op.inputs[1], op).astype(np.int64)  # (rank, 2) before/after per TFLite dim
    rank = pads.shape[0]
    if pads[0].any():
        raise UnsupportedOperatorError(f"PAD op {op.index} pads the batch dimension: {pads.tolist()}")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        raise UnsupportedOperatorError(f"PAD op {op.index} with a constant value is not supported")
    if _foldable_pad(b, op, pads):
        b.folded_pads[op.outputs[0]] = (op.inputs[0], (int(pads[2, 0]), int(pads[2, 1]),
                                                       int(pads[1, 0]), int(pads[1, 1])))
        return None
    order = [0, 3, 1, 2] if rank == 4 else list(range(rank))  # rebuilt dim i is TFLite dim order[i]
    flat: list[int] = []
    for d in reversed(order[1:]):
        flat += [int(pads[d, 0]), int(pads[d, 1])]
    return Pad(pads=tuple(flat)), (op.inputs[0],)


def _reshape(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    shape_in = b.model.tensors[op.inputs[0]].shape
    shape_out = b.model.tensors[op.outputs[0]].shape
    if not shape_out or not shape_in or shape_in[0] != shape_out[0]:
        raise UnsupportedOperatorError(f"RESHAPE op {op.index} changes the batch dim: "
                                       f"{shape_in} -> {shape_out}")
    return Reshape(shape=tuple(shape_out[1:])), (op.inputs[0],)


def _concat(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    o = op.options
    assert isinstance(o, opt.ConcatenationOptions)
    rank = b.rank(op.outputs[0])
    dim = nchw_axis(o.axis, rank)
    if dim == 0:
        raise UnsupportedOperatorError(f"CONCATENATION op {op.index} along the batch dim")
    if any(i in b.consts for i in op.inputs):
        raise UnsupportedOperatorError(f"CONCATENATION op {op.index} with a constant input")
    return Concat(dim=dim, activation=o.activation), tuple(op.inputs)


def _resize(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    o = op.options
    assert isinstance(o, opt.ResizeBilinearOptions)
    size = b.const(op.inputs[1], op)
    return ResizeBilinear(size=(int(size[0]), int(size[1])), align_corners=o.align_corners,
                          half_pixel_centers=o.half_pixel_centers), (op.inputs[0],)


def _depth_to_space(b: _Builder, op: OperatorSpec) -> tuple[nn.Module, tuple[int, ...]]:
    o = op.options
    assert isinstance(o, opt.DepthToSpaceOptions)
    return DepthToSpace(block_size=o.block_size), (op.inputs[0],)


_HANDLERS: dict[str, Callable[[_Builder, OperatorSpec], tuple[nn.Module, tuple[int, ...]] | None]] = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise, "MAX_POOL_2D": _pool, "AVERAGE_POOL_2D": _pool,
    "ADD": _binary, "SUB": _binary, "MUL": _binary, "RELU": _unary, "RELU6": _unary,
    "LOGISTIC": _unary, "TANH": _unary, "PRELU": _prelu, "PAD": _pad, "RESHAPE": _reshape,
    "CONCATENATION": _concat, "RESIZE_BILINEAR": _resize, "DEPTH_TO_SPACE": _depth_to_space,
}


class TfliteGraph(nn.Module):
    """A TFLite graph as a module: ``forward(*inputs) -> tuple of outputs`` (graph order).

    Rank-4 inputs/outputs are NCHW float32: an input the file declares as (1, H, W, C) is passed
    as (B, C, H, W) for any B. Other ranks keep the file's layout with B as the first dim.
    """

    def __init__(self, model: TfliteModel) -> None:
        super().__init__()
        builder = _Builder(model)
        mods: list[nn.Module] = []
        plan: list[tuple[tuple[int, ...], int]] = []
        for op in model.operators:
            if builder.fold(op):
                continue
            if len(op.outputs) != 1:
                raise UnsupportedOperatorError(f"{op.name} op {op.index} has {len(op.outputs)} outputs")
            built = builder.build(op)
            if built is None:
                continue
            mod, ins = built
            mods.append(mod)
            plan.append((ins, op.outputs[0]))
        self.ops = nn.ModuleList(mods)
        self._plan = plan
        self.input_indices = model.inputs
        self.output_indices = model.outputs
        self.input_shapes = tuple(self._rebuilt_shape(model.tensors[i].shape) for i in model.inputs)
        self.output_names = tuple(model.tensors[i].name for i in model.outputs)
        for i in model.outputs:
            if i in builder.consts:
                raise UnsupportedOperatorError(f"graph output {model.tensors[i].name!r} is a constant")
        # Free each intermediate after its last use.
        last_use: dict[int, int] = {}
        for step, (ins, _) in enumerate(plan):
            for i in ins:
                last_use[i] = step
        keep = set(model.outputs)
        self._release = [tuple(i for i in ins if last_use[i] == step and i not in keep)
                         for step, (ins, _) in enumerate(plan)]
        self.requires_grad_(False)

    @staticmethod
    def _rebuilt_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else shape

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.input_indices):
            raise ValueError(f"expected {len(self.input_indices)} inputs, got {len(inputs)}")
        env: dict[int, torch.Tensor] = {}
        for idx, x, shape in zip(self.input_indices, inputs, self.input_shapes, strict=True):
            if x.ndim != len(shape) or tuple(x.shape[1:]) != shape[1:]:
                raise ValueError(f"input {idx}: expected shape (B, {', '.join(map(str, shape[1:]))}), "
                                 f"got {tuple(x.shape)}")
            env[idx] = x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
        for mod, (ins, out), release in zip(self.ops, self._plan, self._release, strict=True):
            env[out] = mod(*(env[i] for i in ins))
            for i in release:
                del env[i]
        return tuple(env[i] for i in self.output_indices)


def load_tflite_graph(source: str | Path | bytes | TfliteModel) -> TfliteGraph:
    """Parse (when needed) and rebuild a ``.tflite`` model as a :class:`TfliteGraph` on the CPU."""
    model = source if isinstance(source, TfliteModel) else read_tflite(source)
    return TfliteGraph(model)


__all__ = ["Activation", "TfliteGraph", "UnsupportedOperatorError", "dequantize", "load_tflite_graph"]
