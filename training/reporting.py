"""Sinks for the training loop's events: ``metrics.jsonl``, TensorBoard, a tqdm progress bar.

The loop (:mod:`training.loop`) never prints; the CLI passes its events through :func:`report`
to these sinks, on rank 0 only.

* :class:`JsonlSink`: ``<run>/metrics.jsonl``, one JSON line per logged step naming every loss
  term (``g/<term>``, ``d/<term>``), the counters and the throughput; evaluations go to
  ``<run>/evaluation.jsonl``. On a resume, lines of steps after the checkpoint (written by the
  interrupted session after its last save) are dropped first, so each file reads as one run.
* :class:`TensorBoardSink`: the same scalars and the preview grids (source | reference |
  geometry | output) under ``<run>/tensorboard`` (``tensorboard --logdir RUN``); its events
  after the checkpoint are purged on resume. Needs the ``tensorboard`` package.
* :class:`ProgressSink`: a tqdm bar with samples/s and the ETA (towards ``--max-steps``, or the
  ``--max-minutes`` budget), writing to stderr.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import torch

from core.errors import GafetError
from core.io.atomic import atomic_write_text
from core.io.json_file import open_regular, parse_json
from training.loop import (
    CheckpointSaved,
    EvaluationDone,
    Event,
    PreviewRendered,
    RunStarted,
    StepDone,
    Stopped,
)

__all__ = [
    "EVALUATION_LOG",
    "METRICS_LOG",
    "TENSORBOARD_DIR",
    "JsonlSink",
    "ProgressSink",
    "RunLogError",
    "Sink",
    "TensorBoardSink",
    "configure_cpu_threads",
    "report",
    "step_record",
    "tensorboard_available",
]

METRICS_LOG = "metrics.jsonl"
EVALUATION_LOG = "evaluation.jsonl"
TENSORBOARD_DIR = "tensorboard"


class Sink(Protocol):
    def handle(self, event: Event) -> None: ...

    def close(self) -> None: ...


def report(events: Iterable[Event], sinks: Iterable[Sink]) -> Iterator[Event]:
    """Pass every event to every sink, then on; closes the sinks when the events end (or fail)."""
    sinks = list(sinks)
    try:
        for event in events:
            for sink in sinks:
                sink.handle(event)
            yield event
    finally:
        for sink in sinks:
            sink.close()


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN; null marks a non-finite value


def step_record(event: StepDone) -> dict[str, Any]:
    """The ``metrics.jsonl`` line of a step: counters, every ``g/<term>`` and ``d/<term>``, throughput
    (a non-finite term is written as null)."""
    record: dict[str, Any] = {
        "step": event.step, "samples": event.samples, "kind": "paired" if event.paired else "unpaired",
        "elapsed_s": round(event.elapsed_s, 3), "step_s": round(event.seconds, 4),
        "samples_per_s": _number(round(_rate(event), 3)),
        "r1": event.r1, "skipped_g": event.skipped_g, "skipped_d": event.skipped_d,
        "skipped_total": event.skipped_total, "ema_beta": event.ema_beta,
    }
    record.update({k: _number(v) for k, v in sorted(event.generator.items())})
    record.update({k: _number(v) for k, v in sorted(event.discriminator.items())})
    return record


def _rate(event: StepDone) -> float:
    """Samples per second of this step (global batch / step time)."""
    return event.batch / event.seconds if event.seconds > 0 else math.inf


MAX_LOG_LINE_BYTES = 1 << 20  # a step's record is about 1 KB; a longer line is damage


class RunLogError(GafetError):
    """A run's log (``metrics.jsonl``, ``evaluation.jsonl``) is not a file the sink can rewrite."""


def _line_step(line: bytes) -> tuple[bool, object]:
    """(readable, step) of one log line: unreadable when not UTF-8 JSON object (a half line from a
    killed process, garbage, nesting too deep for the parser)."""
    try:
        record = parse_json(line, source="log line", error=ValueError, max_bytes=MAX_LOG_LINE_BYTES)
    except ValueError:
        return False, None
    return (True, record.get("step")) if isinstance(record, dict) else (False, None)


def _truncate_jsonl(path: Path, last_step: int) -> None:
    """Drop the lines of steps after ``last_step`` (and unreadable lines) from ``path``, atomically.

    Raises :class:`RunLogError` naming the file when it is not a regular file (a FIFO, a device,
    a folder) or cannot be read."""
    if not os.path.lexists(path):
        return
    kept: list[bytes] = []
    changed = False
    with open_regular(path, source=f"The training log {path}", error=RunLogError) as f:
        while line := f.readline(MAX_LOG_LINE_BYTES + 1):
            if not line.endswith(b"\n") and len(line) > MAX_LOG_LINE_BYTES:
                while line and not line.endswith(b"\n"):  # skip the rest of an over-long line
                    line = f.readline(MAX_LOG_LINE_BYTES + 1)
                changed = True
                continue
            readable, step = _line_step(line)
            if not readable or (isinstance(step, int) and step > last_step):
                changed = True  # a half line from a killed process, or a step after the checkpoint
                continue
            kept.append(line.rstrip(b"\r\n"))
    if changed:
        atomic_write_text(path, "".join(f"{line.decode('utf-8')}\n" for line in kept))


class JsonlSink:
    """``metrics.jsonl`` (every ``every``-th step) and ``evaluation.jsonl`` in ``run_dir``."""

    def __init__(self, run_dir: str | os.PathLike[str], *, every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.run_dir = Path(run_dir)
        self.every = every
        self._metrics: IO[str] | None = None
        self._evaluation: IO[str] | None = None

    def _open(self, name: str) -> IO[str]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return open(self.run_dir / name, "a", encoding="utf-8")  # closed in close()

    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            for name in (METRICS_LOG, EVALUATION_LOG):
                _truncate_jsonl(self.run_dir / name, event.step)
        elif isinstance(event, StepDone):
            if event.step % self.every == 0:
                self._metrics = self._metrics or self._open(METRICS_LOG)
                self._metrics.write(json.dumps(step_record(event), allow_nan=False) + "\n")
                self._metrics.flush()
        elif isinstance(event, EvaluationDone):
            self._evaluation = self._evaluation or self._open(EVALUATION_LOG)
            record = {"step": event.step, "samples": event.samples, "seconds": round(event.seconds, 3),
                      **{k: _number(v) for k, v in sorted(event.metrics.items())}}
            self._evaluation.write(json.dumps(record, allow_nan=False) + "\n")
            self._evaluation.flush()

    def close(self) -> None:
        for fh in (self._metrics, self._evaluation):
            if fh is not None:
                fh.close()
        self._metrics = self._evaluation = None


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` can write (the ``tensorboard`` package is installed)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


class TensorBoardSink:
    """Scalars and preview grids under ``<run>/tensorboard`` (created on the first event)."""

    def __init__(self, run_dir: str | os.PathLike[str], *, every: int = 1) -> None:
        if not tensorboard_available():
            raise RuntimeError("TensorBoardSink needs the tensorboard package (pip install tensorboard)")
        self.log_dir = Path(run_dir) / TENSORBOARD_DIR
        self.every = every
        self._writer: Any = None

    def handle(self, event: Event) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if isinstance(event, RunStarted):
            # purge_step drops events the interrupted session logged after its last checkpoint
            self._writer = SummaryWriter(log_dir=str(self.log_dir),
                                         purge_step=event.step + 1 if event.step else None)
            self._writer.add_text("run", f"config {event.config_name}, batch {event.batch}, "
                                         f"{event.world_size} process(es) on {event.device}, "
                                         f"{event.precision}, perceptual {event.perceptual}", event.step)
            return
        w = self._writer
        if w is None:
            return
        if isinstance(event, StepDone) and event.step % self.every == 0:
            for k, v in [*event.generator.items(), *event.discriminator.items()]:
                w.add_scalar(k, v, event.step)  # "g/<term>", "d/<term>": one TensorBoard section each
            w.add_scalar("progress/samples_per_s", _rate(event), event.step)
            w.add_scalar("progress/skipped_updates", event.skipped_total, event.step)
            w.add_scalar("progress/ema_beta", event.ema_beta, event.step)
        elif isinstance(event, EvaluationDone):
            for k, v in event.metrics.items():
                w.add_scalar(f"eval/{k}", v, event.step)
        elif isinstance(event, PreviewRendered):
            w.add_image("preview/source|reference|geometry|output", event.grid, event.step, dataformats="CHW")
        elif isinstance(event, CheckpointSaved | Stopped):
            w.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ProgressSink:
    """A tqdm progress bar (stderr): steps, samples/s, losses, ETA."""

    def __init__(self, *, stream: IO[str] | None = None, disable: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.disable = disable
        self._bar: Any = None
        self._budget_s: float | None = None
        self._session_elapsed0: float | None = None
        self._rate: float | None = None

    def handle(self, event: Event) -> None:
        from tqdm import tqdm

        if isinstance(event, RunStarted):
            self._budget_s = event.max_minutes * 60.0 if event.max_minutes else None
            self._bar = tqdm(total=event.max_steps, initial=event.step, unit="step", file=self.stream,
                             dynamic_ncols=True, disable=self.disable, desc=f"train {event.config_name}")
            return
        bar = self._bar
        if bar is None:
            return
        if isinstance(event, StepDone):
            if self._session_elapsed0 is None:
                self._session_elapsed0 = event.elapsed_s - event.seconds
            rate = _rate(event)
            smooth = self._rate is not None and math.isfinite(self._rate)
            self._rate = 0.9 * self._rate + 0.1 * rate if smooth else rate  # type: ignore[operator]
            post = {"samples/s": f"{self._rate:.2f}"}
            if "g/total" in event.generator:
                post["G"] = f"{event.generator['g/total']:.3f}"
            if "d/total" in event.discriminator:
                post["D"] = f"{event.discriminator['d/total']:.3f}"
            if event.skipped_total:
                post["skipped"] = str(event.skipped_total)
            if bar.total is None and self._budget_s is not None:
                left = self._budget_s - (event.elapsed_s - self._session_elapsed0)
                post["left"] = _clock(max(left, 0.0))
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        elif isinstance(event, CheckpointSaved):
            bar.write(f"checkpoint: {event.path}", file=self.stream)
        elif isinstance(event, EvaluationDone):
            shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(event.metrics.items()))
            bar.write(f"evaluation at step {event.step}: {shown}", file=self.stream)
        elif isinstance(event, Stopped):
            bar.write(f"stopped at step {event.step} ({event.reason.replace('_', ' ')})", file=self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def configure_cpu_threads(threads: int | None) -> int:
    """Set torch's intra-op threads for CPU training: ``threads``, or 1 by default.

    On a shared 2-core machine two spinning OpenMP threads were measured 3-5x slower than one
    (notes/training.md §1.7); more threads are an explicit choice (``--threads``). Returns the
    number set.
    """
    n = 1 if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n
