"""The evaluation loop on real photos: known answers of the identity baseline, the cache, the
identity judge on video frames of one person, pairs files and ablation labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.evaluation.ablations import ablation_label
from core.evaluation.cache import EvalCache
from core.evaluation.editors import EvalEditor
from core.evaluation.judges import load_judges
from core.evaluation.pairs import EvalPair, Holdout, PairsError, read_pairs_csv, video_pairs
from core.evaluation.runner import EvalSettings, Evaluator
from core.metrics.expression import ed
from core.metrics.identity import identity_distance
from core.nets.config import preset

pytestmark = pytest.mark.usefixtures("app_assets")


@pytest.fixture(scope="module")
def judges():
    j = load_judges()
    assert j.identity is not None and j.emotion is not None, (j.identity_problem, j.emotion_problem)
    return j


def test_identity_editor_known_answers_and_cache(media, judges, tmp_path):
    pairs = [EvalPair(source=media.path("single_face.jpg"), reference=media.path("happy.jpg")),
             EvalPair(source=media.path("anger.jpg"), preset="surprise")]
    editors = [EvalEditor.parse("identity"), EvalEditor.parse("mouth-paste")]
    cache = EvalCache(tmp_path / "cache")
    evaluator = Evaluator(settings=EvalSettings(), judges=judges, cache=cache)
    outcomes = list(evaluator.run(pairs, editors))
    assert [(o.editor.name, o.ok, o.skipped is not None) for o in outcomes] == [
        ("identity", True, False), ("mouth-paste", True, False), ("identity", True, False),
        ("mouth-paste", False, True)]  # nothing to paste from a preset
    for o in (outcomes[0], outcomes[2]):
        s = o.record.scores
        source, reference = evaluator.pair_views[o.pair]
        assert s.csim == pytest.approx(1.0, abs=1e-9) and s.acd == 0.0 and s.identity_distance == 0.0
        ref_aus = reference.aus if reference is not None else None
        if ref_aus is not None:
            assert s.ed == pytest.approx(ed(source.aus, ref_aus), abs=1e-12)
        assert s.emotion_output == s.emotion_source
    assert outcomes[2].record.scores.reference_emotion == "surprise"
    assert outcomes[2].record.scores.emotion_reference is None
    paste = outcomes[1].record.scores
    assert 0 < paste.acd < 0.6  # pasting a mouth changes the face, but not into someone else

    again = Evaluator(settings=EvalSettings(), judges=judges, cache=cache)
    rerun = list(again.run(pairs, editors))
    assert all(o.cached for o in rerun if o.ok) and again._pipeline is None  # no network was loaded
    assert [o.record.scores for o in rerun if o.ok] == [o.record.scores for o in outcomes if o.ok]
    half = Evaluator(settings=EvalSettings(alpha=0.5), judges=judges, cache=cache)
    moved = list(half.run(pairs[:1], editors))
    assert not any(o.cached for o in moved)  # another alpha is another result


def test_same_person_closer_than_another_and_paired_metrics(media, judges, tmp_path):
    """Frames 0 and 71 of one clip (neutral, then smiling) are one person; happy.jpg is another."""
    pairs = video_pairs(media.path("neutral_to_smile.mp4"), Holdout(1, 72, step=70), tmp_path / "frames")
    assert [p.source.name for p in pairs] == ["frame_000000.png"] * 2
    assert [p.reference.name for p in pairs] == ["frame_000001.png", "frame_000071.png"]
    pairs.append(dataclasses.replace(pairs[1], reference=media.path("happy.jpg"), target=None))
    evaluator = Evaluator(settings=EvalSettings(), judges=judges, cache=EvalCache(None))
    outcomes = list(evaluator.run(pairs, [EvalEditor.parse("identity")]))
    assert all(o.ok for o in outcomes), [str(o.error) for o in outcomes]
    distance = {}
    for p in pairs[1:]:
        source, reference = evaluator.pair_views[p]
        distance[p.reference.name] = identity_distance(reference.descriptor, source.descriptor)
    assert distance["frame_000071.png"] < 0.6 < distance["happy.jpg"]
    near, far, photo = (o.record.scores for o in outcomes)
    assert near.ssim > far.ssim and near.psnr > far.psnr and near.l1 < far.l1  # output = frame 0
    assert photo.l1 is None and photo.lpips is None


def test_pairs_csv(tmp_path, media):
    (tmp_path / "a.jpg").write_bytes(media.path("happy.jpg").read_bytes())
    csv = tmp_path / "pairs.csv"
    csv.write_text("source,reference,target,source_face\na.jpg,preset:sad,,\na.jpg,b.jpg,c.jpg,2\n\n")
    first, second = read_pairs_csv(csv)
    assert first.source == tmp_path / "a.jpg" and first.preset == "sad" and first.reference is None
    assert second.reference == tmp_path / "b.jpg" and second.target == tmp_path / "c.jpg"
    assert second.source_face == 2 and "b.jpg" in second.label
    csv.write_text("photo,expression\na.jpg,b.jpg\n")
    with pytest.raises(PairsError, match="source,reference"):
        read_pairs_csv(csv)
    with pytest.raises(PairsError, match="START:END"):
        Holdout.parse("12")


def test_ablation_labels():
    full = preset("tiny-64")
    assert ablation_label(full) == "Full"
    assert ablation_label(full.with_switches(use_mfat=False, use_feature_deformation=False)) == "w/o MFAT, FD"
    assert np.isscalar(len(ablation_label(full.with_switches(use_component_discriminator=False))))
