"""Transformer parts of MFAT (§3.2, Fig. 3): positional encoding, self- and cross-attention.

Tokens are ``(B, N, d)`` float; positions ``(N, d)`` or ``(B, N, d)``. All blocks are pre-norm.
Attention uses :func:`torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient
kernels where the device has them). The key projection has no bias: a key bias adds the same
logit to every key of a query, which softmax ignores (its gradient would always be zero).

Cross-attention is split in two so that an inference engine can cache the reference side:
:meth:`CrossAttention.key_value` (reference tokens -> keys, values) and :meth:`CrossAttention.attend`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_shape


def sine_positions_2d(height: int, width: int, dim: int, *, device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Fixed 2-D sine/cosine encoding of a ``height x width`` token grid -> (height * width, dim).

    Row-major token order (token ``n = y * width + x``). The first half of the channels encodes
    the x coordinate, the second half y; each half is ``[sin(p * f_k), cos(p * f_k)]`` with
    ``f_k = 100 * 10000 ** (-k / (dim / 4))``. Coordinates ``p`` are pixel centres normalised to
    [0, 1], so the same location gets the same code at every resolution.
    """
    if dim % 4:
        raise ValueError(f"sine_positions_2d: dim must be divisible by 4, got {dim}")
    quarter = dim // 4
    # Angles p * 100 * f_k for p in [0, 1]: the fastest band turns ~16 times across the grid.
    k = torch.arange(quarter, device=device, dtype=torch.float32)
    freqs = 100.0 * torch.exp(k * (-math.log(10000.0) / quarter))
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    px = grid_x.reshape(-1, 1) * freqs  # (N, dim/4)
    py = grid_y.reshape(-1, 1) * freqs
    return torch.cat([px.sin(), px.cos(), py.sin(), py.cos()], dim=1).to(dtype)


def tokens_from_map(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C), row-major: ``b c h w -> b (h w) c``."""
    return x.flatten(2).transpose(1, 2)


def map_from_tokens(t: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W): ``b (h w) c -> b c h w``."""
    assert_shape(t, ("B", height * width, "C"), "map_from_tokens")
    return t.transpose(1, 2).unflatten(2, (height, width))


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """``b n (h e) -> b h n e``."""
    return t.unflatten(-1, (heads, t.shape[-1] // heads)).transpose(1, 2)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    """``b h n e -> b n (h e)``."""
    return t.transpose(1, 2).flatten(2)


class KeyValue(NamedTuple):
    """Attention keys and values of one token set, already split into heads.

    keys, values: (B, heads, N_kv, d / heads), in the dtype they were computed in.
    """

    keys: torch.Tensor
    values: torch.Tensor


class FeedForward(nn.Module):
    def __init__(self, *, dim: int, ratio: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim * ratio)
        self.fc2 = nn.Linear(dim * ratio, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate q/k/v projections (keys without bias)."""

    def __init__(self, *, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"MultiHeadAttention: dim {dim} is not divisible by heads {heads}")
        self.dim = dim
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def key_value(self, key_in: torch.Tensor, value_in: torch.Tensor) -> KeyValue:
        """key_in, value_in: (B, N, d) -> KeyValue with (B, heads, N, d / heads) each."""
        keys = _split_heads(self.k_proj(key_in), self.heads)
        return KeyValue(keys, _split_heads(self.v_proj(value_in), self.heads))

    def attend(self, query_in: torch.Tensor, kv: KeyValue) -> torch.Tensor:
        """query_in: (B, N_q, d); kv from :meth:`key_value` -> (B, N_q, d)."""
        q = _split_heads(self.q_proj(query_in), self.heads)
        # Cached keys/values may come from another precision: compute in the queries' dtype.
        out = F.scaled_dot_product_attention(q, kv.keys.to(q.dtype), kv.values.to(q.dtype))
        return self.out_proj(_merge_heads(out))


class TransformerEncoderLayer(nn.Module):
    """Pre-norm encoder layer: ``x + SelfAttn(LN(x) + pos)``, then ``x + FFN(LN(x))``."""

    def __init__(self, *, dim: int, heads: int, ffn_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim=dim, heads=heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim=dim, ratio=ffn_ratio)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, N, d); pos: (N, d) or (B, N, d) -> (B, N, d). Permutation-equivariant in (x, pos)."""
        h = self.norm1(x)
        qk = h + pos.to(h.dtype)
        x = x + self.attn.attend(qk, self.attn.key_value(qk, h))
        return x + self.ffn(self.norm2(x))


class TransformerEncoder(nn.Module):
    """N stacked :class:`TransformerEncoderLayer` (N = ``depth``; N = 0 is the identity)."""

    def __init__(self, *, dim: int, depth: int, heads: int, ffn_ratio: int) -> None:
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(dim=dim, heads=heads, ffn_ratio=ffn_ratio) for _ in range(depth))

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, N, d); pos: (N, d) or (B, N, d) -> (B, N, d)."""
        assert_shape(x, ("B", "N", self.dim), "TransformerEncoder tokens")
        pos_shape = (None, x.shape[1], self.dim) if pos.ndim == 3 else (x.shape[1], self.dim)
        assert_shape(pos, pos_shape, "TransformerEncoder pos")
        for layer in self.layers:
            x = layer(x, pos)
        return x


class CrossAttention(nn.Module):
    """Pre-norm cross-attention block: queries attend to a (cacheable) memory, then a FFN.

    ``q = Wq(LN_q(x) + pos_q)``, ``k = Wk(LN_m(m) + pos_m)``, ``v = Wv(LN_m(m))``;
    ``x = x + Wo(softmax(q k^T / sqrt(e)) v)``; ``x = x + FFN(LN(x))``.
    """

    def __init__(self, *, dim: int, heads: int, ffn_ratio: int) -> None:
        super().__init__()
        self.dim = dim
        self.norm_query = nn.LayerNorm(dim)
        self.norm_memory = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim=dim, heads=heads)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim=dim, ratio=ffn_ratio)

    def key_value(self, memory: torch.Tensor, pos: torch.Tensor) -> KeyValue:
        """memory: (B, N_m, d) tokens; pos: (N_m, d) or (B, N_m, d) -> keys/values to cache."""
        assert_shape(memory, ("B", "N", self.dim), "CrossAttention memory")
        h = self.norm_memory(memory)
        return self.attn.key_value(h + pos.to(h.dtype), h)

    def attend(self, x: torch.Tensor, pos: torch.Tensor, kv: KeyValue) -> torch.Tensor:
        """x: (B, N_q, d) query tokens; pos: (N_q, d) or (B, N_q, d) -> (B, N_q, d)."""
        assert_shape(x, ("B", "N", self.dim), "CrossAttention queries")
        h = self.norm_query(x)
        x = x + self.attn.attend(h + pos.to(h.dtype), kv)
        return x + self.ffn(self.norm_ffn(x))
