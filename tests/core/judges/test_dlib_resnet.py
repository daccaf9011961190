"""dlib's face-recognition ResNet in PyTorch: against dlib's runtime, identity sense, loading.

Against ``dlib.face_recognition_model_v1(...).compute_face_descriptor(chip)`` (dlib-bin 20.0.1, the
``dev`` extra) on the same 150x150 chips of real photos: observed max abs difference about 5e-7;
asserted <= 1e-3.

Identity, on dlib's distances (observed): the same woman sad and laughing 0.47, the same man in a
video and in a photo years apart 0.45; different people 0.50 to 0.96 (the five people of
multi_face.jpg 0.51 at least). Four lab portraits of different people score 0.50 to 0.69 between
themselves and with single_face.jpg, so dlib's 0.6 threshold alone would call some of them the
same person.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import EXIT_ASSET
from core.judges.dlib_resnet import (
    SAME_PERSON_DISTANCE,
    DlibFaceResNet,
    descriptors_from_chips,
    load_dlib_resnet,
)
from core.judges.errors import JudgeAssetMissingError
from core.judges.face_chip import face_chip

RUNTIME_TOL = 1e-3

NO_DLIB = "dlib (dlib-bin, dev extra) is not installed: no reference runtime"


@pytest.fixture(scope="module")
def net(identity_assets) -> DlibFaceResNet:
    return load_dlib_resnet()


def _chip(shots, name: str, index: int = 0) -> np.ndarray:
    shot = shots[name]
    return face_chip(shot.image, shot.faces[index].landmarks).image


def test_matches_dlib_runtime(judge_shots, net):
    dlib = pytest.importorskip("dlib", reason=NO_DLIB)
    from core.assets import asset_path

    ref_net = dlib.face_recognition_model_v1(
        str(asset_path("identity-dlib", "dlib_face_recognition_resnet_model_v1.dat")))
    chips = np.stack([_chip(judge_shots, "happy.jpg"), _chip(judge_shots, "surprise.jpg"),
                      _chip(judge_shots, "multi_face.jpg", 0), _chip(judge_shots, "multi_face.jpg", 3)])
    ours = descriptors_from_chips(net, chips)
    ref = np.stack([np.asarray(ref_net.compute_face_descriptor(c), np.float32) for c in chips])
    assert ours.shape == ref.shape == (4, 128) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= RUNTIME_TOL


def test_same_person_closer_than_different_people(judge_shots, net):
    same = [("sad_to_laugh.mp4@0", "sad_to_laugh.mp4@300"), ("neutral_to_smile.mp4@0", "single_face.jpg")]
    people = {"sad_to_laugh.mp4@0": "woman", "sad_to_laugh.mp4@300": "woman",
              "neutral_to_smile.mp4@0": "man", "single_face.jpg": "man"}
    chips = {k: _chip(judge_shots, k) for k in people}
    for i in range(5):
        chips[f"multi#{i}"] = _chip(judge_shots, "multi_face.jpg", i)
        people[f"multi#{i}"] = f"multi#{i}"
    names = list(chips)
    d = descriptors_from_chips(net, np.stack([chips[k] for k in names]))
    dist = {(a, b): float(np.linalg.norm(d[i] - d[j]))
            for i, a in enumerate(names) for j, b in enumerate(names) if i < j}
    worst_same = max(dist[p] for p in same)
    closest_other = min(v for (a, b), v in dist.items() if people[a] != people[b])
    assert worst_same < SAME_PERSON_DISTANCE
    assert worst_same < closest_other, (worst_same, closest_other)


def test_batched_differentiable_and_unnormalised(judge_shots, net):
    chips = np.stack([_chip(judge_shots, "happy.jpg"), _chip(judge_shots, "anger.jpg")])
    x = torch.from_numpy(chips).permute(0, 3, 1, 2).float().requires_grad_(True)
    out = net(x)
    assert out.shape == (2, 128)
    one = net(x[1:2].detach())
    assert torch.allclose(out[1:2], one, atol=1e-5)  # a face's descriptor does not depend on its batch
    norms = out.detach().norm(dim=1)
    assert ((norms > 0.2) & (norms < 2.0)).all()  # dlib's descriptors are about unit length, not exactly
    (out[0] - out[1]).norm().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in net.parameters())


def test_input_checks(net):
    with pytest.raises(ValueError, match="chips"):
        net(torch.zeros(1, 3, 112, 112))
    with pytest.raises(ValueError, match="150, 150, 3"):
        descriptors_from_chips(net, np.zeros((150, 150, 3), np.float32))


def test_missing_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("GAFET_HOME", str(tmp_path))
    with pytest.raises(JudgeAssetMissingError) as err:
        load_dlib_resnet()
    assert err.value.exit_code == EXIT_ASSET
    assert "identity judge" in str(err.value) and "gafet assets fetch identity-dlib" in str(err.value)
