"""One pair's numbers from the judged faces: :func:`score_pair`.

Identity compares the output with the source; expression and emotion compare it with the
reference (a preset reference has AUs and a name but no picture); the paired metrics compare
the output with the target, both cut with the target face's alignment (:class:`PairedCrops`).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
from torch import nn

from core.evaluation.records import PairScores, probabilities
from core.evaluation.views import FaceView
from core.metrics.emotion import EMOTIONS, expression_agrees, top_emotion
from core.metrics.expression import aed, au_hamming, ed
from core.metrics.identity import acd, csim, identity_distance
from core.metrics.lpips_metric import lpips_distance
from core.metrics.paired import l1, psnr, ssim


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
               output: FaceView, paired: PairedCrops | None = None, lpips_model: nn.Module | None = None
               ) -> PairScores:
    """Every per-pair number (see :class:`PairScores`).

    reference: the reference photo's view, or None for a preset; reference_aus: (20,) the
    reference's AUs (the view's, or the preset's); preset: the preset's name, or None.
    lpips_model: from :func:`core.metrics.lpips_metric.load_lpips`, or None (LPIPS left out).
    """
    has_id = output.descriptor is not None and source.descriptor is not None
    ref_class = _reference_class(reference, preset)
    agrees = None
    if output.emotion is not None:
        if reference is not None and reference.emotion is not None:
            agrees = bool(expression_agrees(output.emotion, reference.emotion))
        elif reference is None and ref_class is not None:
            agrees = top_emotion(output.emotion) == ref_class
    scores = PairScores(
        csim=float(csim(output.descriptor, source.descriptor)) if has_id else None,
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
