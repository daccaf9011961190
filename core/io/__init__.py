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

from core.io.downscale import Downscaled, downscaled, points_to_full, points_to_small
from core.io.photo import Photo, load_photo
from core.io.save import save_image
from core.io.video import VideoInfo, iter_frames, probe_video

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
