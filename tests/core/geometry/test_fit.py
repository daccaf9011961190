"""The exact AU fit on synthetic meshes: recovery, exact reproduction, determinism, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.geometry.au.fit import AUFitter, FitConfig, fit_face
from tests.helpers.au_synthetic import synthetic_face


def _angle_deg(r1: np.ndarray, r2: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(r1.T @ r2) - 1) / 2, -1.0, 1.0))))


def test_noise_free_aus_are_recovered_exactly_without_a_prior(au_model):
    """Solver check: no noise, (almost) no prior → AUs to 1e-3 (the alternation's tolerance)."""
    fitter = AUFitter(model=au_model, config=FitConfig(ridge=1e-3, sparsity=0.0))
    rng = np.random.default_rng(10)
    for _ in range(4):
        face = synthetic_face(au_model, rng, noise=0.0)
        r = fitter.fit(face.landmarks)
        assert np.abs(r.params.expression[0].numpy() - face.aus).max() < 1e-3
        assert _angle_deg(r.params.pose.rotation[0].double().numpy(), face.rotation) < 0.01


def test_known_aus_and_pose_are_recovered_with_a_weak_prior(au_model):
    """Noise 0.5 units (≈ 0.7 px on a 250 px face) and a weak prior: AUs within 0.3 (MAE < 0.03 —
    the largest errors are trades between strongly correlated AU rows), pose within 0.5° / 1 %."""
    fitter = AUFitter(model=au_model, config=FitConfig(ridge=1.0, sparsity=0.0))
    rng = np.random.default_rng(0)
    errs = []
    for _ in range(12):
        face = synthetic_face(au_model, rng, noise=0.5)
        r = fitter.fit(face.landmarks)
        errs.append(np.abs(r.params.expression[0].numpy() - face.aus))
        assert _angle_deg(r.params.pose.rotation[0].double().numpy(), face.rotation) < 0.5
        assert abs(float(r.params.pose.scale[0]) / face.scale - 1) < 0.01
        assert np.abs(r.params.pose.translation[0].numpy() - face.translation).max() < 0.02 * face.scale * 174
        assert bool(r.converged[0])
    errs = np.array(errs)
    assert errs.max() < 0.3 and errs.mean() < 0.03, (errs.max(), errs.mean())


def test_default_prior_recovers_the_strong_aus(au_model, fitter):
    """With the default priors (λ = 1000, ρ = 200) active AUs read low by design (the prior is what
    keeps identity out of the AUs on real faces; docs/geometry.md): MAE < 0.1, and the AUs that
    move the face most (lid raise, nose wrinkle, chin raise, lip stretch, jaw drop) within 0.4."""
    rng = np.random.default_rng(1)
    strong = [au_model.au_index(n) for n in ("AU05", "AU09", "AU17", "AU20", "AU26")]
    errs = []
    for _ in range(12):
        face = synthetic_face(au_model, rng, noise=0.5)
        r = fitter.fit(face.landmarks)
        errs.append(r.params.expression[0].numpy() - face.aus)
        assert _angle_deg(r.params.pose.rotation[0].double().numpy(), face.rotation) < 1.0
    errs = np.abs(np.array(errs))
    assert errs.mean() < 0.1, errs.mean()
    assert errs[:, strong].max() < 0.4, errs[:, strong].max()


def test_fitted_params_reproduce_the_input_mesh(au_model, fitter):
    identity = np.random.default_rng(3).normal(0, 3, (468, 3))
    face = synthetic_face(au_model, np.random.default_rng(2), identity=identity)
    r = fitter.fit(face.landmarks)
    m64 = type(au_model)(dtype=torch.float64)
    v = m64.vertices_of(r.params.to(torch.float64))[0].numpy()
    assert np.abs(v - face.landmarks).max() < 2e-3  # float32 params; exact up to their rounding
    assert (r.params.expression >= 0).all() and (r.params.expression <= 1).all()
    assert r.residual_rms[0] > 2.0  # the random identity (σ = 3) stays in identity, not in the AUs


def test_fit_is_deterministic_and_batched(au_model, fitter):
    rng = np.random.default_rng(4)
    faces = np.stack([synthetic_face(au_model, rng).landmarks for _ in range(3)])
    a, b = fitter.fit(faces), fitter.fit(faces)
    assert torch.equal(a.params.expression, b.params.expression)
    assert torch.equal(a.params.identity, b.params.identity)
    one = fit_face(faces[1])
    assert one.batch_size == 1 and torch.equal(one.expression[0], a.params.expression[1])


def test_person_neutral_removes_a_constant_identity_from_the_aus(au_model, fitter):
    """A face whose identity looks like 0.8·AU24 reads AU24 when fitted alone, and ≈ 0 relative to
    an estimate of that person's neutral from two other neutral meshes."""
    d = au_model.data
    thin_lips = 0.8 * d.basis[au_model.au_index("AU24")]
    rng = np.random.default_rng(5)
    neutral = [synthetic_face(au_model, rng, n_active=0, noise=0.3, identity=thin_lips).landmarks
               for _ in range(3)]
    alone = fitter.fit(neutral[0]).params.expression[0]
    assert float(alone[au_model.au_index("AU24")]) > 0.3
    r0 = fitter.estimate_neutral(np.stack(neutral[1:]))
    rel = fitter.fit(neutral[0], neutral=r0).params.expression[0]
    assert float(rel.max()) < 0.05, rel


def test_bad_input_is_refused(fitter):
    with pytest.raises(ValueError, match="468"):
        fitter.fit(np.zeros((68, 3)))
    bad = np.zeros((468, 3))
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fitter.fit(bad)
    with pytest.raises(ValueError, match="FitConfig"):
        FitConfig(ridge=0.0)
