"""Named vertex sets of the 468-point MediaPipe face mesh, and what follows from them.

Index lists are MediaPipe's published face-mesh contours (``FACEMESH_LIPS``,
``FACEMESH_LEFT_EYE`` / ``RIGHT_EYE``, ``…_EYEBROW``, ``FACEMESH_FACE_OVAL``), written as closed
loops. "Right"/"left" are the *person's*: the right eye is on the photo's left (x < 0 in the
model frame of a frontal face).

Openings. The canonical tessellation (898 triangles) is a disc that also covers the mouth and
eye openings. The triangles whose three corners all lie on one inner contour — the inner-lip
loop (20 vertices) or an eyelid loop (16 vertices) — are exactly the triangles spanning that
opening (18 for the mouth, 14 per eye: a 20-gon and two 16-gons need n − 2 triangles each; the
check is in the tests). :func:`opening_faces` marks them so editors can treat them specially
(e.g. mouth-interior filling) and geodesics can avoid crossing them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BROW_LEFT", "BROW_RIGHT", "CHEEK_SEEDS", "EYE_LEFT", "EYE_RIGHT", "FACE_OVAL", "JAW_SEEDS",
           "LIPS_INNER", "LIPS_OUTER", "NOSE", "NUM_VERTICES", "mirror_permutation", "opening_faces"]

NUM_VERTICES = 468

# Closed loops, in order around the contour.
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
EYE_RIGHT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
EYE_LEFT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# Brows: lower then upper edge.
BROW_RIGHT = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
BROW_LEFT = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
# Nose: the midline from the bridge to the base, the alae and the nostril rims.
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 64, 294, 48, 278, 115, 344, 220, 440)
# Seeds of the regions that have no contour of their own.
JAW_SEEDS = (152, 148, 176, 149, 150, 136, 172, 58, 377, 400, 378, 379, 365, 397, 288, 175, 199, 200)
CHEEK_SEEDS = (50, 280, 117, 346, 205, 425, 123, 352, 187, 411, 234, 454, 93, 323, 132, 361)


def opening_faces(faces: np.ndarray, loop: tuple[int, ...]) -> np.ndarray:
    """(F,) bool: triangles of ``faces`` (F, 3) whose three corners all lie on ``loop``."""
    on = np.zeros(int(faces.max()) + 1, dtype=bool)
    on[list(loop)] = True
    return on[faces].all(axis=1)


def mirror_permutation(vertices: np.ndarray, *, tol: float) -> np.ndarray:
    """(V,) int64 ``p`` with vertex ``p[i]`` the mirror image (x → −x) of vertex ``i``.

    vertices: (V, 3) a left-right symmetric mesh centred on x = 0 (the canonical face).
    Raises ``ValueError`` if some vertex has no mirror partner within ``tol``.
    """
    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(vertices[None, :, :] - mirrored[:, None, :], axis=-1)  # (V, V)
    perm = d.argmin(axis=1)
    worst = d[np.arange(len(perm)), perm].max()
    if worst > tol or not np.array_equal(np.sort(perm), np.arange(len(perm))):
        raise ValueError(f"mesh is not mirror-symmetric: worst partner distance {worst:.4g} > {tol}")
    return perm.astype(np.int64)
