"""Eyes that open reveal the eyeball by stretching the sclera beside the iris, never by mirroring
(core.editing.warp.eyes._stretch): the map down a column is monotone (a mirror folds back and
repeats the iris rim and catchlights), keeps the iris chord in place and is the identity where
the lids close over the eyeball."""

from __future__ import annotations

import numpy as np
import pytest

from core.editing.warp.eyes import Iris, _keep_span, _stretch


def _column(e0: float, e1: float, v0: float, v1: float, a: float, iris: Iris | None
            ) -> tuple[np.ndarray, np.ndarray]:
    b = np.linspace(e0, e1, 201)
    n = b.shape
    k0, k1 = _keep_span(np.full(n, a), np.full(n, v0), np.full(n, v1), iris)
    return b, _stretch(b, np.full(n, e0), np.full(n, e1), np.full(n, v0), np.full(n, v1), k0, k1)


def test_opening_is_monotone_and_keeps_the_iris_in_place() -> None:
    iris = Iris(0.0, 0.0, 0.2)
    b, s = _column(-0.3, 0.3, -0.22, 0.22, 0.0, iris)  # the lids open past the iris both ways
    assert np.all(np.diff(s) >= -1e-12)  # no fold: nothing is sampled twice in reverse
    assert s.min() >= -0.22 - 1e-9 and s.max() <= 0.22 + 1e-9  # only what the source shows
    chord = np.abs(b) <= 0.2
    np.testing.assert_allclose(s[chord], b[chord])  # the iris stays where it is
    # a column beside the iris: the sclera stretched, monotone, end to end
    b, s = _column(-0.2, 0.2, -0.1, 0.1, 0.4, iris)
    assert np.all(np.diff(s) >= -1e-12)
    assert s[0] == pytest.approx(-0.1) and s[-1] == pytest.approx(0.1)


def test_closing_is_the_identity() -> None:
    b, s = _column(-0.1, 0.1, -0.2, 0.2, 0.0, Iris(0.0, 0.0, 0.2))
    np.testing.assert_allclose(s, b)
    b, s = _column(-0.05, 0.12, -0.2, 0.2, 0.5, None)
    np.testing.assert_allclose(s, b)
