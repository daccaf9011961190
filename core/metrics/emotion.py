"""Emotion agreement: does an independent classifier see the reference's expression in the output?

The emotion judge (fer's mini-Xception, :mod:`core.judges`) gives 7-class probabilities per face
in the order of :data:`EMOTIONS`. ``expression_agrees`` is 1 when the output's most likely class
is the reference's, else 0; its mean over pairs is the agreement rate. This is not the paper's
IS (which needs ImageNet Inception); an "emotion IS" is deliberately not offered.

Probabilities: (7,) or (N, 7) float arrays, each row summing to 1.
"""

from __future__ import annotations

import numpy as np

from core.metrics.registry import register_metric

# fer's class order (its FER-2013 labels); the built-in presets use the same names.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def check_probabilities(probs: np.ndarray, name: str = "probabilities") -> np.ndarray:
    """(…, 7) float64 copy of ``probs``; raises ValueError unless each row is a distribution."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[-1] != len(EMOTIONS):
        raise ValueError(f"{name}: expected (7,) or (N, 7) class probabilities, got shape {p.shape}")
    if not np.isfinite(p).all() or p.min() < -1e-6 or np.abs(p.sum(axis=-1) - 1).max() > 1e-3:
        raise ValueError(f"{name}: each row must be non-negative and sum to 1")
    return p


def top_emotion(probs: np.ndarray) -> str:
    """The most likely class of one (7,) distribution."""
    p = check_probabilities(probs)
    if p.ndim != 1:
        raise ValueError(f"top_emotion: expected one (7,) distribution, got {p.shape}")
    return EMOTIONS[int(np.argmax(p))]


def emotion_index(name: str) -> int:
    """The class index of an emotion name (a preset's name); raises ValueError naming the classes."""
    try:
        return EMOTIONS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown emotion {name!r}; the classes are {', '.join(EMOTIONS)}") from None


@register_metric(key="expression_agrees", label="Emotion agrees", group="emotion", better="higher",
                 needs="emotion-judge",
                 description="1 when the emotion judge's top class for the output is the reference's "
                             "(mean = agreement rate)")
def expression_agrees(pred: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """1.0 where argmax(pred) == argmax(target), else 0.0 (a float, or (N,) for (N, 7))."""
    a = check_probabilities(pred, "pred")
    b = check_probabilities(target, "target")
    if a.shape != b.shape:
        raise ValueError(f"expression_agrees: shapes differ, {a.shape} vs {b.shape}")
    same = (np.argmax(a, axis=-1) == np.argmax(b, axis=-1)).astype(np.float64)
    return float(same) if same.ndim == 0 else same


CLEAR_REFERENCE_P = 0.5  # issue 10: a reference counts when its top class has at least this probability


def is_clear_pair(source: np.ndarray, reference: np.ndarray | str) -> bool:
    """Whether a pair belongs to issue 10's agreement subset: the reference is clearly one class
    (its top probability >= :data:`CLEAR_REFERENCE_P`; a preset's name always is) and the source's
    top class differs from it. source: (7,) probabilities; reference: (7,) probabilities, or the
    class name of a preset."""
    if isinstance(reference, str):
        ref_class = EMOTIONS[emotion_index(reference)]
    else:
        ref = check_probabilities(reference, "reference")
        if ref.ndim != 1 or ref.max() < CLEAR_REFERENCE_P:
            return False
        ref_class = top_emotion(ref)
    return top_emotion(source) != ref_class


@register_metric(key="expression_agrees_clear", label="Emotion agrees (clear pairs)", group="emotion",
                 better="higher", needs="emotion-judge",
                 description="the agreement rate over issue 10's subset: the reference's top class has "
                             "p >= 0.5 (or is a preset's) and the source's top class differs")
def expression_agrees_clear(pred: np.ndarray, target: np.ndarray | str, source: np.ndarray) -> float | None:
    """1.0 / 0.0 as :func:`expression_agrees` (target: the reference's (7,) probabilities, or a
    preset's class name) for a pair of the subset (:func:`is_clear_pair`), None for other pairs."""
    if not is_clear_pair(source, target):
        return None
    ref_class = EMOTIONS[emotion_index(target)] if isinstance(target, str) else top_emotion(target)
    return float(top_emotion(pred) == ref_class)
