"""U²-Net (Qin et al. 2020) as an image-to-image network: the De-expression model of paper §3.4.

The network is a two-level U: an outer U of six encoder and five decoder *stages*, each stage a
residual U-block **RSU-L** (an inner U of height L with its own pooling, or, for the two deepest
stages, **RSU-4F**, which keeps the resolution and uses dilations 1, 2, 4, 8 instead). Every
decoder stage and the deepest encoder stage have a 3x3 *side* head; the side outputs are
upsampled to the input size and fused by a 1x1 convolution into the final output (deep
supervision trains all seven).

Facts kept from the published design (notes/training.md §4): stage heights 7, 6, 5, 4, 4F, 4F;
``full`` has (mid, out) channels (32, 64), (32, 128), (64, 256), (128, 512), (256, 512),
(256, 512) in the encoder, about 44 M parameters; ``small`` (the U²-NetP size) has (16, 64)
everywhere, about 1.1 M. ``tiny`` (8, 16) is for tests and smoke runs.

For De-expression the 1-channel saliency heads become 3-channel RGB heads. With
``residual=True`` (the default) each head predicts a change that is added to the input image,
the side heads start at zero and the fusion at their mean, so an untrained network is the
identity and the fine detail of X survives (the input and the output share the crop);
``head_scale`` (a fixed factor on the side heads, :class:`U2NetConfig`) keeps Adam's first steps
from throwing that start away. With ``residual=False`` each head is ``tanh`` of its logits.
Either way the outputs are in [-1, 1].

Shapes: input (B, C_in, H, W) float in [-1, 1], any H, W >= 1 (pooling uses ``ceil_mode`` and
every upsampling goes to the skip's exact size); outputs (B, C_out, H, W).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_float, assert_shape
from core.errors import GafetError

__all__ = ["U2NET_CONFIGS", "U2Net", "U2NetConfig", "U2NetConfigError", "U2NetOutput", "u2net_config"]

ENCODER_HEIGHTS = (7, 6, 5, 4, 0, 0)  # 0: RSU-4F (dilated, no pooling)
DECODER_HEIGHTS = (0, 4, 5, 6, 7)  # stages 5d, 4d, 3d, 2d, 1d


MAX_CHANNELS = 1024  # channels of any stage (bounds the network a config file can ask for)
MAX_IMAGE_CHANNELS = 4


class U2NetConfigError(GafetError, ValueError):
    """A U²-Net config that cannot be built (or an unknown name)."""


@dataclass(frozen=True)
class U2NetConfig:
    """Channels of a U²-Net.

    encoder: (mid, out) channels of stages 1-6; decoder: (mid, out) of stages 5d, 4d, 3d, 2d, 1d
    (stage kd reads the upsampled stage (k+1)(d) output concatenated with encoder stage k's).
    in_channels / out_channels: image channels. residual: heads predict a change added to the
    input (requires in_channels == out_channels) instead of tanh(logits). head_scale: a fixed factor
    on every side head's output (1 = the published design). With zero-initialised residual heads,
    Adam's first steps move each head weight by about ``lr`` whatever the gradient's size, which at
    lr 1e-3 throws the output far from the identity start (fused L1 to X_n 0.016 -> 0.030 after one
    step on the warp-neutral pairs); 0.1 makes the heads' effective step 10x smaller while the rest
    of the network keeps U²-Net's learning rate.
    """

    name: str
    encoder: tuple[tuple[int, int], ...]
    decoder: tuple[tuple[int, int], ...]
    in_channels: int = 3
    out_channels: int = 3
    residual: bool = True
    head_scale: float = 1.0

    def __post_init__(self) -> None:
        if len(self.encoder) != 6 or len(self.decoder) != 5:
            raise U2NetConfigError(f"U²-Net config '{self.name}': 6 encoder and 5 decoder stages, got "
                                   f"{len(self.encoder)} and {len(self.decoder)}.")
        if min(c for pair in (*self.encoder, *self.decoder) for c in pair) < 1 or self.in_channels < 1 \
                or self.out_channels < 1:
            raise U2NetConfigError(f"U²-Net config '{self.name}': channels must be >= 1.")
        # Bounds before anything is built (a crafted checkpoint must not allocate terabytes): the
        # widest published stage has 512 channels (``full``, 44 M parameters); 1024 bounds a U²-Net at
        # about 4x that width, i.e. at most ~180 M parameters (~0.7 GB in float32).
        if max(c for pair in (*self.encoder, *self.decoder) for c in pair) > MAX_CHANNELS \
                or max(self.in_channels, self.out_channels) > MAX_IMAGE_CHANNELS:
            raise U2NetConfigError(f"U²-Net config '{self.name}': at most {MAX_CHANNELS} channels per "
                                   f"stage and {MAX_IMAGE_CHANNELS} image channels (~180 M parameters).")
        if not (math.isfinite(self.head_scale) and 0.0 < self.head_scale <= 10.0):
            raise U2NetConfigError(f"U²-Net config '{self.name}': head_scale must be in (0, 10], "
                                   f"got {self.head_scale}.")
        if self.residual and self.in_channels != self.out_channels:
            raise U2NetConfigError(f"U²-Net config '{self.name}': residual heads need in_channels == "
                                   f"out_channels, got {self.in_channels} and {self.out_channels}.")
        if not self.head_scale > 0:
            raise U2NetConfigError(f"U²-Net config '{self.name}': head_scale must be > 0, got "
                                   f"{self.head_scale}.")

    def side_channels(self) -> tuple[int, ...]:
        """Channels feeding the six side heads: stages 1d, 2d, 3d, 4d, 5d and encoder stage 6."""
        return (*(out for _, out in reversed(self.decoder)), self.encoder[5][1])

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["encoder"] = [list(p) for p in self.encoder]
        d["decoder"] = [list(p) for p in self.decoder]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> U2NetConfig:
        if not isinstance(d, dict):
            raise U2NetConfigError(f"A U²-Net config must be a JSON object, got {d!r}.")
        known = {f.name for f in dataclasses.fields(cls)}
        if set(d) - known:
            raise U2NetConfigError(f"Unknown U²-Net config fields: {sorted(set(d) - known)}.")
        try:
            args = dict(d)
            args["encoder"] = tuple((int(a), int(b)) for a, b in d["encoder"])
            args["decoder"] = tuple((int(a), int(b)) for a, b in d["decoder"])
            if "head_scale" in args:
                args["head_scale"] = float(args["head_scale"])
            return cls(**args)
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, U2NetConfigError):
                raise
            raise U2NetConfigError(f"Unreadable U²-Net config {d!r}: {err}.") from None


def _uniform(name: str, mid: int, out: int) -> U2NetConfig:
    return U2NetConfig(name=name, encoder=((mid, out),) * 6, decoder=((mid, out),) * 5)


U2NET_CONFIGS: dict[str, U2NetConfig] = {
    "full": U2NetConfig(name="full",
                        encoder=((32, 64), (32, 128), (64, 256), (128, 512), (256, 512), (256, 512)),
                        decoder=((256, 512), (128, 256), (64, 128), (32, 64), (16, 64))),
    "small": _uniform("small", 16, 64),
    "tiny": _uniform("tiny", 8, 16),
}


def u2net_config(name: str) -> U2NetConfig:
    """The named config (``full``, ``small``, ``tiny``); raises U2NetConfigError naming the known ones."""
    try:
        return U2NET_CONFIGS[name]
    except KeyError:
        raise U2NetConfigError(f"Unknown U²-Net config '{name}'; use one of {', '.join(U2NET_CONFIGS)}.") \
            from None


# ---------------------------------------------------------------------------------------------
# Blocks


class ConvBnRelu(nn.Module):
    """3x3 convolution (dilation d, "same" padding), batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _up_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to ``like``'s spatial size (a no-op when equal)."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block of height L >= 3: ``in -> out`` channels, ``mid`` inside, output at the input size.

    Input conv (-> out), then an inner encoder of L - 1 convs (-> mid) with 2x max-pooling between
    the first L - 2, a dilation-2 conv at the bottom, a decoder of L - 1 convs on
    [upsampled deeper, skip] (the last -> out), and the input conv's features added back.
    """

    def __init__(self, height: int, in_channels: int, mid: int, out: int) -> None:
        super().__init__()
        if height < 3:
            raise U2NetConfigError(f"RSU height must be >= 3, got {height}")
        self.height = height
        self.conv_in = ConvBnRelu(in_channels, out)
        self.enc = nn.ModuleList([ConvBnRelu(out, mid)] + [ConvBnRelu(mid, mid) for _ in range(height - 2)])
        self.bottom = ConvBnRelu(mid, mid, dilation=2)
        self.dec = nn.ModuleList([ConvBnRelu(2 * mid, mid) for _ in range(height - 2)]
                                 + [ConvBnRelu(2 * mid, out)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx_in = self.conv_in(x)
        skips = []
        h = hx_in
        for i, conv in enumerate(self.enc):
            if i > 0:
                h = F.max_pool2d(h, 2, stride=2, ceil_mode=True)
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for i, conv in enumerate(self.dec):
            skip = skips[-1 - i]
            h = conv(torch.cat([_up_to(h, skip), skip], dim=1))
        return h + hx_in


class RSU4F(nn.Module):
    """RSU-4F: the height-4 block without pooling, dilations 1, 2, 4 down, 8 at the bottom, 4, 2, 1 up."""

    def __init__(self, in_channels: int, mid: int, out: int) -> None:
        super().__init__()
        self.conv_in = ConvBnRelu(in_channels, out)
        self.enc = nn.ModuleList([ConvBnRelu(out, mid, 1), ConvBnRelu(mid, mid, 2), ConvBnRelu(mid, mid, 4)])
        self.bottom = ConvBnRelu(mid, mid, dilation=8)
        self.dec = nn.ModuleList([ConvBnRelu(2 * mid, mid, 4), ConvBnRelu(2 * mid, mid, 2),
                                  ConvBnRelu(2 * mid, out, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx_in = self.conv_in(x)
        skips = []
        h = hx_in
        for conv in self.enc:
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for i, conv in enumerate(self.dec):
            h = conv(torch.cat([h, skips[-1 - i]], dim=1))
        return h + hx_in


def _block(height: int, in_channels: int, mid: int, out: int) -> nn.Module:
    return RSU4F(in_channels, mid, out) if height == 0 else RSU(height, in_channels, mid, out)


# ---------------------------------------------------------------------------------------------
# The network


class U2NetOutput(NamedTuple):
    """image: the fused output (B, C_out, H, W) in [-1, 1]. sides: the six side outputs at the input
    size, (B, C_out, H, W) each in [-1, 1], from the shallowest (stage 1d) to the deepest (stage 6)."""

    image: torch.Tensor
    sides: tuple[torch.Tensor, ...]

    def all(self) -> tuple[torch.Tensor, ...]:
        """The fused output then the side outputs (what deep supervision sums over)."""
        return (self.image, *self.sides)


class U2Net(nn.Module):
    """U²-Net image-to-image (module docstring). ``forward(x) -> U2NetOutput``."""

    def __init__(self, config: U2NetConfig) -> None:
        super().__init__()
        self.config = config
        enc_in = [config.in_channels] + [out for _, out in config.encoder[:-1]]
        self.encoder = nn.ModuleList([_block(h, c_in, mid, out) for h, c_in, (mid, out)
                                      in zip(ENCODER_HEIGHTS, enc_in, config.encoder, strict=True)])
        # stage kd (k = 5..1) reads [up(previous), encoder stage k]
        deeper = [config.encoder[5][1]] + [out for _, out in config.decoder[:-1]]
        skip = [config.encoder[k][1] for k in (4, 3, 2, 1, 0)]
        self.decoder = nn.ModuleList([_block(h, d + s, mid, out) for h, d, s, (mid, out)
                                      in zip(DECODER_HEIGHTS, deeper, skip, config.decoder, strict=True)])
        self.sides = nn.ModuleList([nn.Conv2d(c, config.out_channels, 3, padding=1)
                                    for c in config.side_channels()])
        self.fuse = nn.Conv2d(6 * config.out_channels, config.out_channels, 1)
        if config.residual:  # start at the identity: zero side changes, fused = their mean
            for head in self.sides:
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
            with torch.no_grad():
                c = config.out_channels
                self.fuse.weight.zero_()
                self.fuse.bias.zero_()
                for k in range(6):  # the fused change starts as the mean of the side changes, so the
                    for ch in range(c):  # fused loss reaches the side heads from the first step
                        self.fuse.weight[ch, k * c + ch] = 1.0 / 6.0

    def _finish(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.config.residual:
            return (x + logits).clamp(-1.0, 1.0)
        return torch.tanh(logits)

    def forward(self, x: torch.Tensor) -> U2NetOutput:
        """x: (B, C_in, H, W) float in [-1, 1] -> :class:`U2NetOutput` at (H, W)."""
        assert_shape(x, ("B", self.config.in_channels, "H", "W"), "U2Net input")
        assert_float(x, "U2Net input")
        feats = []
        h = x
        for i, stage in enumerate(self.encoder):
            if i > 0:
                h = F.max_pool2d(h, 2, stride=2, ceil_mode=True)
            h = stage(h)
            feats.append(h)
        dec_out = []
        for k, stage in enumerate(self.decoder):
            skip = feats[4 - k]
            h = stage(torch.cat([_up_to(h, skip), skip], dim=1))
            dec_out.append(h)
        side_in = (*reversed(dec_out), feats[5])  # 1d, 2d, 3d, 4d, 5d, 6
        scale = self.config.head_scale
        logits = [_up_to(head(f) * scale if scale != 1.0 else head(f), x)
                  for head, f in zip(self.sides, side_in, strict=True)]
        fused = self.fuse(torch.cat(logits, dim=1))
        return U2NetOutput(image=self._finish(fused, x), sides=tuple(self._finish(s, x) for s in logits))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
