"""Periodic evaluation during training: a fixed held-out set, the project's metrics, preview grids.

:class:`HeldOutEvaluator` implements :class:`training.loop.Evaluator`. It picks ``count`` faces
spread evenly over a dataset (a separate held-out cache, ``gafet train --eval-data``, or else the
training cache) and builds two fixed batches once:

* pseudo-pairs (X_n → X): the output has a ground truth, so **L1** and **SSIM**
  (:mod:`core.metrics.paired`, on uint8 crops) are measured;
* unpaired (X_n, Y), Y another face of the set.

On both, **AED** and **AU-H** (:mod:`core.metrics.expression`, "mesh AUs") compare the output's AUs
with the reference's, both fitted by the same differentiable mesh + AU fit the expression losses
use (:class:`training.face_fit.ExpressionFitter`); with ``identity=True`` the **identity distance**
(:func:`core.metrics.identity.identity_distance`, dlib's ResNet from :mod:`core.judges`, asset
``identity-dlib``) compares the output with its source X. It runs under ``torch.no_grad`` on G_ema
and touches no RNG, so a run's training is the same with or without it. Cost: two generator
forwards, four fits and (optionally) 4·count dlib descriptors per evaluation.

:meth:`HeldOutEvaluator.preview` renders the image grid: one row per sample, columns source |
reference | geometry (the normals of the target geometry image) | output.
"""

from __future__ import annotations

import numpy as np
import torch

from core.metrics.expression import aed, au_hamming
from core.metrics.identity import identity_distance
from core.metrics.paired import l1, ssim
from core.nets.gafet import GaFET
from training.data.batches import BatchBuilder
from training.data.dataset import FaceCacheDataset
from training.data.pairs import PairKey
from training.data.samples import collate_pairs
from training.face_fit import ExpressionFitter
from training.loop import Evaluation

__all__ = ["HeldOutEvaluator", "to_uint8"]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float in [-1, 1] -> (B, H, W, 3) uint8 RGB."""
    x = ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


class HeldOutEvaluator:
    """See the module docstring. dataset: the held-out faces; builder: the training run's
    :class:`BatchBuilder` (device, resolution, de-expression); fitter: the expression fit (None:
    no AED / AU-H); identity: also the identity distance (needs the ``identity-dlib`` asset)."""

    def __init__(self, dataset: FaceCacheDataset, builder: BatchBuilder, *, count: int = 4,
                 fitter: ExpressionFitter | None = None, identity: bool = False) -> None:
        n = len(dataset)
        if n == 0:
            raise ValueError("HeldOutEvaluator: the dataset is empty")
        idx = sorted({int(round(v)) for v in np.linspace(0, n - 1, min(count, n))})
        self.count = len(idx)
        paired = [PairKey(source=i, reference=i, paired=True, seed=0) for i in idx]
        self._pairs = [collate_pairs([dataset[k] for k in paired])]
        if n > 1:  # Y: the face half the dataset away (another input, for a cache of several)
            unpaired = [PairKey(source=i, reference=(i + max(1, n // 2)) % n, paired=False, seed=0)
                        for i in idx]
            self._pairs.append(collate_pairs([dataset[k] for k in unpaired]))
        self._batches = [builder(p) for p in self._pairs]
        self.fitter = fitter
        self._dlib = None
        if identity:
            from core.judges.dlib_resnet import load_dlib_resnet

            self._dlib = load_dlib_resnet()  # raises a GafetError naming the missing asset

    def _outputs(self, generator: GaFET) -> list[torch.Tensor]:
        outs = []
        for b in self._batches:
            outs.append(generator(b.source, b.reference, b.geometry, b.flow).image.float())
        return outs

    def _aus(self, images: torch.Tensor, landmarks: torch.Tensor) -> np.ndarray:
        assert self.fitter is not None
        return self.fitter(images.float(), landmarks).params.expression.detach().cpu().double().numpy()

    def _descriptors(self, images: np.ndarray, landmarks: torch.Tensor) -> np.ndarray:
        from core.judges.dlib_resnet import descriptors_from_chips
        from core.judges.face_chip import face_chip

        chips = np.stack([face_chip(img, lm.cpu().numpy()).image for img, lm in zip(images, landmarks,
                                                                                     strict=True)])
        return np.asarray(descriptors_from_chips(self._dlib, chips), dtype=np.float64)

    @torch.no_grad()
    def evaluate(self, generator: GaFET) -> Evaluation:
        outs = self._outputs(generator)
        metrics: dict[str, float] = {}
        paired_out, paired = to_uint8(outs[0]), self._batches[0]
        target = to_uint8(paired.reference)
        metrics["l1"] = float(np.mean([l1(a, b) for a, b in zip(paired_out, target, strict=True)]))
        metrics["ssim"] = float(np.mean([ssim(a, b) for a, b in zip(paired_out, target, strict=True)]))
        if self.fitter is not None:
            pred = np.concatenate([self._aus(o, b.target_landmarks) for o, b in zip(outs, self._batches,
                                                                                   strict=True)])
            ref = np.concatenate([self._aus(b.reference, b.reference_landmarks) for b in self._batches])
            metrics["aed"] = float(np.mean(aed(pred, ref)))
            metrics["au_h"] = float(np.mean(au_hamming(pred, ref)))
        if self._dlib is not None:
            dists = []
            for out, b, pairs in zip(outs, self._batches, self._pairs, strict=True):
                d_out = self._descriptors(to_uint8(out), b.target_landmarks)
                d_src = self._descriptors(to_uint8(pairs.original.image), pairs.original.landmarks)
                dists.append(identity_distance(d_out, d_src))
            metrics["identity_distance"] = float(np.mean(np.concatenate(dists)))
        return Evaluation(metrics=metrics, samples=sum(b.size for b in self._batches))

    @torch.no_grad()
    def preview(self, generator: GaFET) -> torch.Tensor:
        """(3, rows·R, 4·R) uint8: source | reference | geometry | output per sample."""
        rows = []
        for out, b in zip(self._outputs(generator), self._batches, strict=True):
            normals = b.geometry[:, :3] * b.geometry[:, 3:4]  # [-1, 1], zero off the face
            rows.append(torch.cat([b.source.float(), b.reference.float(), normals.float(), out], dim=3))
        grid = torch.cat(rows, dim=0)  # (N, 3, R, 4R)
        grid = torch.cat(list(grid), dim=1)  # (3, N·R, 4R)
        return ((grid.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).cpu()

