"""Temporal smoothing of per-frame parameters: a One-Euro filter (Casiez, Roussel and Vogel, 2012).

The filter is an exponential low-pass whose cutoff frequency rises with the signal's speed:

    cutoff = min_cutoff + beta * |dx/dt|          (dx/dt itself low-passed at d_cutoff Hz)
    a = 1 / (1 + 1 / (2 pi cutoff dt));   y_t = y_{t-1} + a (x_t - y_{t-1})

A face holding still (small, noisy changes) is smoothed hard (``min_cutoff``, low), while a blink
or a jaw drop (a fast change) raises the cutoff so it passes with little lag: the fast onsets
stay, the jitter goes. The filter runs on a vector (every component its own filter, one shared
clock); ``speed_scale`` says what one unit of change is worth for ``beta`` (so AUs in [0, 1] and
landmarks in crop px can share one ``strength``).

:func:`one_euro_settings` maps the user's single ``--smooth STRENGTH`` (0 = off, 1 = the default,
up to 3) to the filter's constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroSettings:
    """min_cutoff: Hz at rest (lower = smoother); beta: cutoff Hz added per unit/s of speed
    (higher = less lag on fast moves); d_cutoff: Hz of the speed estimate's own low-pass."""

    min_cutoff: float = 1.5
    beta: float = 0.6
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.beta < 0 or self.d_cutoff <= 0:
            raise ValueError(f"need min_cutoff > 0, beta >= 0, d_cutoff > 0; got {self}")


MAX_STRENGTH = 3.0


def one_euro_settings(strength: float) -> OneEuroSettings | None:
    """The filter for ``--smooth STRENGTH`` in [0, 3]: None (no smoothing) at 0; 1 is the default
    (rest cutoff 1.5 Hz); each doubling of the strength halves the rest cutoff, and ``beta`` rises
    with it so that fast moves keep passing."""
    s = float(strength)
    if not 0.0 <= s <= MAX_STRENGTH or not math.isfinite(s):
        raise ValueError(f"the smoothing strength must be between 0 and {MAX_STRENGTH}, got {strength}")
    if s == 0.0:
        return None
    return OneEuroSettings(min_cutoff=1.5 / s, beta=0.6 * s, d_cutoff=1.0)


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """A vector One-Euro filter (module docstring).

    shape: the shape of each sample; speed_scale: scalar or array broadcastable to ``shape``,
    the size of "one unit" of the signal for ``beta`` (e.g. 1 for AUs, the inter-ocular distance
    for landmarks). Feed samples with :meth:`__call__` in time order; :meth:`reset` forgets the past.
    """

    def __init__(self, shape: tuple[int, ...], settings: OneEuroSettings,
                 speed_scale: float | np.ndarray = 1.0) -> None:
        self.shape = tuple(shape)
        self.settings = settings
        self.speed_scale = np.broadcast_to(np.asarray(speed_scale, dtype=np.float64), self.shape)
        if not (self.speed_scale > 0).all():
            raise ValueError("speed_scale must be > 0")
        self.reset()

    def reset(self) -> None:
        self._y: np.ndarray | None = None
        self._dy = np.zeros(self.shape)

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        """x: one sample of ``shape`` (finite); dt: seconds since the previous sample (> 0).
        Returns the filtered sample, float64, a new array."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.shape:
            raise ValueError(f"expected a sample of shape {self.shape}, got {x.shape}")
        if not dt > 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        if self._y is None:
            self._y = x.copy()
            return x.copy()
        s = self.settings
        speed = (x - self._y) / dt
        self._dy = self._dy + _alpha(s.d_cutoff, dt) * (speed - self._dy)
        cutoff = s.min_cutoff + s.beta * np.abs(self._dy) / self.speed_scale
        self._y = self._y + _alpha(cutoff, dt) * (x - self._y)
        return self._y.copy()
