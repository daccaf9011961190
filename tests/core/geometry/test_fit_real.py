"""The AU fit on real photos and video frames (meshes from the project's FaceAnalyzer)."""

from __future__ import annotations

import numpy as np
import torch

from core.geometry.summary import summarize

from .conftest import NEUTRAL_FRAMES, SMILE_FRAMES


def _aus(fitter, landmarks, **kw) -> dict[str, float]:
    a = fitter.fit(landmarks, **kw).params.expression[0].tolist()
    return dict(zip(fitter.model.au_names, a, strict=True))


def test_aus_rank_as_a_person_expects(fitter, photo_landmarks):
    happy, anger, surprise = (_aus(fitter, photo_landmarks(n))
                              for n in ("happy.jpg", "anger.jpg", "surprise.jpg"))
    assert happy["AU12"] > 0.4
    assert happy["AU12"] > anger["AU12"] + 0.3 and happy["AU12"] > surprise["AU12"] + 0.3
    assert happy["AU06"] > 0.3  # cheek raiser of a real smile
    assert max(surprise["AU26"], surprise["AU25"]) > 0.7  # open mouth
    assert surprise["AU26"] > happy["AU26"] + 0.3 and surprise["AU26"] > anger["AU26"] + 0.3
    assert anger["AU04"] > happy["AU04"]  # brows lowered
    assert anger["AU15"] > 0.3 and anger["AU17"] > 0.1  # pressed, down-turned mouth and raised chin


def test_same_photo_twice_gives_the_same_params(fitter, media, analyzer, photo_landmarks):
    from core.io import load_photo

    rgb = load_photo(media.path("happy.jpg")).rgb  # loaded and analysed a second time
    a = fitter.fit(photo_landmarks("happy.jpg")).params
    b = fitter.fit(analyzer.analyze_one(np.ascontiguousarray(rgb)).landmarks).params
    assert torch.equal(a.expression, b.expression)
    assert torch.equal(a.identity, b.identity)
    assert torch.equal(a.pose.rotation, b.pose.rotation)


def test_flipped_photo_gives_mirrored_aus_and_pose(fitter, photo_landmarks):
    """AUs are bilateral: a mirrored photo reads the same AUs (within 0.2); yaw and roll flip sign."""
    model = fitter.model
    for name in ("happy.jpg", "surprise.jpg"):
        a = fitter.fit(photo_landmarks(name)).params
        b = fitter.fit(photo_landmarks(name, flip=True)).params
        diff = (a.expression - b.expression).abs()
        assert float(diff.max()) < 0.2 and float(diff.mean()) < 0.05, (name, diff)
        sa, sb = summarize(a, model=model)[0], summarize(b, model=model)[0]
        assert abs(sa.yaw + sb.yaw) < 3.0 and abs(sa.roll + sb.roll) < 3.0 and abs(sa.pitch - sb.pitch) < 3.0
    turned = summarize(fitter.fit(photo_landmarks("anger.jpg")).params, model=model)[0]
    turned_flip = summarize(fitter.fit(photo_landmarks("anger.jpg", flip=True)).params, model=model)[0]
    assert turned.yaw > 8 and turned_flip.yaw < -8  # the 15°-yaw lab photo, both ways


def test_person_neutral_fixes_the_thin_lips_leak(fitter, smile_video_landmarks):
    """One man, neutral → smile. Alone, his neutral frames read lip pressor (AU24 ≈ 1: thin lips).
    With his neutral estimated from two *other* neutral frames, the held-out neutral frame reads
    no AU above 0.15 and the smile frames read AU12 (and AU06) without AU24."""
    x = smile_video_landmarks
    model = fitter.model
    i12, i24, i06 = (model.au_index(n) for n in ("AU12", "AU24", "AU06"))
    held_out = NEUTRAL_FRAMES[1]
    alone = fitter.fit(x[held_out]).params.expression[0]
    assert float(alone[i24]) > 0.7  # the documented single-photo leak
    r0 = fitter.estimate_neutral(x[[NEUTRAL_FRAMES[0], NEUTRAL_FRAMES[2]]])
    rel = fitter.fit(x[held_out], neutral=r0).params.expression[0]
    assert float(rel.max()) < 0.15, dict(zip(model.au_names, rel.tolist(), strict=True))
    smiles = fitter.fit(x[list(SMILE_FRAMES)], neutral=r0).params.expression
    assert bool((smiles[:, i12] > 0.6).all()) and bool((smiles[:, i06] > 0.3).all())
    assert bool((smiles[:, i24] < 0.15).all())


def test_fit_reproduces_the_real_mesh(fitter, photo_landmarks):
    x = photo_landmarks("happy.jpg")
    r = fitter.fit(x)
    m64 = type(fitter.model)(dtype=torch.float64)
    v = m64.vertices_of(r.params.to(torch.float64))[0].numpy()
    assert np.abs(v - x).max() < 2e-3
    assert 1.0 < r.residual_rms[0] < 4.0  # identity residual: units of a 174-wide face


def test_fit_summary_is_plain_json(photo_landmarks):
    import json

    from core.geometry.summary import fit_summary

    s = fit_summary(photo_landmarks("disgust.jpg"))
    back = json.loads(json.dumps(s))
    assert back == s and set(s) == {"aus", "pose"} and len(s["aus"]) == 20
    assert set(s["pose"]) == {"yaw_deg", "pitch_deg", "roll_deg", "scale"}
    assert 35 < abs(s["pose"]["yaw_deg"]) < 55 and 0 < s["pose"]["scale"]
