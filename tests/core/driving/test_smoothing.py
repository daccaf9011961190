"""One-Euro smoothing: jitter goes, fast onsets (a blink, a jaw drop) stay."""

from __future__ import annotations

import numpy as np
import pytest

from core.driving.smoothing import OneEuroFilter, one_euro_settings

FPS = 30.0


def _run(signal: np.ndarray, strength: float = 1.0) -> np.ndarray:
    f = OneEuroFilter(signal.shape[1:], one_euro_settings(strength))
    return np.stack([f(x, 1 / FPS) for x in signal])


def test_strength_zero_is_off_and_bad_strengths_are_refused() -> None:
    assert one_euro_settings(0.0) is None
    for bad in (-0.1, 3.5, float("nan")):
        with pytest.raises(ValueError):
            one_euro_settings(bad)


def test_jitter_on_a_still_face_drops_by_more_than_half() -> None:
    rng = np.random.default_rng(0)
    still = 0.3 + 0.02 * rng.standard_normal((120, 20))
    out = _run(still)
    jitter = lambda x: np.abs(np.diff(x[30:], axis=0)).mean()  # noqa: E731
    assert jitter(out) < 0.5 * jitter(still)
    assert abs(out[30:].mean() - 0.3) < 0.01


def test_a_blink_onset_passes_within_two_frames_and_stronger_smoothing_is_smoother() -> None:
    # an AU45-like blink: 0 -> 1 in one frame, held 4 frames, back to 0; small noise
    rng = np.random.default_rng(1)
    x = np.zeros((40, 1))
    x[20:24] = 1.0
    x += 0.01 * rng.standard_normal(x.shape)
    out = _run(x)
    assert out[21, 0] > 0.7  # the lid is mostly shut one frame after the onset
    assert out[23, 0] > 0.9
    assert out[27, 0] < 0.3  # and open again soon after
    strong, weak = _run(0.3 + 0.02 * rng.standard_normal((90, 5)), 3.0), _run(
        0.3 + 0.02 * rng.standard_normal((90, 5)), 0.5)
    assert np.abs(np.diff(strong[30:], axis=0)).mean() < np.abs(np.diff(weak[30:], axis=0)).mean()


def test_shape_and_dt_are_checked() -> None:
    f = OneEuroFilter((3,), one_euro_settings(1.0))
    with pytest.raises(ValueError):
        f(np.zeros(4), 0.1)
    with pytest.raises(ValueError):
        f(np.zeros(3), 0.0)
