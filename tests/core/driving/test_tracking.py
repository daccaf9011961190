"""The tracker follows one driving face by overlap and identity: across a cut that swaps two
people's places, and through frames without any face."""

from __future__ import annotations

import numpy as np
import pytest

from core.driving.tracking import (
    FaceTracker,
    TrackerConfig,
    TrackStatus,
    box_iou,
    identity_descriptor,
    identity_distance,
)
from core.io.video import iter_frames


@pytest.fixture(scope="module")
def people(media, app_assets: None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    a = list(iter_frames(media.path("sad_to_laugh.mp4"), start=200, step=4, max_frames=10))
    b = list(iter_frames(media.path("neutral_to_smile.mp4"), step=4, max_frames=10))
    return a, b


@pytest.fixture(scope="module")
def analyzer():
    from core.face.analyzer import FaceAnalyzer

    return FaceAnalyzer()


def _x(step) -> float:
    return float(step.landmarks[:, 0].mean())


def test_the_driving_face_is_followed_across_a_cut_that_swaps_places(people, analyzer) -> None:
    a, b = people
    before = [np.concatenate([x, y], axis=1) for x, y in zip(a[:5], b[:5], strict=True)]  # A left, B right
    after = [np.concatenate([y, x], axis=1) for x, y in zip(a[5:], b[5:], strict=True)]  # B left, A right
    tracker = FaceTracker(analyzer, TrackerConfig(detect_every=4))
    first = tracker.start(before[0], face_index=0)
    assert first.candidates == 2 and _x(first) < 640
    steps = [tracker.step(f) for f in before[1:] + after]
    assert all(s.status is not TrackStatus.LOST for s in steps)
    assert all(_x(s) < 640 for s in steps[:4])  # A, on the left
    assert all(_x(s) > 640 for s in steps[4:])  # A again, now on the right: not B at A's old place
    assert steps[4].status is TrackStatus.DETECTED  # the cut forced a detection at once
    assert all(s.identity < 0.6 for s in steps)


def test_frames_without_the_face_are_lost_and_it_is_found_again(people, analyzer) -> None:
    a, b = people
    grey = np.full_like(a[0], 128)
    tracker = FaceTracker(analyzer, TrackerConfig(detect_every=10))
    tracker.start(a[0])
    statuses = [tracker.step(f).status for f in [a[1], grey, grey, b[2], a[3]]]
    # the face, nothing, nothing, someone else only (not followed), the face again
    assert statuses[0] is TrackStatus.TRACKED
    assert statuses[1:4] == [TrackStatus.LOST] * 3
    assert statuses[4] is TrackStatus.DETECTED


def test_identity_tells_the_two_people_apart(people, analyzer) -> None:
    a, b = people
    da = [identity_descriptor(f, analyzer.analyze(f)[0].landmarks) for f in (a[0], a[9])]
    db = identity_descriptor(b[0], analyzer.analyze(b[0])[0].landmarks)
    assert identity_distance(da[0], da[1]) < 0.45 < 0.85 < identity_distance(da[0], db)
    assert box_iou(np.array([0, 0, 2, 2]), np.array([1, 1, 3, 3])) == pytest.approx(1 / 7)
