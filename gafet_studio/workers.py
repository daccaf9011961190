"""Background work: QRunnable workers with signals (superqt style) and a latest-wins runner.

* :class:`FunctionWorker` runs one callable in a ``QThreadPool`` and reports through
  ``started / returned(result) / errored(exception) / finished`` (plus ``progress(object)`` for
  callables that accept a ``progress`` keyword). Results are plain Python objects: numpy arrays,
  ``QImage``s, core records; never a ``QPixmap``.
* :class:`LatestWins` keeps at most one job of a kind in flight. Requests made while one runs are
  coalesced: when it ends only the *newest* pending request runs. Every request gets a
  generation number, so callers can drop results that a newer request has superseded.
* :func:`studio_pool` is the Studio's own pool for pipeline work (one thread: the edit
  pipeline's caches are not shared between threads); :func:`live_pool` the live slider path
  (:mod:`core.editing.fast_path`); :func:`aux_pool` runs side jobs (3D preview
  renders, asset downloads) so they never wait behind a long export.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, SignalInstance

_POOLS: dict[str, QThreadPool] = {}


def _pool(name: str, threads: int) -> QThreadPool:
    pool = _POOLS.get(name)
    if pool is None:
        pool = QThreadPool()
        pool.setObjectName(f"gafet-{name}")
        pool.setMaxThreadCount(threads)
        _POOLS[name] = pool
    return pool


def studio_pool() -> QThreadPool:
    """The pool for edit-pipeline jobs (serial: one thread)."""
    return _pool("pipeline", 1)


def live_pool() -> QThreadPool:
    """The pool for the live slider path (one thread, beside the pipeline's: a slider move never
    waits behind a full-resolution render)."""
    return _pool("live", 1)


def aux_pool() -> QThreadPool:
    """The pool for side jobs: 3D preview renders, asset downloads."""
    return _pool("aux", 2)


def all_pools() -> list[QThreadPool]:
    return list(_POOLS.values())


def traceback_text(exc: BaseException) -> str:
    """The traceback a worker recorded for ``exc`` (its ``repr`` if it was raised elsewhere)."""
    text = getattr(exc, "__traceback_text__", None)
    return text if isinstance(text, str) else repr(exc)


class WorkerSignals(QObject):
    started = Signal()
    returned = Signal(object)
    errored = Signal(object)  # the exception; its traceback text is in exc.__traceback_text__
    progress = Signal(object)
    finished = Signal()


class FunctionWorker(QRunnable):
    """Run ``fn(*args, **kwargs)`` in a pool thread and report through :attr:`signals`.

    If ``fn`` takes a ``progress`` keyword it receives a callable that emits ``progress``.
    The worker keeps itself alive (in ``_LIVE``) until ``finished`` has been delivered, so its
    queued signals always reach the GUI thread.
    """

    _LIVE: set[FunctionWorker] = set()

    def __init__(self, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = WorkerSignals()
        self.signals.finished.connect(self._release)
        try:
            wants_progress = "progress" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            wants_progress = False
        if wants_progress:
            self.kwargs.setdefault("progress", self.signals.progress.emit)

    def start(self, pool: QThreadPool | None = None) -> FunctionWorker:
        FunctionWorker._LIVE.add(self)
        (pool or studio_pool()).start(self)
        return self

    def run(self) -> None:  # pool thread
        try:
            self.signals.started.emit()
            try:
                result = self.fn(*self.args, **self.kwargs)
            except Exception as exc:  # reported, never swallowed: the GUI shows it
                exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
                self.signals.errored.emit(exc)
            else:
                self.signals.returned.emit(result)
            finally:
                self.signals.finished.emit()
        except RuntimeError:  # the application is shutting down: nobody is left to tell
            pass

    def _release(self) -> None:  # GUI thread
        FunctionWorker._LIVE.discard(self)


class LatestWins(QObject):
    """At most one job in flight; requests made meanwhile collapse into the newest one.

    ``request(fn, *args)`` returns the request's generation. ``returned(generation, result)`` and
    ``errored(generation, exc)`` report every job that ran; ``generation == latest()`` means no newer
    request was made after it. ``idle`` is emitted when nothing runs and nothing is pending.
    """

    returned = Signal(int, object)
    errored = Signal(int, object)
    idle = Signal()

    def __init__(
        self, pool_fn: Callable[[], QThreadPool] = studio_pool, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pool_fn = pool_fn
        self._generation = 0
        self._running = False
        self._pending: tuple[int, Callable[..., object], tuple[object, ...]] | None = None
        self.coalesced = 0  # requests that were dropped because a newer one replaced them

    def latest(self) -> int:
        return self._generation

    def busy(self) -> bool:
        return self._running or self._pending is not None

    def request(self, fn: Callable[..., object], *args: object) -> int:
        self._generation += 1
        if self._running:
            if self._pending is not None:
                self.coalesced += 1
            self._pending = (self._generation, fn, args)
        else:
            self._launch(self._generation, fn, args)
        return self._generation

    def cancel_pending(self) -> None:
        """Forget the pending request (the running one still finishes; its result is stale)."""
        self._generation += 1
        self._pending = None

    def _launch(self, gen: int, fn: Callable[..., object], args: tuple[object, ...]) -> None:
        self._running = True
        worker = FunctionWorker(fn, *args)
        worker.signals.returned.connect(self._make_slot(gen, self.returned))
        worker.signals.errored.connect(self._make_slot(gen, self.errored))
        worker.signals.finished.connect(self._done_if_alive)
        worker.start(self._pool_fn())

    def _make_slot(self, gen: int, signal: SignalInstance) -> Callable[[object], None]:
        def emit(value: object) -> None:
            if shiboken6.isValid(self):  # the owner may be gone (window closed mid-job)
                signal.emit(gen, value)

        return emit

    def _done_if_alive(self) -> None:
        if shiboken6.isValid(self):
            self._done()

    def _done(self) -> None:
        self._running = False
        if self._pending is not None:
            gen, fn, args = self._pending
            self._pending = None
            self._launch(gen, fn, args)
        else:
            self.idle.emit()
