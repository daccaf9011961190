"""GaFET network configuration: frozen dataclasses, named presets and their JSON form.

A :class:`GafetConfig` fully determines every network's parameter shapes (generator, global and
component discriminators), so a checkpoint stores it next to the weights. Symbols follow the paper
(``paper/GaFET.md`` §3): ``R`` image side, ``L`` number of down-sampling steps, ``E_a``/``E_e``/
``E_d`` the appearance/expression(geometry)/reference encoders, ``N`` the MFAT depth.

Scales are indexed ``i = 0..L`` from full resolution (``R``) to the bottleneck (``R / 2**L``).
MFAT runs on the coarsest ``mfat.levels`` scales ("high" = coarsest, then "mid", "low").
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import GafetError
from core.io.json_file import read_json_file

CONFIG_FORMAT_VERSION = 1


class GafetConfigError(GafetError, ValueError):
    """A configuration that cannot describe a GaFET model (bad value, unknown field, unknown preset)."""


@dataclass(frozen=True)
class Switches:
    """Table 3 ablations. Turning a switch off removes or alters its part, and so its parameters."""

    use_mfat: bool = True  # MFAT (§3.2) and E_d; off = "w/o MFAT"
    use_global_modulation: bool = True  # global half of SGMM (§3.3); off = "w/o SGMM": plain convs
    multiscale_attention: bool = True  # MFAT at every level; off = coarsest ("high") level only
    use_feature_deformation: bool = True  # FD [42] (§3.3): warp E_a features by the flow; off = "w/o FD"
    use_component_discriminator: bool = True  # D_comp on eye/mouth patches (§3.5); off = "w/o Comp. D"


@dataclass(frozen=True)
class MfatConfig:
    """Multi-level Feature Aligned Transformer (§3.2, Fig. 3)."""

    dim: int = 256  # d: token width of both streams
    depth: int = 2  # N: transformer-encoder layers per stream (self-attention), per level
    heads: int = 8  # attention heads (self- and cross-attention)
    levels: int = 3  # E_d levels: high, mid, low (Fig. 3); the coarsest scales of the decoder
    ffn_ratio: int = 4  # feed-forward hidden width = ffn_ratio * d


@dataclass(frozen=True)
class DiscriminatorConfig:
    """StyleGAN2-style residual discriminators (§3.5): global, and component (eyes, mouth)."""

    base_channels: int = 32  # global D width at full resolution; doubles per halving
    max_channels: int = 512  # global D width cap
    mbstd_group: int = 4  # minibatch-stddev group size (StyleGAN2)
    component_base_channels: int = 16  # D_comp: same structure, fewer parameters
    component_max_channels: int = 128
    component_patch: int = 64  # side (px) of the eye and mouth patches fed to D_comp


@dataclass(frozen=True)
class GafetConfig:
    """Everything that fixes the shapes of the GaFET networks."""

    name: str = "custom"
    resolution: int = 256  # R: side of the square aligned face crop
    geometry_channels: int = 4  # C_g: geometry image = rendered normals (3) + face mask (1), §3.1
    appearance_channels: tuple[int, ...] = (32, 64, 128, 256, 512, 512)  # E_a + decoder width per scale
    geometry_feature_channels: tuple[int, ...] = (16, 32, 64, 128, 256, 256)  # E_e width per scale
    reference_channels: tuple[int, ...] = (16, 32, 64, 128, 256, 256)  # E_d width per scale
    global_dim: int = 512  # width of E_e's global vector (drives SGMM's global modulation)
    mfat: MfatConfig = field(default_factory=MfatConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    switches: Switches = field(default_factory=Switches)

    def __post_init__(self) -> None:
        validate(self)

    # -- derived sizes --------------------------------------------------------------------------

    @property
    def levels(self) -> int:
        """L: number of down-sampling steps of E_a / E_e / E_d (and up-sampling steps of the decoder)."""
        return len(self.appearance_channels) - 1

    def scale_size(self, i: int) -> int:
        """Side of scale ``i`` (0 = full resolution, L = bottleneck)."""
        return self.resolution >> i

    @property
    def mfat_scales(self) -> tuple[int, ...]:
        """Scale indices where MFAT runs, coarsest ("high") first; empty without MFAT."""
        if not self.switches.use_mfat:
            return ()
        count = self.mfat.levels if self.switches.multiscale_attention else 1
        return tuple(self.levels - k for k in range(count))

    def with_switches(self, **changes: bool) -> GafetConfig:
        """A copy with some ablation switches changed, e.g. ``cfg.with_switches(use_mfat=False)``."""
        return dataclasses.replace(self, switches=dataclasses.replace(self.switches, **changes))


def validate(cfg: GafetConfig) -> None:
    """Raise :class:`GafetConfigError` naming the first inconsistent or oversized value of ``cfg``.

    Every value that sizes a network is bounded (:data:`LIMITS`) and the whole model's cost is
    estimated from the numbers alone (:func:`estimate_cost`) against :data:`MAX_PARAMETERS` and
    :data:`MAX_GENERATOR_FLOPS`, so a crafted file is refused here, before any module is built.
    """

    def fail(msg: str) -> None:
        raise GafetConfigError(f"Invalid GaFET configuration '{_short(cfg.name)}': {msg}.")

    _check_limits(cfg, fail)
    levels = len(cfg.appearance_channels) - 1
    if levels < 1:
        fail(f"appearance_channels needs at least 2 entries, got {cfg.appearance_channels}")
    for fname in ("geometry_feature_channels", "reference_channels"):
        if len(getattr(cfg, fname)) != levels + 1:
            fail(f"{fname} has {len(getattr(cfg, fname))} entries, appearance_channels has {levels + 1}")
    for fname in ("appearance_channels", "geometry_feature_channels", "reference_channels"):
        if any(int(c) < 1 for c in getattr(cfg, fname)):
            fail(f"{fname} must be positive, got {getattr(cfg, fname)}")
    if cfg.resolution < 8 or cfg.resolution % (1 << levels) or (cfg.resolution >> levels) < 4:
        fail(f"resolution {cfg.resolution} must be divisible by 2**{levels} with a bottleneck of >= 4 px")
    if cfg.resolution & (cfg.resolution - 1):
        fail(f"resolution {cfg.resolution} must be a power of two (the discriminators halve it down to 4)")
    if cfg.geometry_channels < 1 or cfg.global_dim < 1:
        fail("geometry_channels and global_dim must be positive")
    m = cfg.mfat
    if not 1 <= m.levels <= levels + 1:
        fail(f"mfat.levels must be in 1..{levels + 1}, got {m.levels}")
    if m.depth < 0 or m.heads < 1 or m.ffn_ratio < 1:
        fail(f"mfat depth/heads/ffn_ratio out of range: {m}")
    if m.dim % m.heads or (m.dim // m.heads) < 1:
        fail(f"mfat.dim {m.dim} must be divisible by mfat.heads {m.heads}")
    if m.dim % 4:
        fail(f"mfat.dim {m.dim} must be divisible by 4 (2-D sine positional encoding)")
    d = cfg.discriminator
    if d.component_patch < 8 or d.component_patch & (d.component_patch - 1):
        fail(f"discriminator.component_patch must be a power of two >= 8, got {d.component_patch}")
    if min(d.base_channels, d.max_channels, d.component_base_channels, d.component_max_channels) < 1:
        fail("discriminator widths must be positive")
    if d.mbstd_group < 1:
        fail("discriminator.mbstd_group must be >= 1")
    if d.component_patch > cfg.resolution:
        fail(f"discriminator.component_patch {d.component_patch} must not exceed the resolution "
             f"{cfg.resolution}")
    layers = len(cfg.mfat_scales) * (2 * m.depth + 1)
    if layers > MAX_TRANSFORMER_LAYERS:
        fail(f"MFAT would have {layers} transformer layers ({len(cfg.mfat_scales)} levels x (2 x depth "
             f"{m.depth} + 1)); the ceiling is {MAX_TRANSFORMER_LAYERS}{_CEILINGS}")
    cost = estimate_cost(cfg)
    if cost.parameters > MAX_PARAMETERS or cost.generator_flops > MAX_GENERATOR_FLOPS:
        fail(f"the model would have about {cost.parameters / 1e6:,.0f} M parameters and "
             f"{cost.generator_flops / 1e9:,.0f} GFLOPs per generator forward; the ceilings are "
             f"{MAX_PARAMETERS / 1e6:,.0f} M parameters and {MAX_GENERATOR_FLOPS / 1e9:,.0f} GFLOPs")


# ---------------------------------------------------------------------------------------------
# Bounds and cost ceilings (a crafted config must be refused before anything is built)

# Upper bounds of the values that size a network (the presets use at most a quarter of each).
LIMITS: dict[str, int] = {
    "resolution": 2048,  # R
    "scales": 10,  # entries of the channel lists (L + 1)
    "channels": 4096,  # any entry of the channel lists, global_dim, discriminator widths
    "geometry_channels": 64,  # C_g
    "mfat.dim": 2048,  # d
    "mfat.depth": 16,  # N
    "mfat.heads": 64,
    "mfat.ffn_ratio": 16,
    "discriminator.mbstd_group": 64,
    "discriminator.component_patch": 1024,
}
# Whole-model ceilings, about 11x and 24x gafet-512 (G + D + D_comp 88 M parameters; G 85 GFLOPs per
# forward): room for larger research models, none for a crafted file.
MAX_PARAMETERS = 1_000_000_000  # generator + discriminators
MAX_GENERATOR_FLOPS = 2_000_000_000_000  # one full generator forward, batch 1 (2 FLOPs per multiply-add)
MAX_TRANSFORMER_LAYERS = 64  # MFAT levels x (2 x depth + 1); gafet-256 has 15 (keeps building fast)


_CEILINGS = (f" (every size is bounded, and a model must stay under {MAX_PARAMETERS / 1e6:,.0f} M parameters "
             f"and {MAX_GENERATOR_FLOPS / 1e9:,.0f} GFLOPs per generator forward)")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(text: object, limit: int = 60) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit] + "..."


def _check_limits(cfg: GafetConfig, fail: Callable[[str], None]) -> None:
    """Types and upper bounds of every sizing value: cheap checks that run before any arithmetic."""
    lists = ("appearance_channels", "geometry_feature_channels", "reference_channels")
    for fname in lists:
        value = getattr(cfg, fname)
        if not isinstance(value, tuple):
            fail(f"{fname} must be a tuple of widths, got {_short(repr(value))}")
        if len(value) > LIMITS["scales"]:
            fail(f"{fname} has {len(value)} entries, above the limit of {LIMITS['scales']}{_CEILINGS}")
        if not all(_is_int(c) for c in value):
            fail(f"{fname} must hold integers, got {_short(value)}")
        if any(c > LIMITS["channels"] for c in value):
            fail(f"{fname} has a width above the limit of {LIMITS['channels']}: {_short(value)}{_CEILINGS}")
    m, d = cfg.mfat, cfg.discriminator
    scalars = {
        "resolution": (cfg.resolution, "resolution"),
        "geometry_channels": (cfg.geometry_channels, "geometry_channels"),
        "global_dim": (cfg.global_dim, "channels"),
        "mfat.dim": (m.dim, "mfat.dim"),
        "mfat.depth": (m.depth, "mfat.depth"),
        "mfat.heads": (m.heads, "mfat.heads"),
        "mfat.levels": (m.levels, "scales"),
        "mfat.ffn_ratio": (m.ffn_ratio, "mfat.ffn_ratio"),
        "discriminator.base_channels": (d.base_channels, "channels"),
        "discriminator.max_channels": (d.max_channels, "channels"),
        "discriminator.mbstd_group": (d.mbstd_group, "discriminator.mbstd_group"),
        "discriminator.component_base_channels": (d.component_base_channels, "channels"),
        "discriminator.component_max_channels": (d.component_max_channels, "channels"),
        "discriminator.component_patch": (d.component_patch, "discriminator.component_patch"),
    }
    for name, (value, limit) in scalars.items():
        if not _is_int(value):
            fail(f"{name} must be an integer, got {_short(repr(value))}")
        if value > LIMITS[limit]:
            fail(f"{name} is {_short(value)}, above the limit of {LIMITS[limit]}{_CEILINGS}")


@dataclass(frozen=True)
class NetworkCost:
    """Size of every network a config describes, computed from the config's numbers alone.

    parameters: generator + global discriminator + component discriminator (exact).
    generator_flops: one full generator forward at batch 1, 2 FLOPs per multiply-add, counting
    convolutions, linear layers and attention like :func:`core.nets.stats.count_flops` (an
    estimate within a few percent of it).
    """

    parameters: int
    generator_flops: int


class _Tally:
    """Parameters and FLOPs of layers, added one at a time."""

    def __init__(self) -> None:
        self.params = 0
        self.flops = 0

    def conv(self, c_in: int, c_out: int, k: int, side: int, *, bias: bool = True) -> None:
        """A k x k convolution whose output is ``side`` x ``side`` (side 0: parameters only)."""
        self.params += c_out * c_in * k * k + (c_out if bias else 0)
        self.flops += 2 * c_out * c_in * k * k * side * side

    def linear(self, n_in: int, n_out: int, tokens: int, *, bias: bool = True) -> None:
        self.params += n_in * n_out + (n_out if bias else 0)
        self.flops += 2 * n_in * n_out * tokens

    def pyramid(self, c_in: int, widths: tuple[int, ...], r: int) -> None:
        self.conv(c_in, widths[0], 3, r)
        self.conv(widths[0], widths[0], 3, r)
        for i in range(1, len(widths)):
            self.conv(widths[i - 1], widths[i], 3, r >> i)
            self.conv(widths[i], widths[i], 3, r >> i)

    def attention(self, dim: int, queries: int, keys: int) -> None:
        self.linear(dim, dim, queries)  # q
        self.linear(dim, dim, keys, bias=False)  # k
        self.linear(dim, dim, keys)  # v
        self.linear(dim, dim, queries)  # out
        self.flops += 4 * queries * keys * dim  # q k^T and (softmax) v

    def ffn(self, dim: int, ratio: int, tokens: int) -> None:
        self.linear(dim, dim * ratio, tokens)
        self.linear(dim * ratio, dim, tokens)

    def discriminator(self, size: int, base: int, cap: int) -> None:
        def width(side: int) -> int:
            return min(cap, base * (size // side))

        self.conv(3, width(size), 1, 0)
        side = size
        while side > 4:
            self.conv(width(side), width(side), 3, 0)
            self.conv(width(side), width(side // 2), 3, 0)
            self.conv(width(side), width(side // 2), 1, 0, bias=False)
            side //= 2
        self.conv(width(4) + 1, width(4), 3, 0)
        self.linear(width(4) * 16, width(4), 0)
        self.linear(width(4), 1, 0)


def estimate_cost(cfg: GafetConfig) -> NetworkCost:
    """Parameters and generator FLOPs of ``cfg``'s networks, without building them (microseconds)."""
    t = _Tally()
    r, sw, m = cfg.resolution, cfg.switches, cfg.mfat
    app, geo, ref = cfg.appearance_channels, cfg.geometry_feature_channels, cfg.reference_channels
    levels = len(app) - 1
    t.pyramid(3, app, r)  # E_a
    t.pyramid(cfg.geometry_channels, geo, r)  # E_e
    style = cfg.global_dim if sw.use_global_modulation else None
    if style is not None:  # E_e's global head
        t.conv(geo[-1], style, 3, r >> levels)
        t.linear(style, style, 1)
        t.linear(style, style, 1)
    scales = cfg.mfat_scales
    if scales:  # E_d and MFAT
        t.pyramid(3, ref[: max(scales) + 1], r)
        for i in scales:
            t.conv(ref[i], m.dim, 1, r >> i)
        for i in scales:
            n = (r >> i) ** 2
            for _ in range(2 * m.depth):  # reference and query streams
                t.params += 4 * m.dim  # two LayerNorms
                t.attention(m.dim, n, n)
                t.ffn(m.dim, m.ffn_ratio, n)
            t.conv(geo[i], m.dim, 1, r >> i)  # query in
            t.conv(m.dim, geo[i], 1, r >> i)  # out
            t.params += 6 * m.dim  # cross-attention's three LayerNorms
            t.attention(m.dim, n, n)
            t.ffn(m.dim, m.ffn_ratio, n)
    extra = 2 if sw.use_feature_deformation else 0
    for i in range(levels + 1):  # SGMM decoder
        side = r >> i
        t.conv((app[i] if i == levels else 2 * app[i]) + extra, app[i], 3, side)  # fuse
        if i < levels:  # 4x4 stride-2 transposed conv from scale i + 1
            t.params += app[i + 1] * app[i] * 16 + app[i]
            t.flops += 2 * app[i + 1] * app[i] * 16 * (side // 2) ** 2
        for _ in range(2):
            t.conv(geo[i], app[i], 3, side)  # gamma
            t.conv(geo[i], app[i], 3, side)  # beta
            t.conv(app[i], app[i], 3, side, bias=False)
            if style is not None:
                t.linear(style, app[i], 1)  # the modulation's affine
        t.params += 2 * app[i]  # block biases
    if style is not None:  # toRGB
        t.conv(app[0], 3, 1, r, bias=False)
        t.linear(style, app[0], 1)
        t.params += 3
    else:
        t.conv(app[0], 3, 1, r)
    flops = t.flops
    d = cfg.discriminator
    t.discriminator(r, d.base_channels, d.max_channels)
    if sw.use_component_discriminator:
        t.discriminator(d.component_patch, d.component_base_channels, d.component_max_channels)
    return NetworkCost(parameters=t.params, generator_flops=flops)


# ---------------------------------------------------------------------------------------------
# Presets

PRESETS: dict[str, GafetConfig] = {
    "gafet-256": GafetConfig(
        name="gafet-256",
        resolution=256,
        appearance_channels=(32, 64, 128, 256, 512, 512),
        geometry_feature_channels=(16, 32, 64, 128, 256, 256),
        reference_channels=(16, 32, 64, 128, 256, 256),
        global_dim=512,
        mfat=MfatConfig(dim=256, depth=2, heads=8, levels=3),
        discriminator=DiscriminatorConfig(base_channels=32, max_channels=512, component_base_channels=16,
                                          component_max_channels=128, component_patch=64),
    ),
    "gafet-512": GafetConfig(
        name="gafet-512",
        resolution=512,
        appearance_channels=(16, 32, 64, 128, 256, 512, 512),
        geometry_feature_channels=(8, 16, 32, 64, 128, 256, 256),
        reference_channels=(8, 16, 32, 64, 128, 256, 256),
        global_dim=512,
        mfat=MfatConfig(dim=256, depth=2, heads=8, levels=3),
        discriminator=DiscriminatorConfig(base_channels=16, max_channels=512, component_base_channels=16,
                                          component_max_channels=128, component_patch=128),
    ),
    # 128² for CPU experiments (training config ``video-128``): gafet-256's structure, about a
    # quarter of its widths (G 15 M params, 4 GFLOPs; notes/training.md §7 "small-128").
    "small-128": GafetConfig(
        name="small-128",
        resolution=128,
        appearance_channels=(16, 32, 64, 128, 256, 256),
        geometry_feature_channels=(8, 16, 32, 64, 128, 128),
        reference_channels=(8, 16, 32, 64, 128, 128),
        global_dim=256,
        mfat=MfatConfig(dim=128, depth=1, heads=4, levels=3),
        discriminator=DiscriminatorConfig(base_channels=16, max_channels=256, component_base_channels=8,
                                          component_max_channels=64, component_patch=32),
    ),
    # Small enough to train on a CPU in tests; same structure as the real presets.
    "tiny-64": GafetConfig(
        name="tiny-64",
        resolution=64,
        appearance_channels=(8, 16, 24, 32, 32),
        geometry_feature_channels=(4, 8, 12, 16, 16),
        reference_channels=(4, 8, 12, 16, 16),
        global_dim=32,
        mfat=MfatConfig(dim=32, depth=1, heads=2, levels=3, ffn_ratio=2),
        discriminator=DiscriminatorConfig(base_channels=16, max_channels=64, mbstd_group=2,
                                          component_base_channels=8, component_max_channels=32,
                                          component_patch=16),
    ),
}


def preset(name: str) -> GafetConfig:
    """The named preset (``gafet-256``, ``gafet-512``, ``small-128``, ``tiny-64``)."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise GafetConfigError(f"Unknown GaFET preset '{name}'. Known presets: {known}.") from None


# ---------------------------------------------------------------------------------------------
# JSON form: {"format_version": 1, "name": ..., "resolution": ..., "mfat": {...}, ...}

_C = TypeVar("_C")

_SECTIONS = {"mfat": MfatConfig, "discriminator": DiscriminatorConfig, "switches": Switches}


def config_to_dict(cfg: GafetConfig) -> dict[str, Any]:
    """A JSON-ready dict of ``cfg`` (tuples become lists) with ``format_version``."""
    out: dict[str, Any] = {"format_version": CONFIG_FORMAT_VERSION}
    for key, value in dataclasses.asdict(cfg).items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _build(cls: type[_C], raw: object, where: str) -> _C:
    if not isinstance(raw, dict):
        raise GafetConfigError(f"GaFET configuration: '{where}' must be a JSON object, "
                               f"got {type(raw).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise GafetConfigError(f"GaFET configuration: unknown field(s) {', '.join(unknown)} in '{where}'.")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        default = fields[name].default if fields[name].default is not dataclasses.MISSING else None
        if name in _SECTIONS and cls is GafetConfig:
            kwargs[name] = _build(_SECTIONS[name], value, name)
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(_is_int(v) for v in value):
                raise GafetConfigError(f"GaFET configuration: '{where}.{name}' must be a list of integers.")
            kwargs[name] = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise GafetConfigError(f"GaFET configuration: '{where}.{name}' must be true or false.")
            kwargs[name] = value
        elif isinstance(default, int):
            if not _is_int(value):
                raise GafetConfigError(f"GaFET configuration: '{where}.{name}' must be an integer, "
                                       f"got {value!r}.")
            kwargs[name] = value
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise GafetConfigError(f"GaFET configuration: '{where}.{name}' must be a string.")
            kwargs[name] = value
        else:
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(raw: object) -> GafetConfig:
    """Parse :func:`config_to_dict` output; raises :class:`GafetConfigError` on anything off."""
    if not isinstance(raw, dict):
        raise GafetConfigError("GaFET configuration must be a JSON object.")
    raw = dict(raw)
    version = raw.pop("format_version", None)
    if version != CONFIG_FORMAT_VERSION:
        raise GafetConfigError(
            f"GaFET configuration format_version is {version!r}; this version reads {CONFIG_FORMAT_VERSION}.")
    return _build(GafetConfig, raw, "config")


def config_to_json(cfg: GafetConfig, *, indent: int | None = None) -> str:
    return json.dumps(config_to_dict(cfg), indent=indent, sort_keys=False)


def config_from_json(text: str) -> GafetConfig:
    """Parse :func:`config_to_json` output; raises :class:`GafetConfigError` on anything off (also on
    JSON nested too deeply for the parser)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise GafetConfigError(f"GaFET configuration is not valid JSON ({err.msg} at line {err.lineno}).") \
            from None
    except RecursionError:
        raise GafetConfigError("GaFET configuration: its JSON is nested too deeply to be a config.") from None
    return config_from_dict(raw)


MAX_CONFIG_FILE_BYTES = 1 << 20  # a config is a few hundred bytes


def config_from_file(path: str | os.PathLike[str]) -> GafetConfig:
    """Read a JSON config file (UTF-8, at most 1 MiB, a regular file); every problem is a
    :class:`GafetConfigError` naming the file (see :mod:`core.io.json_file`)."""
    raw = read_json_file(path, error=GafetConfigError, label="Config file", noun="config",
                         max_bytes=MAX_CONFIG_FILE_BYTES)
    try:
        return config_from_dict(raw)
    except GafetConfigError as err:
        raise GafetConfigError(f"Config file {path}: {err}") from None
