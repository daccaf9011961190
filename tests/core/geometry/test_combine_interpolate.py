"""Expression transfer (combine) and progressive / per-region control (interpolate) on real faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.geometry.combine import combine, override_expression, with_expression
from core.geometry.interpolate import interpolate, interpolate_vertices, vertex_alpha
from core.geometry.presets import builtin_preset


@pytest.fixture(scope="module")
def pair(fitter, photo_landmarks):
    """Source: the smiling lab portrait; reference: the open-mouthed surprise."""
    return fitter.fit(photo_landmarks("happy.jpg")).params, fitter.fit(photo_landmarks("surprise.jpg")).params


def test_combine_takes_identity_and_pose_from_the_source_and_expression_from_the_reference(pair, fitter):
    source, reference = pair
    target = combine(source=source, reference=reference)
    assert torch.equal(target.identity, source.identity) and torch.equal(target.pose.scale, source.pose.scale)
    assert torch.equal(target.expression, reference.expression)
    m = fitter.model
    vs, vt = m.vertices_of(source)[0], m.vertices_of(target)[0]
    move = (vt - vs).norm(dim=1).numpy()
    face_width = float(vs[454, 0] - vs[234, 0])
    stable = fitter.pose_weights > np.quantile(fitter.pose_weights, 0.9)  # nose bridge, temples, forehead
    mouth = m.region_weights("mouth").numpy() > 0.9
    assert move[stable].max() < 0.02 * face_width  # the head stays put where the AUs hardly act ...
    assert np.median(move[mouth]) > 5 * np.median(move[stable])  # ... while the mouth changes
    gap = lambda v: float(v[14, 1] - v[13, 1])  # noqa: E731 — inner-lip gap, px (y down)
    width = lambda v: float((v[291] - v[61]).norm())  # noqa: E731 — mouth corner to corner
    assert gap(vt) > gap(vs) + 0.015 * face_width  # the smile's open mouth opens further ...
    assert width(vt) < width(vs) - 0.03 * face_width  # ... and narrows from a smile into an 'O'


def test_refitting_the_target_reads_the_reference_expression(pair, fitter):
    source, reference = pair
    target_vertices = fitter.model.vertices_of(combine(source=source, reference=reference))[0]
    refit = fitter.fit(target_vertices.numpy()).params.expression[0]
    ref = reference.expression[0]
    assert float((refit - ref).abs().mean()) < 0.1
    i26, i12 = fitter.model.au_index("AU26"), fitter.model.au_index("AU12")
    assert abs(float(refit[i26] - ref[i26])) < 0.2
    # what is left of the source's smile in its identity (the prior's shrinkage) stays small
    assert float(refit[i12]) < float(source.expression[0, i12])


def test_reference_broadcasts_and_presets_go_through_the_same_record(pair, fitter):
    source, reference = pair
    two = type(source).cat([source, source])
    assert combine(source=two, reference=reference).batch_size == 2
    happy = builtin_preset("happy")
    t = with_expression(source, torch.tensor(happy.vector(fitter.model.au_names)))
    assert float(t.expression[0, fitter.model.au_index("AU12")]) == 1.0
    o = override_expression(fitter.model, t.expression, {"AU12": 0.25, "AU26": 0.5})
    assert float(o[0, fitter.model.au_index("AU12")]) == 0.25 and float(t.expression[0, 9]) == 1.0
    with pytest.raises(ValueError, match="unknown expression component"):
        override_expression(fitter.model, t.expression, {"AU99": 0.1})
    with pytest.raises(ValueError, match="finite"):
        override_expression(fitter.model, t.expression, {"AU12": float("nan")})


def test_interpolate_ends_exactly_and_is_monotone(pair, fitter):
    source, reference = pair
    m = fitter.model
    target = combine(source=source, reference=reference)
    vs, vt = m.vertices_of(source), m.vertices_of(target)
    assert torch.equal(interpolate(model=m, source=source, target=target, alpha=0.0), vs)
    assert torch.equal(interpolate(model=m, source=source, target=target, alpha=1.0), vt)
    dist = [float((interpolate(model=m, source=source, target=target, alpha=a) - vs).norm(dim=-1).sum())
            for a in np.linspace(0, 1.5, 7)]
    assert all(b > a for a, b in zip(dist, dist[1:], strict=False))
    per_vertex = [(interpolate_vertices(vs, vt, vertex_alpha(m, alpha=a)) - vs).norm(dim=-1)
                  for a in (0.3, 0.6, 0.9)]
    assert bool((per_vertex[1] >= per_vertex[0]).all()) and bool((per_vertex[2] >= per_vertex[1]).all())
    # the AU model is linear: vertex interpolation = AU interpolation
    half_au = target.replace(expression=(source.expression + target.expression) / 2)
    assert torch.allclose(interpolate(model=m, source=source, target=target, alpha=0.5),
                          m.vertices_of(half_au), atol=1e-3)


def test_region_weights_freeze_and_exaggerate_regions(pair, fitter):
    source, reference = pair
    m = fitter.model
    target = combine(source=source, reference=reference)
    vs = m.vertices_of(source)
    full = interpolate(model=m, source=source, target=target, alpha=1.0) - vs
    frozen = {r: 0.0 for r in m.region_names}
    edit = lambda **w: interpolate(model=m, source=source, target=target, alpha=1.0, region_weights=w) - vs  # noqa: E731
    assert float(edit(**frozen).abs().max()) == 0.0
    no_mouth = edit(mouth=0.0)
    core_mouth = m.region_weights("mouth") > 0.95
    assert int(core_mouth.sum()) > 20
    largest = float(full[0, core_mouth].norm(dim=-1).max())
    assert float(no_mouth[0, core_mouth].norm(dim=-1).max()) < 0.05 * largest
    brows = m.region_weights("brows") > 0.999
    assert torch.allclose(no_mouth[0, brows], full[0, brows], atol=1e-4)
    more = edit(jaw=1.5)
    jaw = m.region_weights("jaw") > 0.95
    assert torch.allclose(more[0, jaw], 1.5 * full[0, jaw], atol=0.05 * float(full.abs().max()))


def test_interpolate_rejects_bad_controls(au_model):
    with pytest.raises(ValueError, match="alpha"):
        vertex_alpha(au_model, alpha=1.6)
    with pytest.raises(ValueError, match="alpha"):
        vertex_alpha(au_model, alpha=-0.1)
    with pytest.raises(ValueError, match="outside"):
        vertex_alpha(au_model, alpha=1.0, region_weights={"mouth": 2.0})
    with pytest.raises(ValueError, match="unknown region"):
        vertex_alpha(au_model, alpha=1.0, region_weights={"ears": 0.5})
