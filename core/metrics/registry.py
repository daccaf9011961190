"""The metric registry: every metric ``gafet evaluate`` can report, by key (stylegan3 ``metric_main`` style).

Each metric is a pure function registered with :func:`register_metric`, which records how the
metric is reported: its JSON key, its table label, its group (one table per group), whether
higher or lower is better, and what it needs beyond the photos (a judge network, or weights the
user imports). The function itself only computes::

    @register_metric(key="csim", label="CSIM", group="identity", better="higher", needs="identity-judge")
    def csim(pred: np.ndarray, target: np.ndarray) -> float:
        ...

Per-pair metrics take ``(pred, target)`` (an output's measurement and what it is compared with)
and return a float; set metrics (``kind="set"``) take two sets of features and return a float.
A substitute for a paper metric is registered under its own name ("FD-dlib", "AU-H (mesh AUs)"),
never under the paper's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

MetricGroup = Literal["identity", "expression", "emotion", "geometry", "detail", "distribution", "paired"]
MetricKind = Literal["pair", "set"]
Better = Literal["higher", "lower"]
# What a metric needs besides the photos: a judge network, or weights the user imports.
Need = Literal["identity-judge", "emotion-judge", "landmark-judge", "inception-fid", "lpips-alexnet"]

GROUPS: tuple[MetricGroup, ...] = ("identity", "expression", "emotion", "geometry", "detail", "distribution",
                                   "paired")

_F = TypeVar("_F", bound=Callable[..., float])


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    key: the JSON key and the name ``--metrics`` takes ("csim", "au_h", "fid").
    label: the table header, with the substitute's name where it is one ("AU-H (mesh AUs)").
    group: which table it goes in. kind: "pair" (one value per pair) or "set" (one per editor).
    better: "higher" or "lower". needs: what it needs beyond the photos, or None.
    description: one line for ``--help`` and the report.
    fn: the pure function.
    """

    key: str
    label: str
    group: MetricGroup
    kind: MetricKind
    better: Better
    needs: Need | None
    description: str
    fn: Callable[..., float]

    @property
    def arrow(self) -> str:
        """"↑" when higher is better, else "↓" (the paper's table headers)."""
        return "↑" if self.better == "higher" else "↓"


METRICS: dict[str, Metric] = {}


class UnknownMetricError(KeyError):
    """A metric key that is not registered."""


def register_metric(
    *,
    key: str,
    label: str,
    group: MetricGroup,
    better: Better,
    description: str,
    kind: MetricKind = "pair",
    needs: Need | None = None,
) -> Callable[[_F], _F]:
    """Register the decorated function under ``key`` (see the module docstring); returns it unchanged."""

    def add(fn: _F) -> _F:
        if key in METRICS:
            raise ValueError(f"metric {key!r} is registered twice")
        if group not in GROUPS:
            raise ValueError(f"metric {key!r}: unknown group {group!r}")
        METRICS[key] = Metric(key=key, label=label, group=group, kind=kind, better=better, needs=needs,
                              description=description, fn=fn)
        return fn

    return add


def metric(key: str) -> Metric:
    """The registered metric ``key``; raises :class:`UnknownMetricError` naming the known keys."""
    load_all()
    try:
        return METRICS[key]
    except KeyError:
        raise UnknownMetricError(f"unknown metric {key!r}; known: {', '.join(sorted(METRICS))}") from None


def metrics_in(group: MetricGroup) -> list[Metric]:
    """The metrics of one group, in registration order."""
    load_all()
    return [m for m in METRICS.values() if m.group == group]


def all_metrics() -> list[Metric]:
    """Every registered metric, in registration order (groups in :data:`GROUPS` order)."""
    load_all()
    return [m for g in GROUPS for m in METRICS.values() if m.group == g]


def load_all() -> None:
    """Import every metric module, so each registers itself (idempotent)."""
    from core.metrics import (  # noqa: F401
        detail,
        distribution,
        emotion,
        expression,
        face_geometry,
        identity,
        lpips_metric,
        paired,
    )
