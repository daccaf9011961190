"""GaFET: the geometry-aware facial expression translation generator (§3, Figs. 2-4).

``GaFET(source, reference, geometry, flow) -> GafetOutput`` composes:

* E_a (:class:`AppearanceEncoder`) on the source, warped at every scale by the flow (feature
  deformation, :class:`FeatureDeformation`);
* E_e (:class:`GeometryEncoder`) on the geometry image: spatial features + global vector;
* E_d (:class:`ReferenceEncoder`) on the reference, and MFAT (:class:`Mfat`), which adds aligned
  reference detail to E_e's coarsest spatial features;
* the SGMM decoder (:class:`SgmmDecoder`).

The work is split by what it depends on, so an inference engine can cache it:
:meth:`GaFET.encode_source` (source only), :meth:`GaFET.encode_reference` (reference only) and
:meth:`GaFET.decode` (geometry and flow, plus the two caches). ``forward`` is exactly these three.

Inputs (R = ``config.resolution``; all float, same batch B):

* source, reference: (B, 3, R, R) RGB in [-1, 1], aligned face crops;
* geometry: (B, C_g, R, R) geometry image; default C_g = 4: rendered normals (3 ch, [-1, 1], zero
  off the face) + face mask (1 ch, {0, 1});
* flow: (B, R, R, 2) backward flow target -> source as a ``grid_sample`` grid (normalised (x, y),
  ``align_corners=False``); no motion = :func:`core.render.flow.identity_grid`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from core.checks import assert_float, assert_shape
from core.nets.appearance_encoder import AppearanceEncoder
from core.nets.config import GafetConfig
from core.nets.discriminator import (
    ResidualDiscriminator,
    build_component_discriminator,
    build_global_discriminator,
)
from core.nets.feature_deformation import FeatureDeformation
from core.nets.generator import SgmmDecoder
from core.nets.geometry_encoder import GeometryEncoder
from core.nets.mfat import Mfat, ReferenceMemory
from core.nets.reference_encoder import ReferenceEncoder


class SourceEncoding(NamedTuple):
    """Cacheable source work: E_a features, features[i] (B, appearance_channels[i], R/2**i, R/2**i)."""

    features: tuple[torch.Tensor, ...]


class ReferenceEncoding(NamedTuple):
    """Cacheable reference work: E_d features per MFAT level and MFAT's reference memory.

    Both are None when MFAT is off (the reference is then unused).
    """

    features: tuple[torch.Tensor, ...] | None
    memory: ReferenceMemory | None


class GafetIntermediates(NamedTuple):
    """Optional intermediates of one decode (for inspection, visualisation and losses)."""

    warped_appearance: tuple[torch.Tensor, ...]  # E_a features after FD, finest first
    geometry_features: tuple[torch.Tensor, ...]  # E_e spatial features before MFAT
    expression_features: tuple[torch.Tensor, ...]  # E_e + MFAT residual (SGMM's spatial condition)
    global_vector: torch.Tensor | None  # (B, global_dim), None without global modulation


class GafetOutput(NamedTuple):
    """image: (B, 3, R, R) float, nominally in [-1, 1] (not clamped); intermediates on request."""

    image: torch.Tensor
    intermediates: GafetIntermediates | None = None


class GaFET(nn.Module):
    """The GaFET generator. Build from a :class:`GafetConfig` (``core.nets.config.preset``)."""

    def __init__(self, *, config: GafetConfig) -> None:
        super().__init__()
        self.config = config
        sw = config.switches
        self.appearance_encoder = AppearanceEncoder(config=config)  # E_a
        self.geometry_encoder = GeometryEncoder(config=config)  # E_e
        self.reference_encoder = ReferenceEncoder(config=config) if sw.use_mfat else None  # E_d
        self.mfat = Mfat(config=config) if sw.use_mfat else None
        self.deformation = FeatureDeformation() if sw.use_feature_deformation else None
        self.decoder = SgmmDecoder(config=config)

    # -- stages ---------------------------------------------------------------------------------

    def encode_source(self, source: torch.Tensor) -> SourceEncoding:
        """source: (B, 3, R, R) float in [-1, 1] -> E_a features (depends on the source only)."""
        return SourceEncoding(features=self.appearance_encoder(source))

    def encode_reference(self, reference: torch.Tensor) -> ReferenceEncoding:
        """reference: (B, 3, R, R) float in [-1, 1] -> E_d features, MFAT self-attention and keys/values."""
        r = self.config.resolution
        assert_shape(reference, ("B", 3, r, r), "reference")
        assert_float(reference, "reference")
        if self.reference_encoder is None or self.mfat is None:
            return ReferenceEncoding(features=None, memory=None)
        features = self.reference_encoder(reference)
        return ReferenceEncoding(features=features, memory=self.mfat.encode_reference(features))

    def decode(self, source: SourceEncoding, reference: ReferenceEncoding, geometry: torch.Tensor,
               flow: torch.Tensor, *, return_intermediates: bool = False) -> GafetOutput:
        """The geometry-dependent part: E_e, MFAT (query side), feature deformation, decoder.

        geometry: (B, C_g, R, R); flow: (B, R, R, 2) grid (see the module docstring).
        """
        r = self.config.resolution
        dims = assert_shape(geometry, ("B", self.config.geometry_channels, r, r), "geometry")
        assert_shape(flow, (dims["B"], r, r, 2), "flow")
        assert_float(flow, "flow")
        batch = source.features[0].shape[0]
        if batch != dims["B"]:
            raise ValueError(f"decode: the source encoding has batch {batch}, geometry has batch {dims['B']}")
        geo = self.geometry_encoder(geometry)
        expression = geo.spatial
        if self.mfat is not None:
            if reference.memory is None:
                raise ValueError("decode: this model uses MFAT but the reference encoding is empty")
            ref_batch = reference.memory.kv[0].keys.shape[0]
            if ref_batch != batch:
                raise ValueError(f"decode: the reference encoding has batch {ref_batch}, "
                                 f"geometry has batch {batch}")
            expression = self.mfat(expression, reference.memory)
        if self.deformation is not None:
            deformed = self.deformation(source.features, flow)
            appearance, displacement = deformed.features, deformed.displacement
        else:
            appearance, displacement = source.features, None
        image = self.decoder(appearance, displacement, expression, geo.global_vector)
        inter = (GafetIntermediates(warped_appearance=appearance, geometry_features=geo.spatial,
                                    expression_features=expression, global_vector=geo.global_vector)
                 if return_intermediates else None)
        return GafetOutput(image=image, intermediates=inter)

    def forward(self, source: torch.Tensor, reference: torch.Tensor, geometry: torch.Tensor,
                flow: torch.Tensor, *, return_intermediates: bool = False) -> GafetOutput:
        """Translate the reference's expression onto the source (shapes in the module docstring)."""
        r = self.config.resolution
        dims = assert_shape(source, ("B", 3, r, r), "source")
        assert_shape(reference, (dims["B"], 3, r, r), "reference")
        return self.decode(self.encode_source(source), self.encode_reference(reference), geometry, flow,
                           return_intermediates=return_intermediates)


class GafetNetworks(NamedTuple):
    """Every network a config describes: the generator and the discriminators used to train it."""

    generator: GaFET
    discriminator: ResidualDiscriminator
    component_discriminator: ResidualDiscriminator | None  # None when the switch is off

    def modules_by_name(self) -> dict[str, nn.Module]:
        """``{"generator": ..., "discriminator": ..., "component_discriminator": ...}`` (present ones)."""
        return {name: m for name, m in self._asdict().items() if m is not None}


def build_networks(config: GafetConfig) -> GafetNetworks:
    """Randomly initialised G, global D and (if enabled) component D for ``config``."""
    return GafetNetworks(generator=GaFET(config=config), discriminator=build_global_discriminator(config),
                         component_discriminator=build_component_discriminator(config))
