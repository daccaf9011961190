"""GaFET inference with caches: what the intensity slider calls (DESIGN §2, §6).

The source work (E_a) and the reference work (E_d, MFAT self-attention on the reference tokens and
their cross-attention keys/values) are computed once per source / reference and cached; a slider
move (new geometry image + flow for a new alpha) only runs E_e, MFAT's query side and
cross-attention, feature deformation and the decoder.

Precision: ``"auto"`` runs CUDA under float16 autocast (3 more mantissa bits than bfloat16; its
narrower range is what the fallback below is for) and CPUs in float32. Every result is checked for
NaN/inf; a reduced-precision result that is not finite is recomputed in float32 (caches included),
and float32 then sticks until the source or the reference changes. :class:`EngineResult` records
which precision produced the image.

Typical use::

    engine = GafetEngine.from_checkpoint(path)            # cuda if available, else cpu
    engine.set_source(source)                              # (1, 3, R, R) in [-1, 1]
    engine.set_reference(reference)
    for geometry, flow in slider_positions:
        image = engine.render(geometry, flow).image        # (1, 3, R, R) in [-1, 1]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from core.errors import GafetError
from core.nets.checkpoint import load_checkpoint
from core.nets.config import GafetConfig
from core.nets.gafet import GaFET, ReferenceEncoding, SourceEncoding

logger = logging.getLogger(__name__)

Precision = Literal["auto", "float32", "float16", "bfloat16"]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_NON_FINITE = ("The GaFET model produced invalid pixel values (NaN or infinity) even in full precision; "
               "the checkpoint may be damaged or untrained.")


class NonFiniteOutputError(GafetError):
    """The model produced NaN or infinite values even in float32."""


class EngineStateError(RuntimeError):
    """``render`` was called before a source and a reference were set (a caller bug)."""


class EngineResult(NamedTuple):
    """One rendered image.

    image: (B, 3, R, R) float32 in [-1, 1] (clamped), on the engine's device.
    precision: "float32", "float16" or "bfloat16": the precision that produced ``image``.
    fell_back: True when reduced precision gave NaN/inf (this time or earlier for this
        source/reference pair) and ``image`` was therefore computed in float32.
    source_cached, reference_cached: whether the source / reference work was reused.
    """

    image: torch.Tensor
    precision: str
    fell_back: bool
    source_cached: bool
    reference_cached: bool


@dataclass
class EngineStats:
    """Counters since construction (for tests, benchmarks and the Studio's status line)."""

    source_encodes: int = 0
    reference_encodes: int = 0
    decodes: int = 0
    fallbacks: int = 0


def resolve_device(device: torch.device | str | None) -> torch.device:
    """None -> CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_precision(precision: Precision, device: torch.device) -> str:
    """"auto" -> float16 on CUDA, float32 elsewhere; explicit values pass through."""
    if precision == "auto":
        if device.type == "cuda":
            return "float16"
        return "float32"
    if precision not in _DTYPES:
        raise ValueError(f"precision must be one of auto, {', '.join(_DTYPES)}; got {precision!r}")
    return precision


class GafetEngine:
    """Cached GaFET inference for one source and one reference at a time.

    The engine takes over ``model``: it moves it to ``device`` and puts it in eval mode without
    gradients. Not thread-safe: use one engine per worker thread.
    """

    def __init__(self, model: GaFET, *, device: torch.device | str | None = None,
                 precision: Precision = "auto") -> None:
        self._device = resolve_device(device)
        self._precision = resolve_precision(precision, self._device)
        self.model = model.to(self._device).eval().requires_grad_(False)
        self.stats = EngineStats()
        self._source: torch.Tensor | None = None
        self._reference: torch.Tensor | None = None
        self._source_cache: dict[str, SourceEncoding] = {}
        self._reference_cache: dict[str, ReferenceEncoding] = {}
        self._force_float32 = False

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: torch.device | str | None = None,
                        precision: Precision = "auto") -> GafetEngine:
        """Load a checkpoint's generator (see :func:`core.nets.checkpoint.load_checkpoint`)."""
        loaded = load_checkpoint(path, device="cpu")
        return cls(loaded.generator, device=device, precision=precision)

    @property
    def config(self) -> GafetConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def precision(self) -> str:
        """The precision renders try first (``float32`` after a fallback, until inputs change)."""
        return "float32" if self._force_float32 else self._precision

    # -- inputs -----------------------------------------------------------------------------------

    def _prepare(self, image: torch.Tensor, name: str) -> torch.Tensor:
        r = self.config.resolution
        if not isinstance(image, torch.Tensor) or image.ndim != 4 or tuple(image.shape[1:]) != (3, r, r):
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"{name}: expected a (B, 3, {r}, {r}) tensor in [-1, 1], got {shape}")
        if not image.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point tensor, got {image.dtype}")
        return image.detach().to(self._device, torch.float32)

    def set_source(self, source: torch.Tensor) -> None:
        """source: (B, 3, R, R) float in [-1, 1]. Drops the source cache (computed at the next render)."""
        self._source = self._prepare(source, "source")
        self._source_cache.clear()
        self._force_float32 = False

    def set_reference(self, reference: torch.Tensor) -> None:
        """reference: (B, 3, R, R) float in [-1, 1]. Drops the reference cache."""
        self._reference = self._prepare(reference, "reference")
        self._reference_cache.clear()
        self._force_float32 = False

    def clear(self) -> None:
        """Forget the source, the reference and all caches."""
        self._source = self._reference = None
        self._source_cache.clear()
        self._reference_cache.clear()
        self._force_float32 = False

    # -- running ----------------------------------------------------------------------------------

    def _run(self, precision: str, geometry: torch.Tensor, flow: torch.Tensor) -> EngineResult:
        assert self._source is not None and self._reference is not None
        dtype = _DTYPES[precision]
        autocast = torch.autocast(self._device.type, dtype=dtype, enabled=dtype != torch.float32)
        with torch.inference_mode(), autocast:
            src = self._source_cache.get(precision)
            source_cached = src is not None
            if src is None:
                src = self._source_cache[precision] = self.model.encode_source(self._source)
                self.stats.source_encodes += 1
            ref = self._reference_cache.get(precision)
            reference_cached = ref is not None
            if ref is None:
                ref = self._reference_cache[precision] = self.model.encode_reference(self._reference)
                self.stats.reference_encodes += 1
            image = self.model.decode(src, ref, geometry, flow).image
            self.stats.decodes += 1
        return EngineResult(image=image.float(), precision=precision, fell_back=self._force_float32,
                            source_cached=source_cached, reference_cached=reference_cached)

    def render(self, geometry: torch.Tensor, flow: torch.Tensor) -> EngineResult:
        """Render with the cached source and reference.

        geometry: (B, C_g, R, R) float geometry image; flow: (B, R, R, 2) backward-flow grid
        (see :mod:`core.nets.gafet`). B must equal the source's and the reference's batch.
        """
        if self._source is None or self._reference is None:
            missing = [n for n, t in (("source", self._source), ("reference", self._reference)) if t is None]
            raise EngineStateError(f"GafetEngine.render: no {' and '.join(missing)} set; "
                                   f"call set_source/set_reference first")
        geometry = geometry.detach().to(self._device, torch.float32)
        flow = flow.detach().to(self._device, torch.float32)
        result = self._run(self.precision, geometry, flow)
        if not bool(torch.isfinite(result.image).all()):
            if result.precision == "float32":
                raise NonFiniteOutputError(_NON_FINITE)
            logger.warning("GaFET output in %s is not finite; recomputing in float32 (and staying in "
                           "float32 for this source/reference).", result.precision)
            self.stats.fallbacks += 1
            self._force_float32 = True
            result = self._run("float32", geometry, flow)
            if not bool(torch.isfinite(result.image).all()):
                raise NonFiniteOutputError(_NON_FINITE)
        return result._replace(image=result.image.clamp(-1.0, 1.0))

    def __call__(self, source: torch.Tensor, reference: torch.Tensor, geometry: torch.Tensor,
                 flow: torch.Tensor) -> EngineResult:
        """Render, re-encoding the source / reference only when their values changed (``torch.equal``)."""
        src = self._prepare(source, "source")
        if self._source is None or self._source.shape != src.shape or not torch.equal(self._source, src):
            self.set_source(src)
        ref = self._prepare(reference, "reference")
        ref_changed = self._reference is None or self._reference.shape != ref.shape
        if ref_changed or not torch.equal(self._reference, ref):
            self.set_reference(ref)
        return self.render(geometry, flow)
