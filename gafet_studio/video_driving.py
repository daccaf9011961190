"""Driving videos in the Studio: a video dropped on the reference panel drives the source portrait.

The frames the Studio shows and exports are ``gafet drive``'s (:mod:`core.driving`):

1. **analyse** (a worker on the pipeline pool, with progress): ``VideoDriver.analyse``, pass 1
   over the clip: the driving face tracked, fitted, its neutral estimated, smoothed
   (:class:`gafet_studio.video_work.DrivingVideo`). It reads no source, so a new source needs no new analysis.
2. **show a frame** (a worker on the side pool, latest wins): output frame ``pos`` becomes an
   in-memory reference (:func:`gafet_studio.video_work.frame_reference`): the same ``PreparedReference`` that
   ``VideoDriver.frames`` builds for it (the driving crop, the target AUs relative to the
   video's neutral, the driving mesh with the relative mouth gap), under a key unique to the
   video, the source and the frame, so the pipeline's caches never reuse another frame. It is
   set on the session as the reference (not an undo step); the engine renders it as any
   reference, so the intensity and region sliders apply, the live path previews it and the
   exact render follows. The reference panel shows the driving frame.
3. **export** (a worker on the pipeline pool, progress dialog, cancel):
   :func:`gafet_studio.video_work.export_clip` runs :func:`core.driving.output.drive_to_file` on
   the analysed track, cut to the timeline's in/out range, so the file holds the frames the
   timeline showed; a cancel leaves no file.

A frame where the driving face is lost takes the held expression at the track's weight (fading
back to the source): here the weight scales the reference's AUs and mesh towards the source's
(``gafet drive`` scales the intensity instead, so such frames may differ slightly; frames with
the face, weight 1, are the same).

The work without Qt (1-3) lives in :mod:`gafet_studio.video_work`, imported only when a video is
dropped: it loads torch, and the window shows before torch does.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QVBoxLayout, QWidget

from gafet_studio.image_convert import to_display_qimage
from gafet_studio.jobs import base_pipeline, describe_error, shared_pipeline
from gafet_studio.session import NoticeLevel, ReferenceState, SourceState, Task
from gafet_studio.widgets.video_timeline import VideoTimeline
from gafet_studio.workers import FunctionWorker, LatestWins, aux_pool, studio_pool, traceback_text

if TYPE_CHECKING:  # these import torch: loaded when a video is dropped, not with the window
    from core.driving.drive import DriveOptions, DriveProgress, DriveSummary, ProgressFn
    from core.editing.params import EditParams
    from core.editing.pipeline import PreparedSource
    from gafet_studio.main_window import MainWindow
    from gafet_studio.video_work import DrivingVideo, FrameReader

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
KEPT_FRAMES = 96  # frame references kept (revisited frames hit the engine's render cache)


def is_video_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


# --- the Studio side --------------------------------------------------------------------------


class VideoDriving(QObject):
    """The window's driving-video mode: sorts dropped videos out, analyses them, puts the current
    frame on the session as the reference, plays, and exports (module docstring)."""

    videoReady = Signal(object)  # DrivingVideo, analysed
    frameShown = Signal(int)  # output frame now the session's reference
    videoExported = Signal(object)  # DriveSummary
    exportProgress = Signal(object)  # DriveProgress of the running export
    left = Signal()  # video mode ended (another reference, or closed)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.session = window.session
        self.engine = window.controller.engine
        self.timeline = VideoTimeline()
        self.timeline.hide()
        self.options: DriveOptions | None = None  # what a dropped video is analysed with (None: defaults)
        self.video: DrivingVideo | None = None
        self.export_dialog: QProgressDialog | None = None
        self._position = 0
        self._shown: ReferenceState | None = None
        self._states: OrderedDict[tuple[int, int, int], ReferenceState] = OrderedDict()
        self._readers: dict[int, FrameReader] = {}  # video key -> reader (the frame thread only)
        self._analysis_cancel: threading.Event | None = None
        self._export_cancel: threading.Event | None = None
        self._frames = LatestWins(aux_pool, parent=self)
        self._frames.returned.connect(self._on_frame)
        self._frames.errored.connect(self._on_frame_error)
        self._play = QTimer(self)
        self._play.timeout.connect(self._tick)
        self.timeline.scrubbed.connect(self.show_frame)
        self.timeline.playToggled.connect(self.set_playing)
        self.timeline.closeRequested.connect(self.close_video)
        self.session.referenceChanged.connect(self._reference_changed)
        self.session.sourceChanged.connect(self._source_changed)
        self._install(window)

    def _install(self, window: MainWindow) -> None:
        """The timeline under the result view; File ▸ Export Video…."""
        columns, view = window.workspace.columns, window.result_view
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        index, sizes = columns.indexOf(view), columns.sizes()
        columns.insertWidget(index, box)
        layout.addWidget(view, 1)  # moves the view out of the splitter, into the box
        layout.addWidget(self.timeline)
        columns.setStretchFactor(index, 1)
        columns.setSizes(sizes)
        window.menus.export_video.triggered.connect(self.export_video)

    # -- opening -----------------------------------------------------------------------------
    def open_paths(self, paths: Sequence[str | Path], target: str) -> None:
        """Dropped paths: videos are driving videos (reference panel or window), never a source;
        everything else goes to the controller."""
        paths = [Path(p) for p in paths]
        videos = [p for p in paths if is_video_name(p) and not p.is_dir()]
        if not videos:
            self.controller.open_paths(paths, target)  # type: ignore[arg-type]
            return
        if target == "source":
            self.session.notify(
                NoticeLevel.ERROR,
                f"'{videos[0].name}' is a video; the source must be a photo (the portrait to drive). "
                "Drop the video on the reference panel to drive the portrait with it.")
            return
        rest = [p for p in paths if p not in videos]
        if target == "window" and rest:
            self.controller.open_paths(rest, "source")
        self.open_video(videos[0])

    def open_video(self, path: str | Path, options: DriveOptions | None = None) -> None:
        """Analyse ``path`` (a worker) and make it the driving video."""
        path = Path(path)
        self.set_playing(False)
        if self._analysis_cancel is not None:
            self._analysis_cancel.set()
        cancel = self._analysis_cancel = threading.Event()
        self.video = None
        self._states.clear()
        self.timeline.set_clip(0, 30.0)
        self.timeline.set_status(f"Analysing '{path.name}'…")
        self.timeline.show()
        self.session.set_busy(Task.REFERENCE, True)
        worker = FunctionWorker(self._analyse_job, path, options or self.options, self.engine.crop_size,
                                cancel)
        worker.signals.progress.connect(self._analysis_progress)
        worker.signals.returned.connect(lambda v, c=cancel: self._analysed(v, c))
        worker.signals.errored.connect(lambda e, c=cancel: self._analysis_failed(e, c))
        worker.signals.finished.connect(lambda c=cancel: self._analysis_finished(c))
        worker.start(studio_pool())

    @staticmethod
    def _analyse_job(path: Path, options: DriveOptions, crop_size: int, cancel: threading.Event,
                     progress: ProgressFn | None = None) -> DrivingVideo:  # pipeline pool
        from gafet_studio.video_work import analyse_video

        return analyse_video(base_pipeline(crop_size), path, options, progress=progress, cancel=cancel.is_set)

    def _analysis_progress(self, p: DriveProgress) -> None:
        if shiboken6.isValid(self) and p.total:
            self.timeline.set_status(f"Analysing… {p.done}/{p.total}")
            self.window.set_task_fraction(Task.REFERENCE, p.done / p.total)

    def _analysed(self, video: DrivingVideo, cancel: threading.Event) -> None:
        if not shiboken6.isValid(self) or cancel is not self._analysis_cancel or cancel.is_set():
            return
        self.video = video
        lost = video.track.lost_frames
        self.timeline.set_clip(video.frame_count, video.fps)
        self.timeline.set_status(f"{video.path.name}" + (f" · face lost in {lost} frames" if lost else ""))
        self.videoReady.emit(video)
        self.show_frame(0)

    def _analysis_failed(self, exc: BaseException, cancel: threading.Event) -> None:
        from core.driving.drive import DriveCancelled

        if not shiboken6.isValid(self) or isinstance(exc, DriveCancelled):
            return
        if cancel is not self._analysis_cancel:
            return
        if not hasattr(exc, "exit_code"):
            log.error("video analysis failed:\n%s", traceback_text(exc))
        self.timeline.hide()
        self.session.notify(NoticeLevel.ERROR, f"The driving video could not be used: {describe_error(exc)}")

    def _analysis_finished(self, cancel: threading.Event) -> None:
        if shiboken6.isValid(self) and cancel is self._analysis_cancel:
            self._analysis_cancel = None
            self.session.set_busy(Task.REFERENCE, False)

    def close_video(self) -> None:
        """Leave video mode (the reference panel keeps the frame on show as a still)."""
        self.set_playing(False)
        if self._analysis_cancel is not None:
            self._analysis_cancel.set()
        self.video = None
        self._shown = None
        self._states.clear()
        self.timeline.hide()
        self.left.emit()

    # -- frames ------------------------------------------------------------------------------
    def position(self) -> int:
        return self._position

    def show_frame(self, pos: int) -> None:
        """Make output frame ``pos`` the session's reference (a worker builds it)."""
        video, source = self.video, self.session.source
        if video is None:
            return
        self._position = pos = min(max(0, int(pos)), video.frame_count - 1)
        self.timeline.set_position(pos)
        if source is None:
            self.timeline.set_status("Load a source portrait to see it driven")
            return
        state = self._states.get((video.key, source.key, pos))
        if state is not None:
            self._frames.cancel_pending()
            self._set_reference(state, pos)
            return
        self._frames.request(self._frame_job, video, source, pos)

    def _frame_job(self, video: DrivingVideo, source: SourceState, pos: int
                   ) -> tuple[int, int, int, ReferenceState]:  # frame thread
        reader = self._readers.get(video.key)
        if reader is None:
            for old in self._readers.values():
                old.close()
            from gafet_studio.video_work import FrameReader

            self._readers = {video.key: (reader := FrameReader(video.path))}
        from gafet_studio.video_work import frame_reference

        ref, frame = frame_reference(video.driver.pipeline, video, source.prepared, pos, reader)
        label = f"{video.path.name} · frame {pos + 1}/{video.frame_count}"
        state = ReferenceState(kind="photo", label=label, prepared=ref, path=video.path,
                               image=to_display_qimage(frame), boxes=(), face_index=0)
        return video.key, source.key, pos, state

    def _on_frame(self, gen: int, value: tuple[int, int, int, ReferenceState]) -> None:
        video, source = self.video, self.session.source
        vkey, skey, pos, state = value
        if video is None or source is None or vkey != video.key or skey != source.key:
            return
        self._states[(vkey, skey, pos)] = state
        while len(self._states) > KEPT_FRAMES:
            self._states.popitem(last=False)
        if gen == self._frames.latest() or self.timeline.is_playing():
            self._set_reference(state, pos)

    def _set_reference(self, state: ReferenceState, pos: int) -> None:
        self._shown = state
        self.session.set_reference(state)
        self.frameShown.emit(pos)

    def _on_frame_error(self, gen: int, exc: BaseException) -> None:
        if not hasattr(exc, "exit_code"):
            log.error("driving frame failed:\n%s", traceback_text(exc))
        if gen == self._frames.latest():
            self.set_playing(False)
            self.session.notify(NoticeLevel.ERROR, describe_error(exc))

    def _reference_changed(self, state: ReferenceState | None) -> None:
        if self.video is not None and state is not self._shown and self._analysis_cancel is None:
            self.close_video()  # another reference (a photo, a preset, undo): video mode ends

    def _source_changed(self, state: SourceState | None) -> None:
        if self.video is not None and state is not None:
            self.show_frame(self._position)  # the relative targets depend on the source

    # -- playing -----------------------------------------------------------------------------
    def set_playing(self, on: bool) -> None:
        on = bool(on) and self.video is not None
        self.timeline.set_playing(on)
        if on:
            if self._position >= self.video.frame_count - 1:
                self.show_frame(0)
            self._play.start(max(1, round(1000 / self.video.fps)))
        else:
            self._play.stop()

    def _tick(self) -> None:
        """Next frame, unless the last one is still being made (playback keeps to the machine)."""
        video = self.video
        if video is None or self._position >= video.frame_count - 1:
            self.set_playing(False)
            return
        if not self._frames.busy():
            self.show_frame(self._position + 1)

    # -- export ------------------------------------------------------------------------------
    def export_video(self) -> None:
        """File ▸ Export Video…: ask for the MP4, then export the timeline's in/out range."""
        if self.video is None or self.session.source is None:
            self.session.notify(NoticeLevel.WARNING, "Load a source portrait and drop a driving video on the "
                                "reference panel first; there is no video to export yet.")
            return
        stem = self.session.source.path.stem
        default = Path(self.controller.settings.last_folder("export")) / f"{stem}-driven.mp4"
        name, _ = QFileDialog.getSaveFileName(self.window, "Export video", str(default), "MP4 video (*.mp4)")
        if name:
            path = Path(name) if name.lower().endswith(".mp4") else Path(name + ".mp4")
            self.start_export(path, overwrite=True)  # the file dialog asked before replacing

    def start_export(self, path: str | Path, first: int | None = None, last: int | None = None, *,
                     overwrite: bool = False) -> bool:
        """Export output frames [first, last) (default: the timeline's in/out) to ``path`` in a
        worker with a progress dialog; False (and a notice) when it cannot start."""
        video, source, path = self.video, self.session.source, Path(path)
        if video is None or source is None or self.session.busy(Task.EXPORT):
            self.session.notify(NoticeLevel.WARNING, "Nothing to export yet, or an export is running.")
            return False
        protected = [source.path, video.path]
        if any(path.exists() and p.exists() and path.resolve() == p.resolve() for p in protected):
            self.session.notify(NoticeLevel.ERROR, f"'{path.name}' is an input; choose another file name.")
            return False
        marks = self.timeline.range_marks()
        first = marks[0] if first is None else first
        last = marks[1] if last is None else last
        cancel = self._export_cancel = threading.Event()
        dialog = QProgressDialog("Exporting the driven video…", "Cancel", 0, last - first, self.window)
        self.export_dialog = dialog
        dialog.setWindowTitle("Export video")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(cancel.set)
        dialog.show()
        self.session.set_busy(Task.EXPORT, True)
        worker = FunctionWorker(self._export_job, video, source.prepared, self.session.params,
                                self.session.editor, self.engine.crop_size, path, first, last, overwrite,
                                cancel)
        worker.signals.progress.connect(self._export_progress)
        worker.signals.returned.connect(self._exported)
        worker.signals.errored.connect(self._export_failed)
        worker.signals.finished.connect(self._export_finished)
        worker.start(studio_pool())
        return True

    @staticmethod
    def _export_job(video: DrivingVideo, source: PreparedSource, params: EditParams, editor: object,
                    crop_size: int, path: Path, first: int, last: int, overwrite: bool,
                    cancel: threading.Event, progress: ProgressFn | None = None) -> DriveSummary:
        pipeline = shared_pipeline(editor, crop_size)  # type: ignore[arg-type]
        from gafet_studio.video_work import export_clip

        return export_clip(pipeline, video, source, params, path, first, last, overwrite=overwrite,
                           progress=progress, cancel=cancel.is_set)

    def _export_progress(self, p: DriveProgress) -> None:
        if not shiboken6.isValid(self) or not p.total:
            return
        dialog = self.export_dialog
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.setValue(p.done)
            dialog.setLabelText(f"Rendering frame {p.done} of {p.total}…")
        self.window.set_task_fraction(Task.EXPORT, p.done / p.total)
        self.exportProgress.emit(p)

    def _exported(self, summary: DriveSummary) -> None:
        if not shiboken6.isValid(self):
            return
        out = summary.output
        self.session.notify(NoticeLevel.INFO, f"Exported '{out.name}' ({summary.frames} frames, "
                            f"{float(summary.fps):.2f} fps) to {out.parent}.")
        self.videoExported.emit(summary)

    def _export_failed(self, exc: BaseException) -> None:
        if not shiboken6.isValid(self):
            return
        from core.driving.drive import DriveCancelled

        if isinstance(exc, DriveCancelled):
            self.session.notify(NoticeLevel.INFO, "Video export cancelled; nothing was written.")
            return
        if not hasattr(exc, "exit_code"):
            log.error("video export failed:\n%s", traceback_text(exc))
        self.session.notify(NoticeLevel.ERROR, describe_error(exc))

    def _export_finished(self) -> None:
        if not shiboken6.isValid(self):
            return
        self._export_cancel = None
        dialog, self.export_dialog = self.export_dialog, None
        if dialog is not None and shiboken6.isValid(dialog):
            dialog.canceled.disconnect()
            dialog.close()
            dialog.deleteLater()
        self.session.set_busy(Task.EXPORT, False)

    def cancel_export(self) -> None:
        if self._export_cancel is not None:
            self._export_cancel.set()

    def shutdown(self) -> None:
        """The window closes: stop playing, cancel the analysis and the export."""
        self._play.stop()
        for event in (self._analysis_cancel, self._export_cancel):
            if event is not None:
                event.set()
        self._frames.cancel_pending()
