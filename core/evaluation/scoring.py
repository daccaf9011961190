"""One pair's numbers from the judged faces: :func:`score_pair`.

Identity compares the output with the source; expression and emotion compare it with the
reference (a preset reference has AUs and a name but no picture); the paired metrics compare
the output with the target, both cut with the target face's alignment (:class:`PairedCrops`).
Face geometry (dlib's 68 points) measures how much of the source -> reference change the output
makes (photo references only); detail and the face-box difference compare the output's pixels
with the source's (:func:`detail_scores`).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
from torch import nn

from core.evaluation.records import PairScores, probabilities
from core.evaluation.views import FaceView
from core.metrics.detail import detail_ratio, face_box_mad, skin_region
from core.metrics.emotion import EMOTIONS, expression_agrees, expression_agrees_clear, top_emotion
from core.metrics.expression import aed, au_hamming, ed
from core.metrics.face_geometry import GAP_KEYS, MEASURES, gap_closure
from core.metrics.identity import acd, csim, identity_distance
from core.metrics.lpips_metric import lpips_distance
from core.metrics.paired import l1, psnr, ssim


class DetailScores(NamedTuple):
    """detail_ratio: face-region Laplacian variance, output / source; face_box_mad: mean absolute
    difference (0-255) in the landmark judge's face box (None without one)."""

    detail_ratio: float | None
    face_box_mad: float | None


def detail_scores(output: np.ndarray, source: np.ndarray, source_mesh: np.ndarray, output_mesh: np.ndarray,
                  box: tuple[int, int, int, int] | None) -> DetailScores:
    """The detail numbers of one output. output, source: (H, W, 3) uint8 RGB photos; source_mesh,
    output_mesh: (468, 2|3) photo px, the source's face and the face found in the output (their eyes
    and mouths are left out of the detail region, :func:`core.metrics.detail.skin_region`); box:
    the landmark judge's box of the source face (left, top, right, bottom, inclusive) or None."""
    region = skin_region(source_mesh, output.shape, exclude=(source_mesh, output_mesh))
    ratio = detail_ratio(output, source, region) if region.sum() >= 2 else None
    mad = None if box is None else face_box_mad(output, source, (box[0], box[1], box[2] + 1, box[3] + 1))
    return DetailScores(detail_ratio=ratio, face_box_mad=mad)


def _geometry_scores(source: FaceView, reference: FaceView | None, output: FaceView) -> dict[str, object]:
    """The dlib-68 measures of the three faces and the gap closures (None for a preset)."""
    src, ref, out = source.geometry, None if reference is None else reference.geometry, output.geometry
    closed = gap_closure(src, ref, out) if src is not None and ref is not None and out is not None else None
    values: dict[str, object] = {"geometry_source": src, "geometry_reference": ref, "geometry_output": out}
    for key, measure in zip(GAP_KEYS, MEASURES, strict=True):
        values[key] = None if closed is None else getattr(closed, measure)
    return values


def _clear_agreement(source: FaceView, reference: FaceView | None, output: FaceView,
                     ref_class: str | None) -> bool | None:
    if output.emotion is None or source.emotion is None:
        return None
    target = reference.emotion if reference is not None else ref_class
    if target is None:
        return None
    agrees = expression_agrees_clear(output.emotion, target, source.emotion)
    return None if agrees is None else bool(agrees)


class PairedCrops(NamedTuple):
    """output / target: (S, S, 3) uint8 RGB, both cut with the target face's alignment."""

    output: np.ndarray
    target: np.ndarray


def _reference_class(reference: FaceView | None, preset: str | None) -> str | None:
    if reference is not None and reference.emotion is not None:
        return top_emotion(reference.emotion)
    if preset is not None and preset.lower() in EMOTIONS:
        return preset.lower()
    return None


def score_pair(*, source: FaceView, reference: FaceView | None, reference_aus: np.ndarray, preset: str | None,
               output: FaceView, paired: PairedCrops | None = None, lpips_model: nn.Module | None = None,
               detail: DetailScores | None = None) -> PairScores:
    """Every per-pair number (see :class:`PairScores`).

    reference: the reference photo's view, or None for a preset; reference_aus: (20,) the
    reference's AUs (the view's, or the preset's); preset: the preset's name, or None.
    lpips_model: from :func:`core.metrics.lpips_metric.load_lpips`, or None (LPIPS left out).
    detail: the output's :func:`detail_scores`, or None (left out).
    """
    has_id = output.descriptor is not None and source.descriptor is not None
    # CSIM: the imported network's embeddings when there is one (both views then have them), else
    # the identity judge's descriptors; never one of each.
    if output.csim_embedding is not None or source.csim_embedding is not None:
        csim_pair = (output.csim_embedding, source.csim_embedding)
    else:
        csim_pair = (output.descriptor, source.descriptor)
    has_csim = csim_pair[0] is not None and csim_pair[1] is not None
    ref_class = _reference_class(reference, preset)
    agrees = None
    if output.emotion is not None:
        if reference is not None and reference.emotion is not None:
            agrees = bool(expression_agrees(output.emotion, reference.emotion))
        elif reference is None and ref_class is not None:
            agrees = top_emotion(output.emotion) == ref_class
    scores = PairScores(
        csim=float(csim(*csim_pair)) if has_csim else None,
        acd=float(acd(output.descriptor, source.descriptor)) if has_id else None,
        identity_distance=float(identity_distance(output.descriptor, source.descriptor)) if has_id else None,
        aed=float(aed(output.aus, reference_aus)),
        au_h=float(au_hamming(output.aus, reference_aus)),
        ed=float(ed(output.aus, reference_aus)),
        emotion_source=probabilities(source.emotion),
        emotion_reference=probabilities(None if reference is None else reference.emotion),
        emotion_output=probabilities(output.emotion),
        reference_emotion=ref_class,
        expression_agrees=agrees,
        expression_agrees_clear=_clear_agreement(source, reference, output, ref_class),
        **_geometry_scores(source, reference, output),  # type: ignore[arg-type]
        detail_ratio=None if detail is None else detail.detail_ratio,
        face_box_mad=None if detail is None else detail.face_box_mad,
    )
    if paired is None:
        return scores
    return dataclasses.replace(
        scores,
        l1=l1(paired.output, paired.target),
        psnr=psnr(paired.output, paired.target),
        ssim=ssim(paired.output, paired.target),
        lpips=None if lpips_model is None else lpips_distance(paired.output, paired.target, lpips_model),
    )
