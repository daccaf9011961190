"""Using a trained De-expression network: on an aligned crop, and on whole photos.

:class:`DeexpressModel` wraps a checkpoint (:func:`training.deexpress.state.load_model`):

* :meth:`DeexpressModel.neutralise_crop`: an aligned face crop (W, W, 3) uint8 of any size W ->
  its neutral version at W. The crop is area-resized to the network's resolution R, the network
  runs, and its **change** (output − input at R) is resized back to W and added to the crop, so a
  crop finer than R keeps its own detail where the network changes nothing;
* :meth:`DeexpressModel.apply_photo`: every face of a photo (detected and meshed, aligned at
  ``max(R, 256)``), neutralised and pasted back through the project's paste-back
  (:func:`core.editing.photo_paste.paste_with_detail` with a zero displacement: the photo's own
  pixels, plus the network's change inside the feathered face mask; pixels outside it are the
  photo's, bit for bit). Returns a new array the size of the photo; the input is never modified.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.checks import check_crop
from core.nets.u2net import U2Net
from training.deexpress.state import LoadedModel, load_model

MIN_WORK_SIZE = 256  # faces of photos are aligned at max(R, this) px


class PhotoResult(NamedTuple):
    """image: (H, W, 3) uint8 the photo with every face neutralised; faces: how many were."""

    image: np.ndarray
    faces: int


class DeexpressModel:
    """A loaded De-expression network (module docstring)."""

    def __init__(self, loaded: LoadedModel, *, device: torch.device | str = "cpu") -> None:
        self.loaded = loaded
        self.device = torch.device(device)
        self.net: U2Net = loaded.net.to(self.device).eval()
        self.resolution = loaded.config.resolution

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], *, device: torch.device | str = "cpu"
                        ) -> DeexpressModel:
        """Raises :class:`core.nets.checkpoint.CheckpointError` subclasses for a missing or bad file."""
        return cls(load_model(path, device=device), device=device)

    @torch.no_grad()
    def neutralise_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) float in [-1, 1] at the network's resolution -> the fused output, same shape."""
        return self.net(images.to(self.device)).image.float().cpu()

    @torch.no_grad()
    def neutralise_crop(self, crop: np.ndarray) -> np.ndarray:
        """(W, W, 3) uint8 aligned crop -> (W, W, 3) uint8 neutral crop (module docstring)."""
        check_crop(crop, None, "crop")
        w = crop.shape[0]
        r = self.resolution
        small = crop if w == r else cv2.resize(crop, (r, r), interpolation=cv2.INTER_AREA if w > r
                                                else cv2.INTER_CUBIC)
        x = torch.from_numpy(np.asarray(small, np.float32)).permute(2, 0, 1)[None] / 127.5 - 1.0
        change = (self.neutralise_batch(x) - x) * 127.5  # levels
        if w != r:
            change = F.interpolate(change, size=(w, w), mode="bicubic", align_corners=False)
        out = np.asarray(crop, np.float32) + change[0].permute(1, 2, 0).numpy()
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def apply_photo(self, rgb: np.ndarray, analyzer: object) -> PhotoResult:
        """Neutralise every face of ``rgb`` ((H, W, 3) uint8); ``analyzer``: a
        :class:`core.face.analyzer.FaceAnalyzer`. Returns a new array (module docstring)."""
        from core.editing.photo_paste import paste_with_detail
        from core.face.align import AlignConfig, align_face
        from core.face.masks import face_mask

        size = max(self.resolution, MIN_WORK_SIZE)
        faces = tuple(analyzer.analyze(rgb))  # type: ignore[attr-defined]
        result = np.array(rgb, copy=True)
        for face in faces:
            aligned = align_face(result, face.landmarks, AlignConfig(size=size))
            edited = self.neutralise_crop(aligned.crop)
            mask = face_mask(aligned.landmarks, size)
            pasted = paste_with_detail(photo=result, aligned=aligned, edited=edited,
                                       displacement=np.zeros((size, size, 2), np.float32), mask=mask,
                                       warped=aligned.crop.astype(np.float32))
            result = pasted.image
        return PhotoResult(image=result, faces=len(faces))
