"""From the DataLoader's :class:`~training.data.samples.PairBatch` to the objective's
:class:`training.batch.Batch`, on the training device and batched (paper §3.1, §3.5).

Per sample, with S = the source's fitted parameters (X_n's: X's identity and pose, zero AUs with
the warp neutraliser) and E = the reference's expression (X's for a pseudo-pair, Y's otherwise):

* target parameters = ``combine(source=S, reference=E)`` (:mod:`core.geometry.combine`): the
  source's identity and pose with the reference's AUs; target mesh = the AU model's vertices of
  them, in crop px. For a pseudo-pair this is X's own mesh (X_n and X share identity and pose);
* geometry image = the target mesh rendered at R (:func:`core.render.geometry_image.geometry_image`);
* flow = the backward flow target -> source mesh at R (:func:`core.render.flow.backward_flow`),
  as a ``grid_sample`` grid.

This is what the GaFET editor feeds the generator at inference (:mod:`core.editing.gafet.editor`:
the same screen convention, pixel centres at +0.5), with the crop already at the network's
resolution. ``de_expression=False`` ("w/o De-exp", Table 3) uses X itself as the source.
"""

from __future__ import annotations

import torch

from core.geometry.au.model import AUFaceModel
from core.geometry.combine import combine
from core.render.flow import FlowSettings, backward_flow
from core.render.geometry_image import geometry_image
from training.batch import Batch, continuous_px
from training.data.samples import PairBatch


class BatchBuilder:
    """Turns PairBatches into objective Batches on ``device`` (module docstring).

    resolution: R, the network's resolution; the cache's crop size must equal it.
    de_expression: False for the "w/o De-exp" ablation (source = X instead of X_n).
    """

    def __init__(self, *, device: torch.device | str, resolution: int, de_expression: bool = True,
                 flow: FlowSettings = FlowSettings(), model: AUFaceModel | None = None) -> None:
        self.device = torch.device(device)
        self.resolution = int(resolution)
        self.de_expression = de_expression
        self.flow_settings = flow
        self.model = (model or AUFaceModel()).to(self.device)
        self.faces = self.model.faces.to(self.device)

    def target_vertices(self, pairs: PairBatch) -> torch.Tensor:
        """(B, 468, 3) float32 crop px: the source's identity and pose with the reference's AUs."""
        source = pairs.source if self.de_expression else pairs.original
        target = combine(source=source.params(), reference=pairs.reference.params())
        return self.model.vertices_of(target.to(self.device)).float()

    @torch.no_grad()
    def __call__(self, pairs: PairBatch) -> Batch:
        """PairBatch (any device) -> Batch on ``self.device``."""
        r = self.resolution
        size = int(pairs.source.image.shape[-1])
        if size != r:
            raise ValueError(f"the face cache holds {size}px crops but the network's resolution is {r}px; "
                             f"prepare the cache with --size {r}")
        pairs = pairs.to(self.device)
        source = pairs.source if self.de_expression else pairs.original
        target = self.target_vertices(pairs)
        screen = continuous_px(target)
        geometry = geometry_image(screen, self.faces, r)
        flow = backward_flow(screen, continuous_px(source.landmarks)[..., :2], self.faces, (r, r),
                             settings=self.flow_settings)
        return Batch(source=source.image, reference=pairs.reference.image, geometry=geometry, flow=flow.grid,
                     target_landmarks=target, reference_landmarks=pairs.reference.landmarks,
                     paired=pairs.is_paired)
