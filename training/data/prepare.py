"""``gafet prepare DATA... -o CACHE``: turn folders of photos and videos into a face cache.

    gafet prepare ffhq/ -o cache-256 --size 256 --workers 8 --detect-side 640
    gafet prepare clips/ photos/ -o cache-128 --size 128 --fps 10 --holdout clips/a.mp4:300:420

Per face (:mod:`training.data.extract`): detect, mesh, align at ``--size``, fit AUs / identity /
pose, and neutralise (X_n, ``--neutraliser warp|none``). Faces go into memory-mapped shards
(:mod:`training.data.cache`, :mod:`training.data.shards`).

* **Parallel**: ``--workers N`` processes (spawned, one torch thread each); ``--workers 1`` runs in
  this process. Results are committed in input order, so the cache is the same for any N.
* **Resumable**: a shard is written atomically only when complete and lists the work units it
  completes; a killed run, rerun with the same command, skips the units in existing shards and
  redoes at most one shard's worth of work. The result equals an uninterrupted run.
* **Duplicates**: an input whose file bytes (or, for photos, decoded pixels) equal an earlier
  input's is skipped and reported as a duplicate.
* **Bad files**: unreadable files, images without a face, faces that would be enlarged more than
  ``--max-upscale`` times, and files that are neither photos nor videos are skipped and listed in
  ``CACHE/report.txt`` (and ``report.json``).
* **Hold-out**: ``--holdout FILE:START:END`` (repeatable) keeps frames START..END-1 of a video out of
  the cache (frame indices as ``gafet evaluate --video FILE --holdout START:END`` counts them).

Cost (``benchmarks/bench_prepare.py``: FFHQ-like 1024² PNG portraits, warp neutraliser, CPU
seconds of one worker at one torch thread = one free core; measured on the 2-core development
machine, 2026-12):

* 256² crops, ``--detect-side 1920`` (default): 0.36 s per image; 70,000 images in 7.0 h on one
  core, 52 min with 8 worker processes, 26 min with 16;
* 128² or 256² crops, ``--detect-side 640``: 0.19 s; 3.8 h, 28 min, 14 min;
* 512² crops, ``--detect-side 640``: 0.25 s; 4.9 h, 37 min, 18 min.

Detection is most of the cost at 1024² (0.23 s of 0.36 s); FFHQ-like photos, one large face
each, lose nothing with ``--detect-side 640`` (the same landmarks: the mesh runs on the full
photo). Each worker needs a free core: the summary at the end prints the measured cost and the
projection for 70,000 images.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from core import assets
from core.errors import EXIT_NO_FACE, GafetError
from core.io.atomic import atomic_write_text
from training.data.cache import (
    INDEX_NAME,
    REPORT_JSON,
    REPORT_TXT,
    SHARDS_DIR,
    SIZES,
    CacheSettings,
    pack_shard,
    read_index,
    write_index,
)
from training.data.records import ExtractConfig, FaceSample, Skip, UnitResult
from training.data.shards import list_shards, read_header, shard_name, write_shard
from training.data.sources import FrameRange, Plan, Unit, list_inputs, plan_units

FACE_ASSETS = ("face-detector", "face-mesh", "au-face-model")
FFHQ_IMAGES = 70_000


class PrepareError(GafetError):
    """A cache folder or option that cannot be used."""


class NoFacesPreparedError(PrepareError):
    """Every input was skipped: the cache holds no face."""

    exit_code = EXIT_NO_FACE


# -- events and summary ------------------------------------------------------------------------------


class Planned(NamedTuple):
    """The work ahead: units and (estimated) images in total and already done by an earlier run."""

    units: int
    units_done: int
    images: int
    images_done: int


class UnitFinished(NamedTuple):
    """One unit committed (in input order). ``result.skipped`` holds what it left out."""

    result: UnitResult


class ShardWritten(NamedTuple):
    file: str
    samples: int


class PrepareSummary(NamedTuple):
    """The whole cache after this run (counts over every shard), and this run's timing.

    skipped: reason -> count (training.data.records.SKIP_REASONS). seconds: this run's wall time.
    worker_seconds / worker_cpu_seconds: wall and CPU time the workers spent on this run's images
    (one torch thread each: CPU time is what one uncontended core needs).
    images_run: images (photos + frames) processed in this run.
    """

    root: Path
    samples: int
    shards: int
    units: int
    images: int
    held_out: int
    skipped: dict[str, int]
    complete: bool
    seconds: float
    worker_seconds: float
    worker_cpu_seconds: float
    images_run: int
    workers: int

    @property
    def seconds_per_image(self) -> float:
        """Worker wall seconds per image in this run (NaN without images)."""
        return self.worker_seconds / self.images_run if self.images_run else float("nan")

    @property
    def cpu_seconds_per_image(self) -> float:
        """Worker CPU seconds per image in this run: the one-core cost (NaN without images)."""
        return self.worker_cpu_seconds / self.images_run if self.images_run else float("nan")

    def projected_hours(self, images: int = FFHQ_IMAGES, workers: int | None = None) -> float:
        """Hours to prepare ``images`` images with ``workers`` processes (each on its own core) at
        this run's CPU cost per image."""
        return images * self.cpu_seconds_per_image / (workers or self.workers) / 3600.0


class Finished(NamedTuple):
    summary: PrepareSummary


PrepareEvent = Planned | UnitFinished | ShardWritten | Finished


# -- the cache folder ----------------------------------------------------------------------------------


@dataclass
class _CacheState:
    """What the existing shards say: shard list, completed units, content keys seen (-> owner)."""

    shards: list[tuple[str, int]]
    units: list[dict]
    done: set[str]
    seen: dict[str, str]


def _unit_path(uid: str) -> str:
    """The input file of a unit id (``photo:<path>`` / ``video:<path>@<chunk>``)."""
    body = uid.split(":", 1)[1]
    return body.rsplit("@", 1)[0] if uid.startswith("video:") else body


def _open_cache(root: Path, settings: CacheSettings) -> _CacheState:
    """Create the cache folder, or check an existing one's settings and read its shards."""
    shards_dir = root / SHARDS_DIR
    if root.exists() and not root.is_dir():
        raise PrepareError(f"'{root}' exists and is not a folder.")
    if (root / INDEX_NAME).exists():
        old = CacheSettings.from_json(read_index(root)["settings"])
        if old != settings:
            diff = ", ".join(f"{k} {v!r} (now {getattr(settings, k)!r})" for k, v in old.to_json().items()
                             if v != settings.to_json()[k])
            raise PrepareError(f"'{root}' was prepared with other settings: {diff}. Continue it with the "
                               "same options, or prepare into a new folder.")
    elif root.exists() and any(root.iterdir()):
        raise PrepareError(f"'{root}' is not empty and is not a face cache; choose a new or empty folder.")
    shards_dir.mkdir(parents=True, exist_ok=True)
    for stale in shards_dir.glob(".shard-*.part"):  # temporary files of a run killed mid-write
        stale.unlink(missing_ok=True)
    state = _CacheState(shards=[], units=[], done=set(), seen={})
    for path in list_shards(shards_dir):
        records = read_header(path).records
        state.shards.append((path.name, len(records["samples"])))
        for u in records["units"]:
            state.units.append(u)
            state.done.add(u["uid"])
            for key in u["keys"]:
                state.seen.setdefault(key, _unit_path(u["uid"]))
    if not (root / INDEX_NAME).exists():
        write_index(root, settings, [], complete=False)
    return state


def _write_report(root: Path, units: Sequence[dict], plan: Plan) -> dict[str, int]:
    """report.json / report.txt from every unit's skip entries and this plan's unsupported files."""
    entries = [Skip(*k) for u in units for k in u["skipped"]]
    entries += [Skip(str(p), None, None, "unsupported", "Not a photo or video (by its file extension).")
                for p in plan.unsupported]
    counts = Counter(e.reason for e in entries)
    doc = {"skipped": [e._asdict() for e in entries], "counts": dict(sorted(counts.items())),
           "held_out": [{"path": str(p), "frames": n} for p, n in plan.held_out]}
    atomic_write_text(root / REPORT_JSON, json.dumps(doc, indent=1) + "\n")
    lines = [f"# gafet prepare: {len(entries)} item(s) skipped", "# reason\tfile[#frame][ face N]\tmessage"]
    for e in entries:
        where = e.path + (f"#{e.frame}" if e.frame is not None else "")
        where += f" face {e.face}" if e.face is not None else ""
        lines.append(f"{e.reason}\t{where}\t{e.message}")
    lines += [f"held_out\t{p}\t{n} sampled frame(s) kept out by --holdout" for p, n in plan.held_out]
    atomic_write_text(root / REPORT_TXT, "\n".join(lines) + "\n")
    return dict(counts)


# -- workers ---------------------------------------------------------------------------------------------

_WORKER = None  # the Extractor of a worker process


def _one_thread() -> None:
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _init_worker(config: ExtractConfig) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C
    _one_thread()
    from training.data.extract import Extractor

    _WORKER = Extractor(config)


def _run_unit(unit: Unit) -> UnitResult:
    assert _WORKER is not None
    return _WORKER.run(unit)


def _results(units: Sequence[Unit], config: ExtractConfig, workers: int) -> Iterator[UnitResult]:
    """Results of ``units`` in input order, computed in ``workers`` processes (1: this process)."""
    if not units:
        return
    if workers <= 1:
        from training.data.extract import Extractor

        extractor = Extractor(config)
        for unit in units:
            yield extractor.run(unit)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(config,))
    try:
        todo = iter(units)
        window: deque[Future[UnitResult]] = deque()
        for unit in todo:
            window.append(pool.submit(_run_unit, unit))
            if len(window) >= 2 * workers:  # bounded: results wait in memory until their turn
                break
        while window:
            result = window.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                window.append(pool.submit(_run_unit, nxt))
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# -- the run ----------------------------------------------------------------------------------------------


def check_face_assets() -> None:
    """Raise AssetMissingError (with the fixing command) unless the face networks and AU model are
    installed; checked before any worker starts."""
    manifest = assets.load_manifest()
    for asset_id in FACE_ASSETS:
        if not assets.is_installed(asset_id):
            raise assets.AssetMissingError(assets.missing_message(manifest.asset(asset_id)))


def prepare(data: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str], settings: CacheSettings, *,
            workers: int = 1) -> Iterator[PrepareEvent]:
    """Prepare (or continue preparing) the cache ``root`` from ``data``; yields progress events,
    ending with :class:`Finished`. See the module docstring. Raises GafetError before any work
    for bad inputs, a folder that is not a cache of the same settings, or missing assets."""
    from training.data.neutraliser import NEUTRALISERS

    t0 = time.perf_counter()
    if settings.neutraliser not in NEUTRALISERS:
        raise PrepareError(f"Unknown neutraliser '{settings.neutraliser}'; use one of "
                           f"{', '.join(NEUTRALISERS)}.")
    if workers < 1:
        raise PrepareError(f"--workers must be at least 1, got {workers}.")
    root = Path(root)
    holdout = tuple(FrameRange.parse(t) for t in settings.holdout)
    files = list_inputs(data)
    check_face_assets()
    plan = plan_units(files, fps=settings.fps, chunk_frames=settings.chunk_frames, holdout=holdout)
    state = _open_cache(root, settings)
    todo = [u for u in plan.units if u.uid not in state.done]
    estimate = dict(zip((u.uid for u in plan.units), plan.estimated_images, strict=True))
    total = sum(plan.estimated_images)
    yield Planned(units=len(plan.units), units_done=len(plan.units) - len(todo), images=total,
                  images_done=total - sum(estimate[u.uid] for u in todo))

    config = ExtractConfig(size=settings.size, neutraliser=settings.neutraliser,
                           max_upscale=settings.max_upscale, detect_side=settings.detect_side)
    with_neutral = settings.neutraliser != "none"
    pending_samples: list[FaceSample] = []
    pending_units: list[UnitResult] = []
    worker_seconds, worker_cpu, images_run = 0.0, 0.0, 0

    def flush() -> ShardWritten:
        name = shard_name(len(state.shards))
        arrays, records = pack_shard(pending_samples, pending_units, settings.size, with_neutral)
        write_shard(root / SHARDS_DIR / name, arrays, records)
        state.shards.append((name, len(pending_samples)))
        state.units.extend(records["units"])
        pending_samples.clear()
        pending_units.clear()
        write_index(root, settings, state.shards, complete=False)
        return ShardWritten(name, state.shards[-1][1])

    for result in _results(todo, config, workers):
        worker_seconds += result.seconds
        worker_cpu += result.cpu_seconds
        images_run += result.images
        owner = next((state.seen[k] for k in result.keys if k in state.seen), None)
        if owner is not None:
            path = _unit_path(result.uid)
            result = result._replace(samples=(), skipped=(
                Skip(path, None, None, "duplicate", f"The same content as '{owner}'."),))
        else:
            for key in result.keys:
                state.seen[key] = _unit_path(result.uid)
        pending_samples.extend(result.samples)
        pending_units.append(result)
        yield UnitFinished(result)
        if len(pending_samples) >= settings.shard_size:
            yield flush()
    if pending_units:
        yield flush()
    write_index(root, settings, state.shards, complete=True)
    counts = _write_report(root, state.units, plan)
    summary = PrepareSummary(
        root=root, samples=sum(n for _, n in state.shards), shards=len(state.shards), units=len(state.units),
        images=sum(int(u["images"]) for u in state.units),
        held_out=sum(int(u["held_out"]) for u in state.units),
        skipped=counts, complete=True, seconds=time.perf_counter() - t0, worker_seconds=worker_seconds,
        worker_cpu_seconds=worker_cpu,
        images_run=images_run, workers=workers)
    yield Finished(summary)


def run_prepare(data: Sequence[str | os.PathLike[str]], root: str | os.PathLike[str],
                settings: CacheSettings, *, workers: int = 1) -> PrepareSummary:
    """:func:`prepare` without progress reporting; returns the summary."""
    summary = None
    for event in prepare(data, root, settings, workers=workers):
        if isinstance(event, Finished):
            summary = event.summary
    assert summary is not None
    return summary


# -- command line ------------------------------------------------------------------------------------------


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gafet prepare`` (used by gafet_studio/cli/prepare_cmd.py)."""
    d = CacheSettings()
    p.add_argument("data", nargs="+", type=Path, metavar="DATA",
                   help="folders (or files) of photos and videos")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="CACHE",
                   help="the cache folder (created; an existing cache of the same settings is continued)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=int, default=None, choices=SIZES,
                      help=f"aligned crop side in px, the training config's resolution (default {d.size})")
    size.add_argument("--config", default=None, metavar="NAME",
                      help="take the crop side from a `gafet train` config (cpu-smoke: 64, video-128: 128, "
                      "ffhq-256, ffhq-512)")
    p.add_argument("--fps", type=float, default=d.fps, metavar="F",
                   help=f"video frames sampled per second, 0 = every frame (default {d.fps:g})")
    p.add_argument("--workers", type=int, default=default_workers(), metavar="N",
                   help="worker processes at one torch thread each; 1 = in this process "
                   f"(default: the CPU count, {default_workers()})")
    p.add_argument("--neutraliser", default=d.neutraliser, choices=("warp", "none"),
                   help="how X_n is made: the warp editor's neutral preset, or none (X_n = X, 'w/o De-exp')")
    p.add_argument("--holdout", action="append", default=[], metavar="FILE:START:END",
                   help="keep video frames START..END-1 out of the cache (repeatable)")
    p.add_argument("--max-upscale", type=float, default=d.max_upscale, metavar="X",
                   help=f"skip faces the crop would enlarge more than X times (default {d.max_upscale:g})")
    p.add_argument("--shard-size", type=int, default=d.shard_size, metavar="N",
                   help=f"faces per shard file, the unit of resume (default {d.shard_size})")
    p.add_argument("--chunk-frames", type=int, default=d.chunk_frames, metavar="N",
                   help=f"sampled video frames per work unit (default {d.chunk_frames})")
    p.add_argument("--detect-side", type=int, default=d.detect_side, metavar="PX",
                   help="detect faces on a copy with at most this long side; the mesh still uses the full "
                   f"photo (default {d.detect_side}; 640 is 4x faster on FFHQ-like one-face 1024² photos)")


def settings_from_args(args: argparse.Namespace) -> CacheSettings:
    size = args.size or CacheSettings().size
    if args.config is not None:
        from training.config import training_config

        size = training_config(args.config).resolution
    return CacheSettings(size=size, fps=args.fps, neutraliser=args.neutraliser,
                         max_upscale=args.max_upscale, holdout=tuple(args.holdout),
                         shard_size=args.shard_size, chunk_frames=args.chunk_frames,
                         detect_side=args.detect_side)


def format_summary(s: PrepareSummary) -> str:
    """The end-of-run summary, several lines."""
    skipped = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(s.skipped.items())) or "none"
    lines = [f"{s.samples} faces in {s.shards} shard(s) in '{s.root}' from {s.images} image(s) "
             f"({s.units} work unit(s){f', {s.held_out} held-out frame(s) left out' if s.held_out else ''}).",
             f"Skipped: {skipped} (listed in {s.root / REPORT_TXT})."]
    if s.images_run:
        lines.append(f"This run: {s.images_run} image(s) in {s.seconds:.1f} s with {s.workers} worker(s); "
                     f"per image and worker {s.cpu_seconds_per_image:.3f} s CPU ({s.seconds_per_image:.3f} s "
                     f"wall); projected for {FFHQ_IMAGES:,} images: {s.projected_hours():.1f} h with "
                     f"{s.workers} worker(s) on free cores.")
    else:
        lines.append("This run: nothing left to do (the cache was complete).")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """``gafet prepare``: progress bar on stderr, summary on stdout. Exit code 0 when the cache
    holds at least one face; 3 when no input gave a face."""
    from tqdm import tqdm

    settings = settings_from_args(args)
    if args.workers <= 1:
        _one_thread()
    events: Iterable[PrepareEvent] = prepare(args.data, args.output, settings, workers=args.workers)
    bar = None
    summary = None
    try:
        for event in events:
            if isinstance(event, Planned):
                bar = tqdm(total=event.images, initial=event.images_done, desc="prepare", unit="img",
                           file=sys.stderr, disable=None, dynamic_ncols=True)
            elif isinstance(event, UnitFinished) and bar is not None:
                bar.update(event.result.images)
                faces = len(event.result.samples)
                bar.set_postfix_str(f"{faces} face(s), {len(event.result.skipped)} skipped", refresh=False)
            elif isinstance(event, Finished):
                summary = event.summary
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print("interrupted: rerun the same command to continue where it stopped", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    assert summary is not None
    print(format_summary(summary))
    if summary.samples == 0:
        raise NoFacesPreparedError("No face was stored: every input was skipped (see "
                                   f"{summary.root / REPORT_TXT}).")
    return 0
