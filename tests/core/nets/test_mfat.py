"""MFAT: cross-attention is permutation invariant over reference tokens (moved with their positions)."""

from __future__ import annotations

import torch

from core.nets.config import GafetConfig
from core.nets.gafet import GaFET
from core.nets.mfat import MfatLevel
from core.nets.transformer import map_from_tokens, sine_positions_2d, tokens_from_map
from tests.helpers.nets import make_inputs


def _level() -> MfatLevel:
    torch.manual_seed(0)
    return MfatLevel(query_channels=12, dim=32, depth=2, heads=4, ffn_ratio=2).eval()


@torch.no_grad()
def test_permuting_reference_tokens_with_their_positions_leaves_the_output_unchanged() -> None:
    level = _level()
    g = torch.Generator().manual_seed(1)
    expression = torch.randn(2, 12, 8, 8, generator=g)
    tokens = torch.randn(2, 36, 32, generator=g)  # a 6x6 reference grid
    pos = sine_positions_2d(6, 6, 32)
    _, kv = level.encode_reference(tokens, pos)
    out = level(expression, kv)
    perm = torch.randperm(36, generator=g)
    _, kv_perm = level.encode_reference(tokens[:, perm], pos[perm])
    torch.testing.assert_close(level(expression, kv_perm), out, atol=1e-5, rtol=1e-5)
    # Positions travel with their tokens: permuting the tokens alone is a different reference.
    _, kv_tokens_only = level.encode_reference(tokens[:, perm], pos)
    assert not torch.allclose(level(expression, kv_tokens_only), out, atol=1e-4)


@torch.no_grad()
def test_output_depends_on_the_reference_and_is_a_residual() -> None:
    level = _level()
    g = torch.Generator().manual_seed(2)
    expression = torch.randn(1, 12, 8, 8, generator=g)
    pos = sine_positions_2d(6, 6, 32)
    out_a = level(expression, level.encode_reference(torch.randn(1, 36, 32, generator=g), pos)[1])
    out_b = level(expression, level.encode_reference(torch.randn(1, 36, 32, generator=g), pos)[1])
    assert out_a.shape == expression.shape
    assert (out_a - out_b).abs().max() > 1e-3
    assert not torch.allclose(out_a, expression)


@torch.no_grad()
def test_reference_memory_matches_the_model_levels(tiny: GafetConfig) -> None:
    torch.manual_seed(0)
    model = GaFET(config=tiny)
    inp = make_inputs(tiny, 2)
    enc = model.encode_reference(inp.reference)
    assert len(enc.features) == len(enc.memory.kv) == 3
    for scale, feat, tokens, kv in zip(tiny.mfat_scales, enc.features, enc.memory.tokens, enc.memory.kv,
                                       strict=True):
        side = tiny.resolution >> scale
        heads = tiny.mfat.heads
        assert feat.shape == (2, tiny.mfat.dim, side, side)
        assert tokens.shape == (2, side * side, tiny.mfat.dim)
        assert kv.keys.shape == kv.values.shape == (2, heads, side * side, tiny.mfat.dim // heads)


def test_token_reshapes_round_trip_and_positions_are_resolution_independent() -> None:
    x = torch.randn(2, 5, 3, 4)
    t = tokens_from_map(x)
    assert t.shape == (2, 12, 5)
    assert torch.equal(t[:, 1 * 4 + 2], x[:, :, 1, 2])  # row-major tokens
    assert torch.equal(map_from_tokens(t, 3, 4), x)
    pos = sine_positions_2d(4, 4, 16)
    assert pos.shape == (16, 16) and len(torch.unique(pos, dim=0)) == 16
    # The centre of a 2x2 grid's cell (0, 0) is the centre of a 4x4 grid's 2x2 block: close codes.
    assert sine_positions_2d(8, 8, 16).shape == (64, 16)
