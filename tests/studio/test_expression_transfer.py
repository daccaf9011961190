"""Measured, not eyeballed: moving the intensity slider brings the *result photo's* expression
towards the reference's. The AUs are re-measured from pixels: face analysis (FaceAnalyzer) and
the AU geometry fit on the picture the Studio shows, at intensity 0 % and 100 %."""

from __future__ import annotations

import numpy as np
import pytest

from core.editing.params import AU_NAMES
from core.face.analyzer import FaceAnalyzer
from core.geometry.au.fit import fit_face
from tests.helpers.studio import load_pair, set_intensity, shown_after


def fitted_aus(rgb: np.ndarray) -> np.ndarray:
    """(20,) AUs of the largest face in ``rgb``, measured from the pixels."""
    faces = FaceAnalyzer().analyze(np.ascontiguousarray(rgb))
    assert faces, "no face found in the picture"
    face = max(faces, key=lambda f: f.detection.width * f.detection.height)
    return fit_face(face.landmarks).expression.detach().cpu().numpy().reshape(-1).astype(np.float64)


# (source, reference, required shrink of the AU distance): surprise -> smile is the harder case
# for the warp editor (a smile's cheek raise and lip-corner pull barely move the mesh).
@pytest.mark.parametrize(
    ("source", "reference", "shrink"),
    [("anger.jpg", "surprise.jpg", 0.6), ("surprise.jpg", "happy.jpg", 0.85)],
)
def test_intensity_moves_the_photos_aus_towards_the_reference(
    qtbot, window, media, source, reference, shrink
) -> None:
    load_pair(qtbot, window, media, source=source, reference=reference)
    ref = fitted_aus(window.session.reference.prepared.photo.rgb)
    set_intensity(qtbot, window, 0)
    at0 = fitted_aus(shown_after(window))
    set_intensity(qtbot, window, 100)
    at100 = fitted_aus(shown_after(window))
    d0, d100 = np.linalg.norm(at0 - ref), np.linalg.norm(at100 - ref)
    moved = {
        AU_NAMES[i]: (round(at0[i], 2), round(at100[i], 2), round(ref[i], 2))
        for i in np.argsort(-np.abs(ref - at0))[:4]
    }
    print(
        f"{source} -> {reference}: AU distance to the reference {d0:.3f} at 0 %, {d100:.3f} at 100 %; {moved}"
    )
    assert d100 < shrink * d0, (d0, d100, moved)
