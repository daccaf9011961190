"""Each metric on inputs with a known answer, and the registry's naming rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.metrics import all_metrics, metric
from core.metrics.distribution import frechet_distance, inception_score_splits, kernel_distance
from core.metrics.emotion import EMOTIONS, expression_agrees, top_emotion
from core.metrics.expression import AU_PRESENCE_THRESHOLD, aed, au_hamming, ed
from core.metrics.identity import acd, csim, identity_distance
from core.metrics.paired import l1, psnr, ssim


def test_identity_metrics_known_answers():
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([0.0, 2.0, 0.0])
    assert csim(a, a) == pytest.approx(1.0)
    assert csim(a, -a) == pytest.approx(-1.0)
    assert csim(a, b) == pytest.approx(0.0)
    assert acd(a, a) == 0.0
    assert acd(a, b) == pytest.approx(math.sqrt(5))
    assert identity_distance(a, b) == pytest.approx(math.sqrt(5))  # dlib decides on the raw L2 distance
    batch = csim(np.stack([a, a]), np.stack([a, b]))
    np.testing.assert_allclose(batch, [1.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="all zeros"):
        csim(a, np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        acd(a, np.zeros(4))


def test_expression_metrics_known_answers():
    src = np.zeros(20)
    ref = np.zeros(20)
    ref[[3, 9]] = [0.8, 0.2]  # one AU above the presence threshold, one below
    assert aed(src, ref) == pytest.approx(1.0 / 20)
    assert ed(src, ref) == pytest.approx(math.hypot(0.8, 0.2))
    assert au_hamming(src, ref) == pytest.approx(1 / 20)  # only AU index 3 is "present"
    assert au_hamming(ref, ref) == 0.0
    assert au_hamming(src, np.full(20, AU_PRESENCE_THRESHOLD + 0.01)) == 1.0


def test_emotion_agreement():
    happy = np.eye(7)[EMOTIONS.index("happy")] * 0.9 + 0.1 / 7
    sad = np.eye(7)[EMOTIONS.index("sad")] * 0.9 + 0.1 / 7
    assert top_emotion(happy) == "happy"
    assert expression_agrees(happy, happy) == 1.0
    assert expression_agrees(happy, sad) == 0.0
    with pytest.raises(ValueError, match="sum to 1"):
        expression_agrees(happy * 2, sad)


def test_paired_metrics_known_answers():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert l1(x, x) == 0.0 and psnr(x, x) == math.inf and ssim(x, x) == pytest.approx(1.0)
    y = x.astype(np.int16) + 10
    y = np.clip(y, 0, 255).astype(np.uint8)
    mse = np.mean((x.astype(float) - y) ** 2)
    assert psnr(x, y) == pytest.approx(10 * math.log10(255**2 / mse))
    assert l1(np.zeros_like(x), np.full_like(x, 255)) == 1.0
    skimage = pytest.importorskip("skimage.metrics")
    z = np.clip(x.astype(np.int16) + rng.integers(-40, 40, x.shape), 0, 255).astype(np.uint8)
    want = skimage.structural_similarity(x, z, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=255)
    assert ssim(x, z) == pytest.approx(want, abs=0.02)  # border handling differs slightly


def test_distribution_metrics_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    shifted = a + np.array([1.0, 0.0, 0.0])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(shifted, a) == pytest.approx(1.0, abs=1e-6)  # same covariance: |Δμ|²
    assert abs(kernel_distance(a[:500], a[500:1000])) < 0.01
    assert kernel_distance(shifted[:500], a[:500]) > 0.1
    uniform = np.full((10, 5), 0.2)
    assert inception_score_splits(uniform, splits=1).mean == pytest.approx(1.0)
    one_hot = np.eye(5)[np.arange(10) % 5]
    assert inception_score_splits(one_hot, splits=1).mean == pytest.approx(5.0)


def test_registry_names_substitutes_apart():
    keys = {m.key for m in all_metrics()}
    assert {"csim", "acd", "identity_distance", "aed", "au_h", "ed", "expression_agrees", "fid", "kid", "is",
            "fd_dlib", "l1", "psnr", "ssim", "lpips"} <= keys
    for m in all_metrics():
        if m.label in ("FID", "KID", "IS"):
            assert m.needs == "inception-fid", m  # never computed on a stand-in network
        if m.group == "expression":
            assert m.label.endswith("(mesh AUs)"), m
    assert metric("fd_dlib").label == "FD-dlib"
    assert metric("csim").arrow == "↑" and metric("aed").arrow == "↓"
