"""Photo and video input/output: load any common photo as upright RGB uint8, save atomically.

    from core.io import load_photo, save_image, downscaled
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
