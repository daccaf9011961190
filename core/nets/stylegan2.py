"""StyleGAN2 (Karras et al. 2020): mapping + synthesis, config-driven, and the latent editor of the
De-expression pairs (paper §3.4); a safe reader for user-supplied FFHQ weights.

**Generator.** The mapping network (pixel norm, ``mapping_layers`` equalised-lr linear layers
with lr multiplier 0.01 and leaky ReLU) turns z into w; the synthesis network starts from a
learned 4x4 constant and, per resolution 8 ... R, runs two modulated 3x3 convolutions (the first
upsampling 2x by a transposed convolution followed by a [1, 3, 3, 1] blur), each with per-pixel
noise and a biased leaky ReLU, and adds a modulated 1x1 ``to_rgb`` to the 2x-upsampled
(zero-insertion + blur) RGB skip. ``n_latent = 2·log2(R) − 2`` w vectors drive the layers
(one w broadcast to all of them, or a (B, n_latent, w_dim) stack).

The parameter and buffer names and shapes are those of the widely used PyTorch port
(rosinality/stylegan2-pytorch ``Generator``), so its checkpoints load with ``strict=True``; the
layer arithmetic follows the published design (weight demodulation, equalised learning rate,
blur kernels normalised to sum 1, times 4 when upsampling). No real FFHQ weights exist offline
to check the outputs against, so equivalence with that port is by construction, not measured.

**Weights** (:func:`read_weights`): a ``.pt``/``.pth`` file read with
``torch.load(weights_only=True)``, which rebuilds tensors and plain containers only and refuses
any other global (argparse's ``Namespace``, stored by that port's training script, is the single
extra class allowed: plain attribute data). Either a checkpoint dict with ``g_ema`` (preferred)
or ``g``, or a bare state dict. NVIDIA's own ``.pkl`` snapshots embed Python code and are
refused (:class:`StyleGAN2WeightsError` names the conversion to use). The config is inferred from
the tensor shapes (:func:`config_from_state`).

**Latent editor** (:class:`LatentEditor`, the paper's "MLP and convolutional networks"): an MLP
embeds the target expression code (20 AU intensities; zero = neutral), and 1-D convolutions along
the n_latent axis read [w, embedding] and predict Δw; the edited latent is w + Δw. The last layer
starts at zero, so an untrained editor is the identity.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_shape
from core.errors import EXIT_ASSET, GafetError

__all__ = ["STYLEGAN2_CONFIGS", "LatentEditor", "LatentEditorConfig", "StyleGAN2", "StyleGAN2Config",
           "StyleGAN2WeightsError", "config_from_state", "load_generator", "read_weights",
           "stylegan2_config"]

BLUR = (1.0, 3.0, 3.0, 1.0)
SQRT2 = math.sqrt(2.0)


class StyleGAN2WeightsError(GafetError):
    """A StyleGAN2 weights file that is refused (unsafe, unreadable, or not a generator). Exit code 5."""

    exit_code = EXIT_ASSET


@dataclass(frozen=True)
class StyleGAN2Config:
    """resolution: R (a power of 2, >= 8). z_dim = w_dim. mapping_layers: linear layers of the
    mapping. channel_multiplier: widths 512 up to 32², then 2^14 / res × multiplier (the port's
    table); channel_max: a cap on every width (small test configs)."""

    name: str
    resolution: int = 256
    w_dim: int = 512
    mapping_layers: int = 8
    channel_multiplier: int = 2
    channel_max: int = 512
    lr_mapping: float = 0.01

    def __post_init__(self) -> None:
        r = self.resolution
        if r < 8 or r & (r - 1) or self.w_dim < 1 or self.mapping_layers < 1 or self.channel_max < 1:
            raise ValueError(f"invalid StyleGAN2 config {self}")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def n_latent(self) -> int:
        return 2 * self.log_size - 2

    def channels(self, res: int) -> int:
        base = 512 if res <= 32 else (2 ** 14 // res) * self.channel_multiplier
        return min(base, self.channel_max)


STYLEGAN2_CONFIGS: dict[str, StyleGAN2Config] = {
    "ffhq-256": StyleGAN2Config(name="ffhq-256", resolution=256),  # the port's default FFHQ-256 training
    # NVIDIA's paper256 widths (24,767,458 parameters, as notes/training.md measured on NVIDIA's code)
    "paper256": StyleGAN2Config(name="paper256", resolution=256, channel_multiplier=1),
    "ffhq-512": StyleGAN2Config(name="ffhq-512", resolution=512),
    "tiny-16": StyleGAN2Config(name="tiny-16", resolution=16, w_dim=32, mapping_layers=2,
                               channel_max=16),
    "tiny-32": StyleGAN2Config(name="tiny-32", resolution=32, w_dim=32, mapping_layers=2,
                               channel_max=16),
}


def stylegan2_config(name: str) -> StyleGAN2Config:
    try:
        return STYLEGAN2_CONFIGS[name]
    except KeyError:
        raise ValueError(f"Unknown StyleGAN2 config '{name}'; use one of {', '.join(STYLEGAN2_CONFIGS)}.") \
            from None


# ---------------------------------------------------------------------------------------------
# Layers


def _kernel(k: tuple[float, ...]) -> torch.Tensor:
    t = torch.tensor(k, dtype=torch.float32)
    t = t[None, :] * t[:, None]
    return t / t.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, *, up: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion (``up``), pad ``pad`` = (before, after) on both axes, then filter
    with ``kernel`` (K, K) per channel (true convolution). x: (B, C, H, W)."""
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = torch.flip(kernel, (0, 1)).to(x.dtype)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, k, groups=c)


class Blur(nn.Module):
    def __init__(self, pad: tuple[int, int], factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", _kernel(BLUR) * factor ** 2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x upsampling of the RGB skip: zero insertion and the blur kernel (× 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", _kernel(BLUR) * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=2, pad=(2, 1))


class MappingLinear(nn.Module):
    """Equalised-lr linear layer (``lr_mul`` scales the runtime weight and the bias), optional
    biased leaky ReLU × sqrt(2)."""

    def __init__(self, in_dim: int, out_dim: int, *, lr_mul: float = 1.0, bias_init: float = 0.0,
                 activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale)
        out = out + self.bias * self.lr_mul
        return F.leaky_relu(out, 0.2) * SQRT2 if self.activate else out


class ModulatedConv(nn.Module):
    """Modulated (per-sample weight) convolution with optional demodulation and 2x upsampling."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, w_dim: int, *, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = MappingLinear(w_dim, in_ch, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.demodulate = demodulate
        self.upsample = upsample
        self.kernel = kernel
        if upsample:
            p = len(BLUR) - 2 - (kernel - 1)
            self.blur = Blur(((p + 1) // 2 + 1, p // 2 + 1), factor=2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, c, h, wd = x.shape
        style = self.modulation(w).view(b, 1, c, 1, 1)
        weight = self.scale * self.weight * style  # (B, O, I, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        o = weight.shape[1]
        k = self.kernel
        x = x.reshape(1, b * c, h, wd)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * c, o, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=b)
            out = self.blur(out.reshape(b, o, out.shape[-2], out.shape[-1]))
        else:
            out = F.conv2d(x, weight.reshape(b * o, c, k, k), padding=k // 2, groups=b)
            out = out.reshape(b, o, h, wd)
        return out


class NoiseInjection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class BiasedLeakyReLU(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


class StyledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int, *, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv(in_ch, out_ch, 3, w_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = BiasedLeakyReLU(out_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, w_dim: int, *, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.has_skip = upsample
        self.conv = ModulatedConv(in_ch, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        if skip is not None and self.has_skip:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, 4, 4))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


# ---------------------------------------------------------------------------------------------
# The generator


class StyleGAN2(nn.Module):
    """Mapping + synthesis (module docstring).

    ``mapping(z)``: (B, w_dim) -> (B, w_dim). ``synthesis(w)``: (B, w_dim) or (B, n_latent, w_dim)
    -> (B, 3, R, R) float, about [-1, 1] (not clamped). ``forward(z)`` = synthesis(mapping(z)).
    Noise: the stored per-layer noise buffers (deterministic: the same w gives the same image),
    or fresh noise with ``random_noise=True``.
    """

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        c = config
        # index 0: the pixel norm (no parameters; applied in mapping()), so layer indices match the port's
        layers: list[nn.Module] = [nn.Identity()]
        layers += [MappingLinear(c.w_dim, c.w_dim, lr_mul=c.lr_mapping, activate=True)
                   for _ in range(c.mapping_layers)]
        self.style = nn.Sequential(*layers)
        ch4 = c.channels(4)
        self.input = ConstantInput(ch4)
        self.conv1 = StyledConv(ch4, ch4, c.w_dim)
        self.to_rgb1 = ToRGB(ch4, c.w_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        n_layers = (c.log_size - 2) * 2 + 1
        for i in range(n_layers):
            res = (i + 5) // 2
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, 2 ** res, 2 ** res))
        in_ch = ch4
        for i in range(3, c.log_size + 1):
            out_ch = c.channels(2 ** i)
            self.convs.append(StyledConv(in_ch, out_ch, c.w_dim, upsample=True))
            self.convs.append(StyledConv(out_ch, out_ch, c.w_dim))
            self.to_rgbs.append(ToRGB(out_ch, c.w_dim))
            in_ch = out_ch
        self.n_layers = n_layers

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        assert_shape(z, ("B", self.config.w_dim), "z")
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        return self.style(z)

    @torch.no_grad()
    def mean_w(self, samples: int = 4096, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(w_dim,) the mean of w over ``samples`` random z (for truncation)."""
        z = torch.randn(samples, self.config.w_dim, generator=generator).to(self.input.input.device)
        return self.mapping(z).mean(0)

    def synthesis(self, w: torch.Tensor, *, random_noise: bool = False) -> torch.Tensor:
        if w.ndim == 2:
            w = w[:, None].expand(-1, self.config.n_latent, -1)
        assert_shape(w, ("B", self.config.n_latent, self.config.w_dim), "w")
        b = w.shape[0]
        noise = [getattr(self.noises, f"noise_{i}") for i in range(self.n_layers)]
        if random_noise:
            noise = [torch.randn_like(n) for n in noise]
        out = self.conv1(self.input(b), w[:, 0], noise[0])
        skip = self.to_rgb1(out, w[:, 1])
        i = 1
        for conv_up, conv, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2],
                                                 self.to_rgbs, strict=True):
            out = conv_up(out, w[:, i], n1)
            out = conv(out, w[:, i + 1], n2)
            skip = to_rgb(out, w[:, i + 2], skip)
            i += 2
        return skip

    def forward(self, z: torch.Tensor, *, truncation: float = 1.0, mean_w: torch.Tensor | None = None
                ) -> torch.Tensor:
        w = self.mapping(z)
        if truncation != 1.0:
            if mean_w is None:
                raise ValueError("truncation needs mean_w")
            w = mean_w + truncation * (w - mean_w)
        return self.synthesis(w)


# ---------------------------------------------------------------------------------------------
# Weights


def read_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The generator's state dict from a user-supplied file (module docstring: safe loading only).

    Raises :class:`StyleGAN2WeightsError` for an NVIDIA pickle, anything that is not plain tensors
    and containers (a file with code in it is refused before anything runs), or no generator."""
    p = Path(path)
    if p.suffix.lower() == ".pkl":
        raise StyleGAN2WeightsError(
            f"{p} is an NVIDIA pickle: it embeds Python code, which GaFET never runs. Convert it once to a "
            "PyTorch state dict in an environment you trust (rosinality/stylegan2-pytorch's "
            "convert_weight.py writes a .pt with 'g_ema'), then import that file.")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StyleGAN2WeightsError(f"{p} does not exist.") from None
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError, AttributeError) as err:
        reason = str(err).splitlines()[0][:300]
        raise StyleGAN2WeightsError(f"{p} was refused: it is not a plain tensor file that can be read "
                                    f"without running code ({reason}).") from None
    if isinstance(obj, dict) and isinstance(obj.get("g_ema"), dict):
        obj = obj["g_ema"]
    elif isinstance(obj, dict) and isinstance(obj.get("g"), dict):
        obj = obj["g"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise StyleGAN2WeightsError(f"{p} holds no StyleGAN2 generator state dict ('g_ema', 'g' or a bare "
                                    "one).")
    return {str(k): v for k, v in obj.items()}


def config_from_state(state: dict[str, torch.Tensor], name: str = "imported") -> StyleGAN2Config:
    """The config whose generator has exactly these tensors' shapes (raises StyleGAN2WeightsError)."""
    try:
        w_dim = int(state["conv1.conv.modulation.weight"].shape[1])
        mapping = len({m.group(1) for k in state if (m := re.match(r"style\.(\d+)\.weight$", k))})
        n_rgbs = len({m.group(1) for k in state if (m := re.match(r"to_rgbs\.(\d+)\.bias$", k))})
        resolution = 2 ** (n_rgbs + 2)
        last = int(state[f"to_rgbs.{n_rgbs - 1}.conv.weight"].shape[2]) if n_rgbs else 512
        cap = int(state["input.input"].shape[1])
        mult = max(1, last * resolution // 2 ** 14) if resolution > 32 else 2
        config = StyleGAN2Config(name=name, resolution=resolution, w_dim=w_dim, mapping_layers=mapping,
                                 channel_multiplier=mult, channel_max=cap)
    except (KeyError, IndexError, ValueError) as err:
        raise StyleGAN2WeightsError(f"The tensors are not a StyleGAN2 generator ({err}).") from None
    return config


def load_generator(state: dict[str, torch.Tensor], config: StyleGAN2Config | None = None) -> StyleGAN2:
    """A generator (eval, frozen) holding ``state`` exactly (strict; raises StyleGAN2WeightsError)."""
    config = config or config_from_state(state)
    with torch.device("meta"):
        net = StyleGAN2(config)
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise StyleGAN2WeightsError(f"The tensors do not fit a {config.resolution}² StyleGAN2: "
                                    f"{str(err).splitlines()[0][:300]}") from None
    for m in net.modules():  # non-persistent attributes are plain floats; nothing else lives on meta
        for name, buf in list(m.named_buffers(recurse=False)):
            if buf.is_meta:
                raise StyleGAN2WeightsError(f"The tensors lack the buffer {name}.")
    return net.eval().requires_grad_(False)


def check_weights_file(path: str | os.PathLike[str], *, resolution: int | None = None) -> StyleGAN2Config:
    """Read and check a weights file for ``gafet assets import-weights stylegan2-ffhq-*`` (the
    generator must load strictly, at ``resolution`` when given); returns its config."""
    net = load_generator(read_weights(path))
    if resolution is not None and net.config.resolution != resolution:
        raise StyleGAN2WeightsError(f"{path} is a {net.config.resolution}² generator, not {resolution}².")
    return net.config


# ---------------------------------------------------------------------------------------------
# The latent editor


@dataclass(frozen=True)
class LatentEditorConfig:
    n_latent: int
    w_dim: int
    code_dim: int = 20  # the target expression code: AU intensities (zero = neutral)
    embed_dim: int = 64
    hidden: int = 256
    kernel: int = 3


class EditedLatent(NamedTuple):
    """w: (B, n_latent, w_dim) edited latents; delta: the change from the input."""

    w: torch.Tensor
    delta: torch.Tensor


class LatentEditor(nn.Module):
    """MLP on the target code + 1-D convolutions over the n_latent axis on [w, code embedding]
    -> Δw (module docstring). forward(w (B, n_latent, w_dim) or (B, w_dim), code (B, code_dim))."""

    def __init__(self, config: LatentEditorConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Sequential(nn.Linear(c.code_dim, c.embed_dim), nn.LeakyReLU(0.2),
                                   nn.Linear(c.embed_dim, c.embed_dim), nn.LeakyReLU(0.2))
        pad = c.kernel // 2
        self.convs = nn.Sequential(nn.Conv1d(c.w_dim + c.embed_dim, c.hidden, c.kernel, padding=pad),
                                   nn.LeakyReLU(0.2), nn.Conv1d(c.hidden, c.hidden, c.kernel, padding=pad),
                                   nn.LeakyReLU(0.2))
        self.out = nn.Conv1d(c.hidden, c.w_dim, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, w: torch.Tensor, code: torch.Tensor) -> EditedLatent:
        c = self.config
        if w.ndim == 2:
            w = w[:, None].expand(-1, c.n_latent, -1)
        dims = assert_shape(w, ("B", c.n_latent, c.w_dim), "w")
        assert_shape(code, (dims["B"], c.code_dim), "code")
        e = self.embed(code)[:, :, None].expand(-1, -1, c.n_latent)
        h = self.convs(torch.cat([w.transpose(1, 2), e], dim=1))
        delta = self.out(h).transpose(1, 2)
        return EditedLatent(w=w + delta, delta=delta)
