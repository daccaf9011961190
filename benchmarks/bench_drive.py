"""Video driving benchmark (issue 14): speed, fidelity, head-pose stability and jitter.

A real portrait (``happy.jpg``, 512 x 512) is driven by a real face video (``sad_to_laugh.mp4``,
or ``--driving``) with the warp editor at a 512 px crop, twice: smoothing on (``--smooth``,
default 1) and off. Each run is ``drive_to_file`` into an MP4 (encoding included). Printed:

* **speed**: end-to-end output frames per second (both passes, decoding and encoding included;
  the models are loaded and the source prepared before the clock starts), by the wall clock and
  by the process's CPU time (on a shared, loaded machine the wall clock measures the neighbours;
  at one thread, CPU time is what an idle core would take), and the per-stage breakdown in ms
  per frame (``StageTimes``, wall clock);
* **fidelity**: Pearson r over frames between the output's and the driving video's mouth
  opening and brow height, from an independent judge (dlib's 68 landmarks,
  :mod:`core.judges.dlib_shape`; measures of :mod:`core.metrics.face_geometry`, in inter-ocular
  distances). The driving face's dlib box comes from its tracked mesh; the output's from the
  source's mesh (its head does not move);
* **head pose**: the s.d. over frames of the output's nose-bridge points (dlib 27-30), px at
  the output's size (512 x 512 for happy.jpg), the RMS over points and axes;
* **jitter**: the mean |second difference| over frames of the 68 points after removing each
  frame's similarity pose (Procrustes onto the clip's mean shape), in IOD, for the driving video
  and for the output with smoothing on and off.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_drive.py [--threads 1] [--start 8 --end 14]
        [--source happy.jpg] [--driving sad_to_laugh.mp4] [--crop-size 512] [--smooth 1]

Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core import assets
from core.driving.drive import DriveOptions, VideoDriver
from core.driving.output import drive_to_file
from core.editing.pipeline import EditPipeline
from core.editing.warp.editor import WarpEditor
from core.io import load_photo
from core.io.video import iter_frames
from core.judges.dlib_box import dlib_box_from_mesh
from core.judges.dlib_shape import load_dlib_shape_predictor, predict_landmarks
from core.metrics.face_geometry import face_geometry

NOSE_BRIDGE = (27, 28, 29, 30)


def media(name: str) -> Path:
    path = Path(name)
    return path if path.exists() else assets.asset_path("test-media", name)


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def dlib_points(model: object, frames: list[np.ndarray], meshes: list[np.ndarray | None]) -> np.ndarray:
    """(N, 68, 2) dlib points per frame (nan where no mesh gave a box)."""
    out = np.full((len(frames), 68, 2), np.nan)
    for i, (frame, mesh) in enumerate(zip(frames, meshes, strict=True)):
        if mesh is not None:
            out[i] = predict_landmarks(model, frame, dlib_box_from_mesh(mesh))
    return out


def measures(points: np.ndarray) -> dict[str, np.ndarray]:
    geo = [face_geometry(p) if np.isfinite(p).all() else None for p in points]
    return {k: np.array([np.nan if g is None else getattr(g, k) for g in geo])
            for k in ("mouth_opening", "brow_height")}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def procrustes_normalised(points: np.ndarray) -> np.ndarray:
    """Each frame's 68 points with its similarity pose removed (onto the mean shape), in IOD."""
    ok = np.isfinite(points).all(axis=(1, 2))
    p = points[ok]
    iod = np.linalg.norm(p[:, 36:42].mean(1) - p[:, 42:48].mean(1), axis=1)
    centred = (p - p.mean(1, keepdims=True)) / iod[:, None, None]
    mean = centred.mean(0)
    out = []
    for x in centred:
        u, _, vt = np.linalg.svd(x.T @ mean)
        r = u @ vt
        out.append(x @ r)
    return np.array(out)


def jitter(points: np.ndarray) -> float:
    p = procrustes_normalised(points)
    return float(np.abs(p[2:] - 2 * p[1:-1] + p[:-2]).mean())


def nose_sd(points: np.ndarray) -> float:
    nose = points[:, NOSE_BRIDGE]
    nose = nose[np.isfinite(nose).all(axis=(1, 2))]
    return float(np.sqrt(nose.std(axis=0).__pow__(2).mean()))


def run_once(pipe: EditPipeline, source: object, driving: Path, options: DriveOptions, out: Path
             ) -> tuple[object, object, tuple[float, float]]:
    """One drive into ``out``: (summary, track, (wall, CPU) seconds of both passes)."""
    driver = VideoDriver(pipe, source, driving, options)
    t0, c0 = time.perf_counter(), time.process_time()
    track = driver.analyse()
    summary = drive_to_file(driver, out, overwrite=True, track=track)
    return summary, track, (time.perf_counter() - t0, time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="happy.jpg")
    ap.add_argument("--driving", default="sad_to_laugh.mp4")
    ap.add_argument("--start", type=float, default=0.0)
    ap.add_argument("--end", type=float, default=None)
    ap.add_argument("--crop-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smooth", type=float, default=1.0)
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR",
                    help="keep the two output MP4s in this folder (smooth_on.mp4, smooth_off.mp4)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    assets.ensure(["test-media"])
    driving = media(args.driving)
    photo = load_photo(media(args.source))
    pipe = EditPipeline(editor=WarpEditor(), crop_size=args.crop_size)
    source = pipe.prepare_source(photo)
    judge = load_dlib_shape_predictor()
    print(f"source {args.source} {photo.size[0]}x{photo.size[1]}, driving {driving.name} "
          f"[{args.start:g}, {args.end if args.end is not None else 'end'}] s, crop {args.crop_size}, "
          f"torch threads {torch.get_num_threads()}")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for label, smooth in (("smoothing on", args.smooth), ("smoothing off", 0.0)):
            opts = DriveOptions(smooth=smooth, start=args.start, end=args.end)
            out = folder / f"smooth_{'on' if smooth else 'off'}.mp4"
            summary, track, (wall, cpu) = run_once(pipe, source, driving, opts, out)
            frames_out = decode(out)
            out_pts = dlib_points(judge, [f[:photo.size[1], :photo.size[0]] for f in frames_out],
                                  [source.faces[0].landmarks] * len(frames_out))
            results[label] = (summary, track, out_pts)
            t = summary.mean_times
            print(f"\n[{label}] {summary.frames} frames, lost {summary.lost_frames}, neutral = driving frame "
                  f"{summary.neutral_video_index}")
            print(f"  end to end: {summary.frames / wall:.2f} fps wall ({wall:.1f} s for both passes, "
                  f"encoding included); {summary.frames / cpu:.2f} fps of process CPU time "
                  f"({cpu:.1f} s; what {torch.get_num_threads()} idle core(s) would give at 1 thread)")
            print("  ms/frame: " + ", ".join(f"{k[:-3]} {v:.1f}" for k, v in t.as_dict().items())
                  + f"; total {t.total_ms:.1f}")

        summary, track, out_on = results["smoothing on"]
        first = track.frames[0].video_index
        drv_frames = list(iter_frames(driving, start=first, max_frames=len(track.frames)))
        drv_pts = dlib_points(judge, drv_frames, [f.landmarks for f in track.frames])
    m_drv, m_out = measures(drv_pts), measures(out_on)
    print("\nfidelity (Pearson r, output vs driving, dlib-68 / IOD; target >= 0.8):")
    for k in m_drv:
        d, o = m_drv[k], m_out[k]
        print(f"  {k}: r = {pearson(o, d):.3f}  (driving range {np.nanmin(d):.3f}..{np.nanmax(d):.3f}, "
              f"output range {np.nanmin(o):.3f}..{np.nanmax(o):.3f})")
    print(f"head pose: nose-bridge s.d. {nose_sd(out_on):.2f} px (smoothing on), "
          f"{nose_sd(results['smoothing off'][2]):.2f} px (off); target <= 1.5")
    print("jitter (mean |2nd difference| of pose-free dlib points, IOD):")
    print(f"  driving video {jitter(drv_pts):.4f}, output smoothing on {jitter(out_on):.4f}, "
          f"off {jitter(results['smoothing off'][2]):.4f}")


if __name__ == "__main__":
    main()
