"""The driving video's timeline: play/pause, a frame scrubber, in/out marks and a status line.

It holds no video: :class:`gafet_studio.video_driving.VideoDriving` gives it the clip's length
and rate (:meth:`VideoTimeline.set_clip`) and listens to :attr:`VideoTimeline.scrubbed` (the user
moved to a frame) and :attr:`VideoTimeline.playToggled`. While the clip is being analysed the
scrubber is disabled and the status line shows the analysis's progress.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QStyle, QToolButton, QWidget


def time_text(seconds: float) -> str:
    """'m:ss.s' for a time in seconds (>= 0)."""
    minutes, rest = divmod(max(0.0, float(seconds)), 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


class VideoTimeline(QWidget):
    scrubbed = Signal(int)  # the user moved to this output frame (0-based)
    playToggled = Signal(bool)  # True: play
    closeRequested = Signal()  # leave video driving (back to a photo reference)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("videoTimeline")
        self._fps = 30.0
        self._frames = 0
        self._in = 0
        self._out = 0  # exclusive
        self.play_button = QToolButton()
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play / pause the driving video (the result follows it)")
        self.play_button.toggled.connect(self._play_toggled)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub through the driving video")
        self.slider.setTracking(True)
        self.slider.valueChanged.connect(self._moved)
        self.position_label = QLabel("")
        self.position_label.setMinimumWidth(150)
        self.in_button = QToolButton()
        self.in_button.setText("In")
        self.in_button.setToolTip("Start the exported clip at this frame")
        self.in_button.clicked.connect(lambda: self.set_range_marks(self.slider.value(), self._out))
        self.out_button = QToolButton()
        self.out_button.setText("Out")
        self.out_button.setToolTip("End the exported clip at this frame (included)")
        self.out_button.clicked.connect(lambda: self.set_range_marks(self._in, self.slider.value() + 1))
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Stop driving with this video")
        self.close_button.clicked.connect(self.closeRequested)
        self.status = QLabel("")
        self.status.setStyleSheet("color: palette(mid);")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.position_label)
        row.addWidget(self.in_button)
        row.addWidget(self.out_button)
        row.addWidget(self.status)
        row.addWidget(self.close_button)
        self._show_play_icon(False)
        self.set_clip(0, 30.0)

    # -- state from the controller --------------------------------------------------------------
    def set_clip(self, frames: int, fps: float) -> None:
        """A clip of ``frames`` output frames at ``fps`` (0 frames: nothing to scrub yet)."""
        self._frames, self._fps = max(0, int(frames)), float(fps) if fps > 0 else 30.0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, self._frames - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._in, self._out = 0, self._frames
        enabled = self._frames > 0
        for w in (self.slider, self.play_button, self.in_button, self.out_button):
            w.setEnabled(enabled)
        self._show_position()

    def set_position(self, index: int) -> None:
        """Show ``index`` (no :attr:`scrubbed`)."""
        self.slider.blockSignals(True)
        self.slider.setValue(int(index))
        self.slider.blockSignals(False)
        self._show_position()

    def set_playing(self, on: bool) -> None:
        self.play_button.blockSignals(True)
        self.play_button.setChecked(on)
        self.play_button.blockSignals(False)
        self._show_play_icon(on)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_range_marks(self, first: int, last: int) -> None:
        """The export range: output frames [first, last)."""
        first = min(max(0, int(first)), max(0, self._frames - 1))
        last = max(first + 1, min(int(last), self._frames))
        self._in, self._out = first, last
        self._show_position()

    # -- reading -----------------------------------------------------------------------------
    def position(self) -> int:
        return self.slider.value()

    def frame_count(self) -> int:
        return self._frames

    def range_marks(self) -> tuple[int, int]:
        """The export range [first, last) in output frames (the whole clip unless marked)."""
        return self._in, self._out

    def is_playing(self) -> bool:
        return self.play_button.isChecked()

    # -- internals ---------------------------------------------------------------------------
    def _moved(self, value: int) -> None:
        self._show_position()
        self.scrubbed.emit(int(value))

    def _play_toggled(self, on: bool) -> None:
        self._show_play_icon(on)
        self.playToggled.emit(on)

    def _show_play_icon(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _show_position(self) -> None:
        if self._frames == 0:
            self.position_label.setText("")
            return
        i = self.slider.value()
        marks = "" if (self._in, self._out) == (0, self._frames) else f" · in {self._in}–{self._out - 1}"
        self.position_label.setText(f"frame {i + 1}/{self._frames} · {time_text(i / self._fps)}{marks}")
