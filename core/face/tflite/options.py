"""Typed builtin-operator options, decoded from an operator's ``builtin_options`` table.

Each dataclass lists the fields of the schema table of the same name, in slot order.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.face.tflite.flatbuffer import Table
from core.face.tflite.schema import Activation, Padding


@dataclass(frozen=True)
class Conv2DOptions:
    padding: Padding
    stride_w: int
    stride_h: int
    activation: Activation
    dilation_w: int = 1
    dilation_h: int = 1


@dataclass(frozen=True)
class DepthwiseConv2DOptions:
    padding: Padding
    stride_w: int
    stride_h: int
    depth_multiplier: int
    activation: Activation
    dilation_w: int = 1
    dilation_h: int = 1


@dataclass(frozen=True)
class Pool2DOptions:
    padding: Padding
    stride_w: int
    stride_h: int
    filter_w: int
    filter_h: int
    activation: Activation


@dataclass(frozen=True)
class ActivationOptions:
    """AddOptions, SubOptions, MulOptions: only a fused activation."""

    activation: Activation


@dataclass(frozen=True)
class ConcatenationOptions:
    axis: int
    activation: Activation


@dataclass(frozen=True)
class ReshapeOptions:
    new_shape: tuple[int, ...]


@dataclass(frozen=True)
class ResizeBilinearOptions:
    align_corners: bool
    half_pixel_centers: bool


@dataclass(frozen=True)
class DepthToSpaceOptions:
    block_size: int


@dataclass(frozen=True)
class NoOptions:
    """Ops without options this reader needs (PAD, RELU, PRELU, DEQUANTIZE, DENSIFY, ...)."""


OperatorOptions = (Conv2DOptions | DepthwiseConv2DOptions | Pool2DOptions | ActivationOptions
                   | ConcatenationOptions | ReshapeOptions | ResizeBilinearOptions | DepthToSpaceOptions
                   | NoOptions)


def _act(t: Table | None, slot: int) -> Activation:
    return Activation(int(t.scalar(slot, "b", 0))) if t is not None else Activation.NONE


def decode_options(op_name: str, t: Table | None) -> OperatorOptions:
    """Decode the builtin options table ``t`` of an operator named ``op_name`` (None: all defaults)."""
    if op_name == "CONV_2D":
        return Conv2DOptions(
            padding=Padding(int(t.scalar(0, "b", 0))) if t else Padding.SAME,
            stride_w=int(t.scalar(1, "i", 1)) if t else 1, stride_h=int(t.scalar(2, "i", 1)) if t else 1,
            activation=_act(t, 3),
            dilation_w=int(t.scalar(4, "i", 1)) if t else 1, dilation_h=int(t.scalar(5, "i", 1)) if t else 1,
        )
    if op_name == "DEPTHWISE_CONV_2D":
        return DepthwiseConv2DOptions(
            padding=Padding(int(t.scalar(0, "b", 0))) if t else Padding.SAME,
            stride_w=int(t.scalar(1, "i", 1)) if t else 1, stride_h=int(t.scalar(2, "i", 1)) if t else 1,
            depth_multiplier=int(t.scalar(3, "i", 1)) if t else 1,
            activation=_act(t, 4),
            dilation_w=int(t.scalar(5, "i", 1)) if t else 1, dilation_h=int(t.scalar(6, "i", 1)) if t else 1,
        )
    if op_name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        if t is None:
            raise ValueError(f"{op_name} has no Pool2DOptions table")
        return Pool2DOptions(
            padding=Padding(int(t.scalar(0, "b", 0))),
            stride_w=int(t.scalar(1, "i", 1)), stride_h=int(t.scalar(2, "i", 1)),
            filter_w=int(t.scalar(3, "i", 1)), filter_h=int(t.scalar(4, "i", 1)),
            activation=_act(t, 5),
        )
    if op_name in ("ADD", "SUB", "MUL"):
        return ActivationOptions(activation=_act(t, 0))
    if op_name == "CONCATENATION":
        return ConcatenationOptions(axis=int(t.scalar(0, "i", 0)) if t else 0, activation=_act(t, 1))
    if op_name == "RESHAPE":
        shape = tuple(int(v) for v in t.array(0, "<i4")) if t is not None else ()
        return ReshapeOptions(new_shape=shape)
    if op_name == "RESIZE_BILINEAR":
        # slots 0 and 1 are the deprecated new_height / new_width
        return ResizeBilinearOptions(
            align_corners=bool(t.scalar(2, "?", False)) if t else False,
            half_pixel_centers=bool(t.scalar(3, "?", False)) if t else False,
        )
    if op_name == "DEPTH_TO_SPACE":
        if t is None:
            raise ValueError("DEPTH_TO_SPACE has no DepthToSpaceOptions table")
        return DepthToSpaceOptions(block_size=int(t.scalar(0, "i", 0)))
    return NoOptions()
