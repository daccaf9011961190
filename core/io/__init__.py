"""Photo and video input/output: load any common photo as upright RGB uint8, save atomically.

    from core.io import load_photo, save_image, downscaled

* ``atomic``: the one atomic file write every writer of the project uses (temporary file, fsync,
  rename, normal permissions).
* ``photo`` / ``orientation`` / ``convert``: load a photo upright as RGB uint8 (EXIF, ICC, modes).
* ``save``: PNG / JPEG / WebP export, atomic and without clobbering.
* ``downscale``: a smaller copy of a photo for analysis, and points between the two.
* ``video``: probe and read video frames.
* ``errors``: the photo I/O errors.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.io.downscale import Downscaled, downscaled, points_to_full, points_to_small
    from core.io.photo import Photo, load_photo
    from core.io.save import save_image
    from core.io.video import VideoInfo, iter_frames, probe_video

# Names are imported on first use (PEP 562), so that `core.io.errors` or `core.io.probe` cost no
# OpenCV import: the command line validates inputs with them before anything heavy loads.
_HOME = {
    "Downscaled": "downscale", "downscaled": "downscale", "points_to_full": "downscale",
    "points_to_small": "downscale", "Photo": "photo", "load_photo": "photo", "save_image": "save",
    "VideoInfo": "video", "iter_frames": "video", "probe_video": "video",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'core.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"core.io.{home}"), name)
    globals()[name] = value
    return value

__all__ = [
    "Downscaled",
    "Photo",
    "VideoInfo",
    "downscaled",
    "iter_frames",
    "load_photo",
    "points_to_full",
    "points_to_small",
    "probe_video",
    "save_image",
]
