"""``gafet prepare``: the face cache from real photos and videos; bad files, duplicates, hold-out,
resume after a kill (with worker processes) equal to an uninterrupted run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.geometry.au.model import AUFaceModel
from core.geometry.face_model import FaceParams, Pose
from gafet_studio.cli.main import main
from tests.training.conftest import FACE_CACHE_SETTINGS, PreparedFaceCache
from training.data.cache import INDEX_NAME, REPORT_JSON, REPORT_TXT, SHARDS_DIR, CacheSettings, FaceCache
from training.data.dataset import FaceCacheDataset
from training.data.prepare import PrepareError, run_prepare
from training.data.records import FaceArrays
from training.data.shards import (
    CacheFormatError,
    list_shards,
    open_arrays,
    read_header,
    shard_name,
    write_shard,
)
from training.data.sources import FrameRange, PrepareInputError, list_inputs, plan_units

ROOT = Path(__file__).resolve().parents[2]
SAD_STEP, SMILE_STEP = 48, 60  # 23.976 and 30 fps sampled at 0.5 fps
SAD_FRAMES = 472  # decoded frames of sad_to_laugh.mp4


def cache_content(root: Path) -> list:
    """Everything a training run reads from a cache, shard by shard (timings excluded)."""
    out = []
    for path in list_shards(root / SHARDS_DIR):
        header = read_header(path)
        arrays = open_arrays(path, header)
        digests = {k: hashlib.sha256(np.ascontiguousarray(a)).hexdigest() for k, a in arrays.items()}
        units = [{k: v for k, v in u.items() if "seconds" not in k} for u in header.records["units"]]
        out.append((path.name, header.records["samples"], units, digests))
    return out


def params_of(face: FaceArrays) -> FaceParams:
    t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32))[None]  # noqa: E731
    return FaceParams(identity=t(face.identity), expression=t(face.expression),
                      pose=Pose(scale=t(face.scale).reshape(1), rotation=t(face.rotation),
                                translation=t(face.translation)))


# -- the prepared cache -------------------------------------------------------------------------------


def test_cache_holds_every_face_once_with_fitted_parameters(face_cache: PreparedFaceCache) -> None:
    cache = FaceCache(face_cache.root)
    assert cache.complete and cache.size == 64 and cache.has_neutral
    assert len(cache) == face_cache.summary.samples > 0
    by_file: dict[str, list[int]] = {}
    for info in cache.infos:
        by_file.setdefault(Path(info.source).name, []).append(info.frame)
    assert sorted(by_file.pop(n) for n in ("anger.jpg", "happy.jpg", "surprise.jpg")) == [[-1]] * 3
    assert set(by_file) == {"neutral_to_smile.mp4", "sad_to_laugh.mp4"}  # no duplicate, broken, no-face photo
    report = json.loads((face_cache.root / REPORT_JSON).read_text())
    no_face_frames = {(Path(e["path"]).name, e["frame"]) for e in report["skipped"]
                      if e["reason"] == "no_face"}
    smile = [f for f in range(0, 72, SMILE_STEP) if ("neutral_to_smile.mp4", f) not in no_face_frames]
    sad = [f for f in range(0, SAD_FRAMES, SAD_STEP)
           if not 240 <= f < 360 and ("sad_to_laugh.mp4", f) not in no_face_frames]
    assert by_file["neutral_to_smile.mp4"] == smile and by_file["sad_to_laugh.mp4"] == sad
    assert len(sad) >= 6  # the woman's face is found in (nearly) every sampled frame

    model = AUFaceModel()
    for i in range(len(cache)):
        x, xn = cache.face(i, "x"), cache.face(i, "xn")
        assert x.image.shape == xn.image.shape == (64, 64, 3) and x.image.dtype == np.uint8
        assert x.landmarks.shape == (468, 3) and x.expression.shape == (20,)
        assert 0 <= x.expression.min() and x.expression.max() <= 1
        assert np.all(xn.expression == 0)  # the neutral preset: every AU at 0
        np.testing.assert_array_equal(xn.identity, x.identity)  # same person and pose (exact)
        verts = model.vertices_of(params_of(x))[0].numpy()  # X's parameters reproduce its mesh
        assert np.abs(verts - x.landmarks).max() < 1e-3
        # X_n's mesh is the warp's actual (fold-free) target: close to the model's neutral face
        neutral = model.vertices_of(params_of(xn))[0].numpy()
        assert np.abs(neutral - xn.landmarks).max() < 0.05 * 64
        assert np.all((x.landmarks[:, :2] > 0) & (x.landmarks[:, :2] < 63))
    happy = next(i for i, s in enumerate(cache.infos) if s.source.endswith("happy.jpg"))
    diff = np.abs(cache.face(happy, "x").image.astype(int) - cache.face(happy, "xn").image.astype(int))
    assert diff.mean() > 1.0  # the smile was neutralised: X_n differs from X around the mouth
    assert np.abs(cache.face(happy, "xn").landmarks - cache.face(happy, "x").landmarks).max() > 1.0


def test_bad_files_are_skipped_and_reported(face_cache: PreparedFaceCache) -> None:
    inputs = face_cache.inputs
    report = json.loads((face_cache.root / REPORT_JSON).read_text())
    reasons = {(Path(e["path"]).name, e["reason"]) for e in report["skipped"]}
    assert {("broken.jpg", "unreadable"), ("no_face.jpg", "no_face"), ("happy_again.jpg", "duplicate"),
            ("readme.txt", "unsupported")} <= reasons
    duplicate = next(e for e in report["skipped"] if e["reason"] == "duplicate")
    assert "happy.jpg" in duplicate["message"]
    assert report["held_out"] == [{"path": str((inputs.root / "videos" / "sad_to_laugh.mp4").resolve()),
                                   "frames": 3}]
    text = (face_cache.root / REPORT_TXT).read_text()
    for name in ("broken.jpg", "no_face.jpg", "happy_again.jpg", "readme.txt"):
        assert name in text
    s = face_cache.summary
    assert s.skipped["unreadable"] == 1 and s.skipped["duplicate"] == 1 and s.skipped["unsupported"] == 1
    assert s.held_out == 3 and s.complete and s.images_run == s.images
    assert s.seconds_per_image > 0 and 0 < s.cpu_seconds_per_image and s.projected_hours() > 0


def test_rerun_of_a_complete_cache_does_nothing(face_cache: PreparedFaceCache) -> None:
    before = cache_content(face_cache.root)
    summary = run_prepare([face_cache.inputs.root], face_cache.root, FACE_CACHE_SETTINGS, workers=1)
    assert summary.images_run == 0 and summary.samples == face_cache.summary.samples
    assert cache_content(face_cache.root) == before


def test_other_settings_or_a_foreign_folder_are_refused(face_cache: PreparedFaceCache,
                                                        tmp_path: Path) -> None:
    other = dataclasses.replace(FACE_CACHE_SETTINGS, size=128)
    with pytest.raises(PrepareError, match="other settings: size 64"):
        run_prepare([face_cache.inputs.root], face_cache.root, other)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    with pytest.raises(PrepareError, match="not empty"):
        run_prepare([face_cache.inputs.root], foreign, FACE_CACHE_SETTINGS)
    with pytest.raises(PrepareInputError, match="names no video"):
        run_prepare([face_cache.inputs.root], tmp_path / "new",
                    CacheSettings(size=64, holdout=("missing.mp4:1:5",)))
    assert not (tmp_path / "new").exists()


def test_resume_after_kill_equals_an_uninterrupted_run(face_cache: PreparedFaceCache, tmp_path: Path) -> None:
    """A `gafet prepare --workers 2` process group killed (SIGKILL) after its first shard, then
    continued in this process: the cache equals the uninterrupted one, shard for shard."""
    out = tmp_path / "cache"
    s = FACE_CACHE_SETTINGS
    cmd = [sys.executable, "-m", "gafet_studio.cli.main", "prepare", str(face_cache.inputs.root),
           "-o", str(out), "--size", str(s.size), "--fps", str(s.fps), "--shard-size", str(s.shard_size),
           "--chunk-frames", str(s.chunk_frames), "--holdout", s.holdout[0], "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / SHARDS_DIR).is_dir() and list_shards(out / SHARDS_DIR):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"prepare ended before it was killed: {log.read_text()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)  # the process group: the main process and its workers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not json.loads((out / INDEX_NAME).read_text())["complete"]
    killed_shards = len(list_shards(out / SHARDS_DIR))
    assert 1 <= killed_shards < face_cache.summary.shards
    stale = out / SHARDS_DIR / f".{shard_name(killed_shards)}.x.part"  # what a kill mid-write leaves
    stale.write_bytes(b"partial")

    summary = run_prepare([face_cache.inputs.root], out, FACE_CACHE_SETTINGS, workers=1)
    assert 0 < summary.images_run < summary.images  # only the rest was done
    assert not stale.exists()
    assert cache_content(out) == cache_content(face_cache.root)  # same faces, bytes, shards and manifest
    uids = [u["uid"] for u in FaceCache(out).units()]
    assert len(uids) == len(set(uids))


# -- command line, inputs and shards -------------------------------------------------------------------


def test_cli_with_no_usable_face_exits_3_and_reports(media: object, app_assets: None, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "no_face.jpg").write_bytes(media.path("no_face.jpg").read_bytes())
    out = tmp_path / "cache"
    code = main(["prepare", str(data), "-o", str(out), "--config", "cpu-smoke", "--workers", "1"])
    captured = capsys.readouterr()
    assert code == 3
    assert json.loads((tmp_path / "cache" / INDEX_NAME).read_text())["settings"]["size"] == 64  # tiny-64
    assert "0 faces" in captured.out and "1 no face" in captured.out and "No face was stored" in captured.err
    assert "no_face.jpg" in (tmp_path / "cache" / REPORT_TXT).read_text()


def test_every_face_of_a_group_photo_without_neutraliser(media: object, app_assets: None,
                                                         tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "group.jpg").write_bytes(media.path("multi_face.jpg").read_bytes())
    settings = CacheSettings(size=64, neutraliser="none", max_upscale=4.0)
    summary = run_prepare([data], tmp_path / "cache", settings)
    cache = FaceCache(tmp_path / "cache")
    assert not cache.has_neutral and len(cache) == summary.samples >= 4
    assert [i.face for i in cache.infos] == list(range(len(cache)))  # left to right, one sample each
    assert "xn.image" not in read_header(list_shards(tmp_path / "cache" / SHARDS_DIR)[0]).arrays
    np.testing.assert_array_equal(cache.face(1, "xn").image, cache.face(1, "x").image)
    sample = FaceCacheDataset(cache)[1]
    assert torch.equal(sample.source.image, sample.original.image)  # X_n = X ("w/o De-exp")
    strict = run_prepare([data], tmp_path / "strict", CacheSettings(size=512, neutraliser="none"))
    assert strict.skipped.get("small_face", 0) >= 1  # 512² crops would enlarge these faces > 2x


def test_video_units_cover_the_sampled_frames_once(media: object, tmp_path: Path) -> None:
    files = list_inputs([media.path("sad_to_laugh.mp4")])
    plan = plan_units(files, fps=2.0, chunk_frames=5, holdout=[FrameRange.parse("sad_to_laugh.mp4:100:200")])
    step = 12  # 23.976 fps at 2 fps
    assert len(plan.units) > 3 and all(u.frame_step == step for u in plan.units)
    assert len({u.uid for u in plan.units}) == len(plan.units)
    wanted = [f for f in range(SAD_FRAMES) if any(u.wants(f) for u in plan.units)]
    assert wanted == [f for f in range(0, SAD_FRAMES, step) if not 100 <= f < 200]
    assert all(sum(u.wants(f) for u in plan.units) == 1 for f in wanted)
    assert plan.held_out == ((files[0].path, len(range(108, 200, step))),)
    assert plan_units(files, fps=2.0, chunk_frames=5).units[0].file_hash == hashlib.sha256(
        media.path("sad_to_laugh.mp4").read_bytes()).hexdigest()


@pytest.mark.parametrize("text", ["clip.mp4:5", "clip.mp4:a:9", "clip.mp4:10:5", ":1:2"])
def test_bad_holdout_ranges_are_refused(text: str) -> None:
    with pytest.raises(PrepareInputError, match="hold-out"):
        FrameRange.parse(text)


def test_holdout_matches_by_name_or_path_suffix(tmp_path: Path) -> None:
    video = (tmp_path / "clips" / "a.mp4").resolve()
    assert FrameRange.parse("a.mp4:1:2").matches(video)
    assert FrameRange.parse("clips/a.mp4:1:2").matches(video)
    assert FrameRange.parse(f"{video}:1:2").matches(video)
    assert not FrameRange.parse("other/a.mp4:1:2").matches(video)
    assert FrameRange.parse("C:/v/b.mp4:3:9") == FrameRange(file="C:/v/b.mp4", start=3, end=9)


def test_damaged_or_missing_shards_are_refused(tmp_path: Path) -> None:
    path = tmp_path / shard_name(0)
    write_shard(path, {"x.image": np.zeros((2, 4, 4, 3), np.uint8)}, {"samples": [], "units": []})
    header = read_header(path)
    assert header.arrays["x.image"][:2] == (np.dtype(np.uint8), (2, 4, 4, 3))
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(CacheFormatError, match="does not fit"):
        read_header(path)
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{bad}")
    with pytest.raises(CacheFormatError, match="damaged header"):
        read_header(path)
    (tmp_path / shard_name(2)).write_bytes(b"")
    with pytest.raises(CacheFormatError, match=shard_name(1)):
        list_shards(tmp_path)
    with pytest.raises(CacheFormatError, match="not a face cache"):
        FaceCache(tmp_path)
