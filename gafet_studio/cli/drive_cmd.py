"""``gafet drive``: a source portrait takes on the expressions of a driving video (paper Fig. 10).

    gafet drive --source me.jpg --driving clip.mp4 -o me_talking.mp4
    gafet drive -s me.jpg -d clip.mp4 --alpha 0.8 --region mouth=1,eyes=0.6 --smooth 2 -o out.mp4
    gafet drive -s me.jpg -d clip.mp4 --start 2 --end 6 --still-frames frames/

The source keeps its head pose, identity and background; only the expression follows the
driving face (tracked across frames, relative to its own neutral by default). Output: an H.264
MP4 (yuv420p) at the source photo's size with the driving video's audio, written atomically:
Ctrl+C or SIGTERM leaves no file at the output path. Exit codes as ``gafet edit`` (130: cancelled).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from core.errors import GafetError
from gafet_studio.cli.edit_cmd import add_model_options, editor_spec

_DESCRIPTION = (
    "Drive a source portrait with the expressions of a face in a video: the portrait keeps its head "
    "pose, identity and background and follows the driving face's expression frame by frame. "
    "Driving a source *video* (--source-video) is out of scope for now: the source is a photo."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drive", help="drive a portrait with the expressions of a face in a video",
                       description=_DESCRIPTION)
    p.add_argument("-s", "--source", required=True, type=Path, help="the portrait (a photo) to drive")
    p.add_argument("-d", "--driving", required=True, type=Path, help="the driving video (.mp4, .mov, ...)")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", type=Path, help="the MP4 to write (H.264, yuv420p, with the audio)")
    out.add_argument("--still-frames", type=Path, metavar="DIR",
                     help="write PNG frames (frame_000000.png, ...) into this new folder instead of a video")
    p.add_argument("--alpha", type=float, default=1.0, metavar="A",
                   help="intensity of the driving expression, 0 .. 1.5 (default 1)")
    p.add_argument("--region", action="append", default=[], metavar="NAME=W[,NAME=W...]",
                   help="per-region intensity weights in [0, 1.5], e.g. mouth=1,eyes=0.5 "
                   "(regions: brows, eyes, nose, mouth, jaw, cheeks)")
    p.add_argument("--face", type=int, default=0, metavar="N", help="which face of the source, 0 = leftmost")
    p.add_argument("--driving-face", type=int, default=0, metavar="N",
                   help="which face of the video to follow, 0 = leftmost in the first frame with a face")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--relative", dest="relative", action="store_true", default=True,
                      help="the driving expression relative to the video's own neutral face (default)")
    mode.add_argument("--absolute", dest="relative", action="store_false",
                      help="the driving expression as it reads, neutral or not")
    p.add_argument("--neutral-frame", type=int, default=None, metavar="K",
                   help="the driving frame number (0-based) to take as its neutral (default: estimated)")
    p.add_argument("--smooth", type=float, default=1.0, metavar="STRENGTH",
                   help="temporal smoothing, 0 = off .. 3; blinks and jaw drops stay sharp (default 1)")
    p.add_argument("--start", type=float, default=0.0, metavar="SEC",
                   help="start of the driving video, seconds")
    p.add_argument("--end", type=float, default=None, metavar="SEC", help="end of the driving video, seconds")
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the driving video's)")
    p.add_argument("--detect-every", type=int, default=10, metavar="K",
                   help="run face detection every K frames, tracking in between (default 10)")
    p.add_argument("--crop-size", type=int, default=512, metavar="R",
                   help="aligned crop side in px (default 512)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_model_options(p)
    p.set_defaults(func=run)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so that the output's temporary file is removed."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


def _options(args: argparse.Namespace) -> object:
    from core.driving.drive import DriveOptions, DriveOptionsError
    from core.driving.tracking import TrackerConfig
    from gafet_studio.cli.edit_cmd import edit_params

    args.au = []
    try:
        return DriveOptions(params=edit_params(args), relative=args.relative,
                            neutral_frame=args.neutral_frame, smooth=args.smooth, start=args.start,
                            end=args.end, fps=args.fps, driving_face=args.driving_face,
                            tracker=TrackerConfig(detect_every=args.detect_every))
    except ValueError as e:
        if isinstance(e, GafetError):
            raise
        raise DriveOptionsError(str(e)) from None


def _check_output(args: argparse.Namespace) -> Path:
    from core.io.errors import OutputExistsError

    target = args.output if args.output is not None else args.still_frames
    if args.output is not None and args.output.suffix.lower() != ".mp4":
        raise GafetError(f"'{args.output}': the video output must end in .mp4.")
    if target.exists() and not args.overwrite:
        raise OutputExistsError(target)
    for src in (args.source, args.driving):
        if src.exists() and target.exists() and target.resolve() == src.resolve():
            from core.io.errors import OutputIsInputError

            raise OutputIsInputError(target)
    return target


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.driving.drive import plan_frames
    from core.io.video import probe_video

    options = _options(args)
    target = _check_output(args)
    info = probe_video(args.driving)  # an unreadable video or a --start past its end fails before loading
    plan_frames(info.fps, info.frame_count, options.start, options.end, options.fps)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _drive(args, options, target, tqdm)
    except _Terminated:
        print("gafet drive: terminated; nothing was written", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drive(args: argparse.Namespace, options: object, target: Path, tqdm: type) -> int:
    from core.driving.drive import DriveProgress, VideoDriver
    from core.driving.output import drive_to_file
    from core.editing.pipeline import EditPipeline
    from core.editing.spec import build_editor
    from core.io import load_photo

    print("loading the editor and the face networks...", file=sys.stderr)
    editor = build_editor(editor_spec(args))  # before the inputs: a bad model fails fast
    photo = load_photo(args.source)
    pipeline = EditPipeline(editor=editor, crop_size=args.crop_size)
    source = pipeline.prepare_source(photo, face_index=args.face)
    driver = VideoDriver(pipeline, source, args.driving, options)
    bars: dict[str, tqdm] = {}

    def progress(p: DriveProgress) -> None:
        bar = bars.get(p.phase)
        if bar is None:
            for old in bars.values():
                old.close()
            desc = "analysing" if p.phase == "analyse" else "rendering"
            bar = bars[p.phase] = tqdm(total=p.total, desc=desc, unit="frame", file=sys.stderr, disable=None,
                                       dynamic_ncols=True)
        bar.update(p.done - bar.n)

    try:
        summary = drive_to_file(driver, target, stills=args.still_frames is not None,
                                overwrite=args.overwrite, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    _print_summary(summary)
    return 0


def _print_summary(summary: object) -> None:
    s = summary
    t = s.mean_times
    lost = ", ".join(f"{a}-{b - 1}" if b - a > 1 else f"{a}" for a, b in s.lost_ranges) or "none"
    neutral = f"driving frame {s.neutral_video_index}" if s.neutral_video_index >= 0 else "absolute mode"
    print(f"{s.output}: {s.frames} frames at {float(s.fps):.3f} fps in {s.seconds:.1f} s "
          f"({s.frames / max(s.seconds, 1e-9):.2f} frames/s)", file=sys.stderr)
    print(f"  driving face lost in {s.lost_frames} frame(s): {lost}", file=sys.stderr)
    print(f"  neutral: {neutral}", file=sys.stderr)
    stages = ", ".join(f"{k[:-3]} {v:.0f}" for k, v in t.as_dict().items())
    print(f"  ms per frame: {stages} (total {t.total_ms:.0f})", file=sys.stderr)
    print(s.output)
