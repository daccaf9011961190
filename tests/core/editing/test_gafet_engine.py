"""GafetEngine: caching, equality with the uncached model, precision fallback, checkpoint loading."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from core.editing.gafet.engine import EngineStateError, GafetEngine, NonFiniteOutputError, resolve_precision
from core.errors import GafetError
from core.nets.checkpoint import save_checkpoint
from core.nets.config import GafetConfig, preset
from core.nets.gafet import GaFET
from tests.helpers.nets import make_inputs


@pytest.fixture
def tiny() -> GafetConfig:
    return preset("tiny-64")


@pytest.fixture
def model(tiny: GafetConfig) -> GaFET:
    torch.manual_seed(0)
    return GaFET(config=tiny)


class CallCounter:
    """Counts forward calls of the encoders (hooks, independent of the engine's own stats)."""

    def __init__(self, model: GaFET) -> None:
        self.calls = {"appearance_encoder": 0, "reference_encoder": 0, "geometry_encoder": 0}
        for name in self.calls:
            getattr(model, name).register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def hook(module, args, output):
            self.calls[name] += 1
        return hook


def test_cached_and_uncached_forwards_agree(model: GaFET, tiny: GafetConfig) -> None:
    engine = GafetEngine(model, device="cpu")
    a = make_inputs(tiny, 1, seed=1)
    engine.set_source(a.source)
    engine.set_reference(a.reference)
    for seed in (2, 3, 4):  # three slider positions
        b = make_inputs(tiny, 1, seed=seed)
        result = engine.render(b.geometry, b.flow)
        with torch.no_grad():
            expected = model(a.source, a.reference, b.geometry, b.flow).image.clamp(-1, 1)
        torch.testing.assert_close(result.image, expected, atol=1e-5, rtol=1e-5)
        assert result.precision == "float32" and not result.fell_back


def test_a_geometry_change_reuses_the_source_and_reference_work(model: GaFET, tiny: GafetConfig) -> None:
    counter = CallCounter(model)
    engine = GafetEngine(model, device="cpu")
    a = make_inputs(tiny, 1, seed=1)
    first = engine(a.source, a.reference, a.geometry, a.flow)
    assert not first.source_cached and not first.reference_cached
    for seed in (2, 3):
        b = make_inputs(tiny, 1, seed=seed)
        again = engine(a.source.clone(), a.reference.clone(), b.geometry, b.flow)  # equal values, new tensors
        assert again.source_cached and again.reference_cached
    assert counter.calls == {"appearance_encoder": 1, "reference_encoder": 1, "geometry_encoder": 3}
    new = make_inputs(tiny, 1, seed=9)
    engine(new.source, a.reference, a.geometry, a.flow)
    assert counter.calls["appearance_encoder"] == 2 and counter.calls["reference_encoder"] == 1
    engine.set_reference(new.reference)
    result = engine.render(a.geometry, a.flow)
    assert result.source_cached and not result.reference_cached
    assert counter.calls == {"appearance_encoder": 2, "reference_encoder": 2, "geometry_encoder": 5}
    assert (engine.stats.source_encodes, engine.stats.reference_encodes, engine.stats.decodes) == (2, 2, 5)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_reduced_precision_path_runs_under_cpu_autocast(model: GaFET, tiny: GafetConfig,
                                                        precision: str) -> None:
    engine = GafetEngine(model, device="cpu", precision=precision)  # the CUDA code path, on the CPU
    a = make_inputs(tiny, 1)
    result = engine(a.source, a.reference, a.geometry, a.flow)
    assert result.precision == precision and not result.fell_back
    assert result.image.dtype == torch.float32 and torch.isfinite(result.image).all()
    with torch.no_grad():
        exact = model(*a).image.clamp(-1, 1)
    assert (result.image - exact).abs().mean() < 0.05


def test_non_finite_low_precision_output_falls_back_to_float32(model: GaFET, tiny: GafetConfig,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    # Simulate a float16 overflow: the decoder returns NaN whenever autocast is on.
    def poison(module, args, output):
        return output * float("nan") if torch.is_autocast_enabled("cpu") else output

    model.decoder.register_forward_hook(poison)
    engine = GafetEngine(model, device="cpu", precision="bfloat16")
    a = make_inputs(tiny, 1)
    with caplog.at_level(logging.WARNING, logger="core.editing.gafet.engine"):
        result = engine(a.source, a.reference, a.geometry, a.flow)
    assert "not finite" in caplog.text
    assert result.precision == "float32" and result.fell_back
    with torch.no_grad():
        torch.testing.assert_close(result.image, model(*a).image.clamp(-1, 1), atol=1e-5, rtol=1e-5)
    # float32 sticks for this source/reference: no second failed attempt.
    b = make_inputs(tiny, 1, seed=5)
    again = engine.render(b.geometry, b.flow)
    assert again.precision == "float32" and again.fell_back and engine.stats.fallbacks == 1
    engine.set_source(b.source)  # a new source tries the fast precision again
    assert engine.precision == "bfloat16"


def test_non_finite_float32_output_is_a_user_facing_error(model: GaFET, tiny: GafetConfig) -> None:
    model.decoder.register_forward_hook(lambda m, args, out: out * float("inf"))
    engine = GafetEngine(model, device="cpu")
    a = make_inputs(tiny, 1)
    with pytest.raises(NonFiniteOutputError, match="NaN or infinity") as err:
        engine(a.source, a.reference, a.geometry, a.flow)
    assert isinstance(err.value, GafetError)


def test_usage_errors(model: GaFET, tiny: GafetConfig) -> None:
    engine = GafetEngine(model, device="cpu")
    a = make_inputs(tiny, 1)
    with pytest.raises(EngineStateError, match="no source and reference"):
        engine.render(a.geometry, a.flow)
    with pytest.raises(ValueError, match=r"source: expected a \(B, 3, 64, 64\)"):
        engine.set_source(a.source[:, :, :32])
    with pytest.raises(ValueError, match="precision"):
        GafetEngine(model, precision="int8")  # type: ignore[arg-type]


def test_auto_precision_and_checkpoint_loading(model: GaFET, tiny: GafetConfig, tmp_path: Path) -> None:
    assert resolve_precision("auto", torch.device("cpu")) == "float32"
    assert resolve_precision("auto", torch.device("cuda")) == "float16"
    path = save_checkpoint(tmp_path / "g.safetensors", model)
    engine = GafetEngine.from_checkpoint(path, device="cpu")
    a = make_inputs(tiny, 1)
    with torch.no_grad():
        expected = model(*a).image.clamp(-1, 1)
    torch.testing.assert_close(engine(*a).image, expected, atol=1e-6, rtol=0)
    assert engine.config == tiny and engine.device.type == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float16_matches_float32(model: GaFET, tiny: GafetConfig) -> None:
    a = make_inputs(tiny, 1)
    fast = GafetEngine(model, device="cuda")(*a)
    exact = GafetEngine(model, device="cuda", precision="float32")(*a)
    assert fast.precision in ("float16", "float32")
    assert (fast.image - exact.image).abs().mean() < 0.02
