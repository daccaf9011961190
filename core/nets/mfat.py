"""MFAT: the Multi-level Feature Aligned Transformer (§3.2, Fig. 3).

For each level (scale ``s`` of the decoder, coarsest first):

1. reference stream: E_d's tokens + positions -> N transformer-encoder layers (self-attention);
2. query stream: E_e's spatial features at ``s`` -> 1x1 projection to ``d`` -> tokens + positions ->
   N transformer-encoder layers;
3. cross-attention: E_e tokens query, E_d tokens are keys and values (both with positions);
4. the result -> 1x1 projection back to E_e's width -> added to E_e's features as a residual.

Steps 1 and the reference half of 3 (keys, values) depend only on the reference:
:meth:`Mfat.encode_reference` computes them once into a :class:`ReferenceMemory`, and
:meth:`Mfat.forward` reuses it for every new geometry.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from core.checks import assert_shape
from core.nets.config import GafetConfig
from core.nets.layers import EqualConv2d
from core.nets.transformer import (
    CrossAttention,
    KeyValue,
    TransformerEncoder,
    map_from_tokens,
    sine_positions_2d,
    tokens_from_map,
)


class ReferenceMemory(NamedTuple):
    """Per MFAT level (coarsest first): cross-attention keys/values of the self-attended E_d tokens.

    tokens[k]: (B, N_k, d) self-attended reference tokens; kv[k]: keys/values (B, heads, N_k, d/heads).
    """

    tokens: tuple[torch.Tensor, ...]
    kv: tuple[KeyValue, ...]


class MfatLevel(nn.Module):
    """MFAT at one scale."""

    def __init__(self, *, query_channels: int, dim: int, depth: int, heads: int, ffn_ratio: int) -> None:
        super().__init__()
        self.query_channels = query_channels
        self.dim = dim
        self.reference_encoder = TransformerEncoder(dim=dim, depth=depth, heads=heads, ffn_ratio=ffn_ratio)
        self.query_in = EqualConv2d(in_channels=query_channels, out_channels=dim, kernel=1)
        self.query_encoder = TransformerEncoder(dim=dim, depth=depth, heads=heads, ffn_ratio=ffn_ratio)
        self.cross = CrossAttention(dim=dim, heads=heads, ffn_ratio=ffn_ratio)
        self.out = EqualConv2d(in_channels=dim, out_channels=query_channels, kernel=1)

    def encode_reference(self, tokens: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, KeyValue]:
        """tokens: (B, N, d) E_d tokens; pos: (N, d) or (B, N, d) their positional codes.

        Returns the self-attended tokens (B, N, d) and their cross-attention keys/values. Permuting
        ``tokens`` and ``pos`` together permutes both outputs the same way along N.
        """
        attended = self.reference_encoder(tokens, pos)
        return attended, self.cross.key_value(attended, pos)

    def forward(self, expression: torch.Tensor, kv: KeyValue) -> torch.Tensor:
        """expression: (B, C_e, h, w) E_e features; kv: from :meth:`encode_reference` -> (B, C_e, h, w).

        Returns ``expression + residual`` (the MFAT-aligned reference detail added to geometry).
        """
        dims = assert_shape(expression, ("B", self.query_channels, "H", "W"), "MFAT expression features")
        h, w = dims["H"], dims["W"]
        pos = sine_positions_2d(h, w, self.dim, device=expression.device)
        queries = self.query_encoder(tokens_from_map(self.query_in(expression)), pos)
        aligned = self.cross.attend(queries, pos, kv)
        return expression + self.out(map_from_tokens(aligned, h, w))


class Mfat(nn.Module):
    """All MFAT levels; runs on the scales ``config.mfat_scales`` (coarsest first)."""

    def __init__(self, *, config: GafetConfig) -> None:
        super().__init__()
        m = config.mfat
        self.dim = m.dim
        self.scales = config.mfat_scales
        self.levels = nn.ModuleList(
            MfatLevel(query_channels=config.geometry_feature_channels[i], dim=m.dim, depth=m.depth,
                      heads=m.heads, ffn_ratio=m.ffn_ratio)
            for i in self.scales
        )

    def encode_reference(self, reference_features: tuple[torch.Tensor, ...]) -> ReferenceMemory:
        """reference_features: E_d output, levels[k] (B, d, h_k, w_k) coarsest first -> ReferenceMemory."""
        if len(reference_features) != len(self.levels):
            raise ValueError(f"MFAT expects {len(self.levels)} reference levels, "
                             f"got {len(reference_features)}")
        tokens, kvs = [], []
        for level, feat in zip(self.levels, reference_features, strict=True):
            dims = assert_shape(feat, ("B", self.dim, "H", "W"), "MFAT reference features")
            pos = sine_positions_2d(dims["H"], dims["W"], self.dim, device=feat.device)
            attended, kv = level.encode_reference(tokens_from_map(feat), pos)
            tokens.append(attended)
            kvs.append(kv)
        return ReferenceMemory(tokens=tuple(tokens), kv=tuple(kvs))

    def forward(self, expression: tuple[torch.Tensor, ...],
                memory: ReferenceMemory) -> tuple[torch.Tensor, ...]:
        """expression: E_e spatial pyramid, finest first -> same pyramid with MFAT residuals added."""
        out = list(expression)
        for level, scale, kv in zip(self.levels, self.scales, memory.kv, strict=True):
            out[scale] = level(expression[scale], kv)
        return tuple(out)
