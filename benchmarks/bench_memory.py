"""Peak memory of the photo pipeline on a 24-megapixel photo: load, analyse, align, paste back, save.

    python benchmarks/bench_memory.py [--repeats 3] [--size 512] [--roundtrip]

A test portrait (single_face.jpg) is upscaled to 6000x4000 and saved as a JPEG in a temporary
folder. Each stage then runs the pipeline up to that step in a *fresh* Python process (so the
process peak belongs to that run alone) and reports, as medians over ``--repeats`` runs:

* heap peak: tracemalloc's peak (Python and numpy allocations; not Pillow's or OpenCV's own C
  buffers, not torch's allocator);
* RSS peak: the process's maximum resident set size (getrusage) minus that of the same process
  after its imports (numpy, cv2, Pillow, torch): everything, C buffers included;
* both as a ratio to the photo's RGB uint8 array (6000 x 4000 x 3 = 72 MB), the baseline every
  pipeline must hold at least once; and the stage's wall time.

Stages: load (load_photo); + analyse (downscaled to 1920 px, FaceAnalyzer.analyze, landmarks
mapped back; the networks are built inside this stage); + align (R x R crop); + paste (an edited
crop pasted back into a new full-resolution array); + save (JPEG q95, atomic).

``--roundtrip`` also prints the paste-back error of an unedited crop (mean / max abs, PSNR inside
the face mask; max abs outside it) on the test portraits at R = 256, 512, 1024 and on the 24 MP
photo. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("load", "analyse", "align", "paste", "save")
WIDTH, HEIGHT = 6000, 4000


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def make_photo(folder: Path) -> Path:
    """single_face.jpg upscaled (bicubic) and mirrored out to 6000x4000, saved as JPEG q90."""
    import cv2
    import numpy as np

    from core import assets
    from core.io import load_photo, save_image

    assets.ensure(["test-media"])
    small = load_photo(assets.asset_path("test-media", "single_face.jpg")).rgb
    scale = HEIGHT / small.shape[0]
    big = cv2.resize(small, (round(small.shape[1] * scale), HEIGHT), interpolation=cv2.INTER_CUBIC)
    pad = WIDTH - big.shape[1]
    big = cv2.copyMakeBorder(big, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT_101)
    assert big.shape == (HEIGHT, WIDTH, 3), big.shape
    return save_image(folder / "portrait_24mp.jpg", np.ascontiguousarray(big), quality=90)


def find_landmarks(rgb):
    """(468, 3) photo px of the first face: FaceAnalyzer on a 1920 px copy, mapped back."""
    from core.face.analyzer import FaceAnalyzer
    from core.io import downscaled, points_to_full

    small, scale = downscaled(rgb, 1920)
    faces = FaceAnalyzer().analyze(small)
    if not faces:
        raise SystemExit("no face found in the benchmark photo")
    return points_to_full(faces[0].landmarks, scale)


def run_stage(stage: str, photo_path: Path, size: int, out_dir: Path) -> dict[str, float]:
    """Run the pipeline up to ``stage`` in this process; return its measurements."""
    import cv2  # noqa: F401  (imported before the baseline, like every stage)
    import numpy as np
    import torch  # noqa: F401

    from core.face.align import AlignConfig, align_face
    from core.face.paste import paste_back
    from core.io import load_photo, save_image

    base_rss = _maxrss_bytes()
    last = STAGES.index(stage)
    tracemalloc.start()
    start = time.perf_counter()
    photo = load_photo(photo_path)
    if last >= 1:
        landmarks = find_landmarks(photo.rgb)
    if last >= 2:
        aligned = align_face(photo.rgb, landmarks, AlignConfig(size=size))
    if last >= 3:
        edited = aligned.crop.copy()
        edited[size // 2:, :] = 255 - edited[size // 2:, :]  # an edit over half of the crop
        result = paste_back(photo.rgb, aligned, edited)
    if last >= 4:
        save_image(out_dir / f"out_{os.getpid()}.jpg", result, icc_profile=photo.icc_profile,
                   exif=photo.exif, quality=95, protect=[photo_path])
    seconds = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del np
    return {"heap": heap_peak, "rss": _maxrss_bytes() - base_rss, "seconds": seconds}


def roundtrip_figures(photo_path: Path) -> None:
    import cv2
    import numpy as np

    from core import assets
    from core.face.align import AlignConfig, align_face, warp_affine
    from core.face.masks import face_mask
    from core.face.paste import paste_back
    from core.io import load_photo

    print("\nPaste-back of an unedited crop (FaceAnalyzer mesh; inside = mask >= 0.999, outside = mask 0)")
    print(f"{'photo':<22}{'R':>6}{'crop/photo':>12}{'mean in':>9}{'max in':>8}{'PSNR in':>9}{'max out':>9}")
    names = ["happy.jpg", "anger.jpg", "surprise.jpg", "disgust.jpg", "single_face.jpg"]
    cases = [(assets.asset_path("test-media", n), n, s) for n in names for s in (256, 512, 1024)]
    cases += [(photo_path, "24 MP upscale", s) for s in (512, 1024)]
    meshes: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
    for path, label, size in cases:
        if path not in meshes:
            rgb = load_photo(path).rgb
            meshes[path] = (rgb, find_landmarks(rgb))
        rgb, landmarks = meshes[path]
        aligned = align_face(rgb, landmarks, AlignConfig(size=size))
        result = paste_back(rgb, aligned, aligned.crop)
        mask = face_mask(aligned.landmarks, size)
        weight = warp_affine(mask, aligned.inverse, (rgb.shape[1], rgb.shape[0]),
                             interpolation=cv2.INTER_LINEAR, border=cv2.BORDER_CONSTANT)
        inside, outside = weight >= 0.999, weight == 0
        diff = np.abs(result.astype(np.int16) - rgb)
        mse = float(np.mean(diff[inside].astype(np.float64) ** 2))
        psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
        print(f"{label:<22}{size:>6}{aligned.scale:>12.2f}{diff[inside].mean():>9.2f}{diff[inside].max():>8d}"
              f"{psnr:>8.1f}dB{diff[outside].max():>9d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="crop side R")
    parser.add_argument("--roundtrip", action="store_true", help="also print paste-back errors")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--photo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:
        print(json.dumps(run_stage(args.stage, args.photo, args.size, args.out)))
        return

    with tempfile.TemporaryDirectory(prefix="gafet_bench_mem_") as tmp:
        folder = Path(tmp)
        photo_path = make_photo(folder)
        rgb_bytes = WIDTH * HEIGHT * 3
        print(f"photo: {WIDTH}x{HEIGHT} JPEG, {photo_path.stat().st_size / 1e6:.1f} MB on disk; "
              f"RGB uint8 array = {rgb_bytes / 1e6:.0f} MB (the baseline of the ratios); R = {args.size}; "
              f"medians of {args.repeats} fresh processes")
        print(f"{'pipeline up to':<16}{'heap peak':>12}{'x RGB':>8}{'RSS peak':>12}{'x RGB':>8}{'time':>10}")
        for stage in STAGES:
            runs = []
            for _ in range(args.repeats):
                cmd = [sys.executable, __file__, "--stage", stage, "--photo", str(photo_path),
                       "--out", str(folder), "--size", str(args.size)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            heap = statistics.median(r["heap"] for r in runs)
            rss = statistics.median(r["rss"] for r in runs)
            secs = statistics.median(r["seconds"] for r in runs)
            print(f"{stage:<16}{heap / 1e6:>9.0f} MB{heap / rgb_bytes:>8.2f}{rss / 1e6:>9.0f} MB"
                  f"{rss / rgb_bytes:>8.2f}{secs:>9.2f}s")
        if args.roundtrip:
            roundtrip_figures(photo_path)


if __name__ == "__main__":
    main()
