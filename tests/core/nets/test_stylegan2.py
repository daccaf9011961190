"""StyleGAN2: sizes, shapes, the safe weights reader (a malicious pickle never runs), the latent editor."""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
from pathlib import Path

import pytest
import torch

from core.metrics import weights
from core.nets.stylegan2 import (
    LatentEditor,
    LatentEditorConfig,
    StyleGAN2,
    StyleGAN2WeightsError,
    config_from_state,
    load_generator,
    read_weights,
    stylegan2_config,
)


class _Evil:
    """Pickles as a call that would create ``marker`` if it were ever unpickled by plain pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_paper256_has_nvidias_parameter_count() -> None:
    with torch.device("meta"):
        g = StyleGAN2(stylegan2_config("paper256"))
    assert sum(p.numel() for p in g.parameters()) == 24_767_458  # NVIDIA paper256 G (notes/training.md §1.6)


def test_tiny_generator_shapes_and_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = StyleGAN2(stylegan2_config("tiny-16")).eval()
    z = torch.randn(2, 32)
    img = g(z)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    w = g.mapping(z)
    assert torch.equal(g.synthesis(w), g.synthesis(w[:, None].expand(-1, g.config.n_latent, -1)))
    path = tmp_path / "g.pt"  # the port's checkpoint layout: g_ema plus its argparse options
    torch.save({"g_ema": g.state_dict(), "args": argparse.Namespace(size=16, latent=32)}, path)
    state = read_weights(path)
    assert config_from_state(state).resolution == 16
    assert torch.equal(load_generator(state)(z), img)


def test_malicious_pickles_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    zipped = tmp_path / "evil.pt"
    torch.save({"g_ema": {"w": torch.zeros(1)}, "payload": _Evil(marker)}, zipped)
    plain = tmp_path / "evil-plain.pt"
    plain.write_bytes(pickle.dumps({"g_ema": _Evil(marker)}))
    nvidia = tmp_path / "network-snapshot.pkl"
    nvidia.write_bytes(pickle.dumps(_Evil(marker)))
    for path in (zipped, plain, nvidia):
        with pytest.raises(StyleGAN2WeightsError):
            read_weights(path)
    digest = hashlib.sha256(zipped.read_bytes()).hexdigest()
    with pytest.raises(StyleGAN2WeightsError):
        weights.import_weights("stylegan2-ffhq-256", zipped, home=tmp_path / "home", sha256=digest)
    assert not weights.is_imported("stylegan2-ffhq-256", tmp_path / "home")
    assert not marker.exists()


def test_import_weights_checks_the_resolution(tmp_path: Path) -> None:
    g = StyleGAN2(stylegan2_config("tiny-16"))
    path = tmp_path / "g.pt"
    torch.save({"g_ema": g.state_dict()}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StyleGAN2WeightsError, match="16² generator, not 256²"):
        weights.import_weights("stylegan2-ffhq-256", path, home=tmp_path / "home", sha256=digest)


def test_latent_editor_starts_at_the_identity_and_learns() -> None:
    editor = LatentEditor(LatentEditorConfig(n_latent=6, w_dim=8, hidden=16, embed_dim=4))
    w = torch.randn(3, 6, 8)
    out = editor(w, torch.zeros(3, 20))
    assert torch.equal(out.w, w) and out.delta.abs().max() == 0
    out.w.square().sum().backward()
    assert editor.out.weight.grad is not None and editor.out.weight.grad.abs().sum() > 0
