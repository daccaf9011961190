"""Expression transfer in parameter space (paper §3.1, "3D geometry decoupling").

The target face keeps everything of the source except its expression::

    target = FaceParams(identity = source.identity,       # the person (incl. the exact residual)
                        expression = reference.expression, # the reference's expression
                        pose = source.pose)                # the source's head pose, in its photo

Works for any :class:`~core.geometry.face_model.FaceModel` backend (for FLAME, ``expression``
is [ψ, jaw], as in the paper). Individual expression components — AU sliders, presets — go
through the same record: :func:`with_expression` and :func:`override_expression`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from core.checks import assert_shape
from core.geometry.face_model import FaceModel, FaceParams

__all__ = ["combine", "override_expression", "with_expression"]


def _broadcast(t: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    if t.shape[0] == batch:
        return t
    if t.shape[0] == 1:
        return t.expand(batch, *t.shape[1:])
    raise ValueError(f"{name}: batch {t.shape[0]} does not match the source batch {batch} (nor is it 1)")


def with_expression(params: FaceParams, expression: torch.Tensor) -> FaceParams:
    """``params`` with its expression replaced: expression (E,) or (1 | B, E) float."""
    e = params.expression.shape[1]
    expr = expression[None] if expression.ndim == 1 else expression
    assert_shape(expr, (None, e), "expression")
    expr = _broadcast(expr.to(params.expression), params.batch_size, "expression")
    return params.replace(expression=expr)


def combine(*, source: FaceParams, reference: FaceParams) -> FaceParams:
    """Target parameters: source identity + source pose + reference expression.

    source: B faces; reference: B faces or 1 (broadcast to every source face). Returns B faces.
    """
    return with_expression(source, reference.expression)


def override_expression(model: FaceModel, expression: torch.Tensor, overrides: Mapping[str, float]
                        ) -> torch.Tensor:
    """Set named components (e.g. ``{"AU12": 0.8}``) of ``expression`` (E,) or (B, E).

    Names are ``model.expression_names``; raises ``ValueError`` naming an unknown one, or a
    non-finite value. Returns a new tensor of the same shape.
    """
    names = model.expression_names
    out = expression.clone()
    for name, value in overrides.items():
        if name not in names:
            raise ValueError(f"unknown expression component {name!r}; expected one of {', '.join(names)}")
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{name}: value must be finite, got {value!r}")
        out[..., names.index(name)] = v
    return out
