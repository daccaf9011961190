"""The paper's metrics and their offline stand-ins, behind one registry (``gafet evaluate`` reports them).

    from core.metrics import all_metrics, metric
    metric("csim").fn(descriptor_out, descriptor_src)

Modules (each registers its metrics with :func:`~core.metrics.registry.register_metric`):

* :mod:`~core.metrics.identity`: CSIM, ACD and the identity distance on the identity judge's
  descriptors;
* :mod:`~core.metrics.expression`: AED, AU-H and ED on the project's fitted AUs ("mesh AUs");
* :mod:`~core.metrics.emotion`: the emotion judge's agreement with the reference (all pairs, and
  issue 10's subset of clearly classified references);
* :mod:`~core.metrics.face_geometry`: dlib-68 brow height, eye and mouth opening, mouth width, and
  the share of the source -> reference gap an output closes;
* :mod:`~core.metrics.detail`: face-region detail ratio, changed pixels outside a mask, face-box
  difference (output vs source);
* :mod:`~core.metrics.distribution`: FID, KID, IS (Inception, imported weights) and FD-dlib;
* :mod:`~core.metrics.paired`: L1, PSNR, SSIM where a ground truth exists;
  :mod:`~core.metrics.lpips_metric`: LPIPS (imported AlexNet weights);
* :mod:`~core.metrics.inception`: the FID Inception network; :mod:`~core.metrics.weights`: the
  weights users import for it, for LPIPS and for CSIM's face-recognition networks
  (CurricularFace / ArcFace, :mod:`core.judges.iresnet`).

Functions are pure: ``(pred, target, ...) -> value``; which judge or weights made the inputs is
the caller's business (:mod:`core.evaluation`).
"""

from core.metrics.registry import (
    GROUPS,
    METRICS,
    Metric,
    UnknownMetricError,
    all_metrics,
    metric,
    metrics_in,
    register_metric,
)

__all__ = [
    "GROUPS",
    "METRICS",
    "Metric",
    "UnknownMetricError",
    "all_metrics",
    "metric",
    "metrics_in",
    "register_metric",
]
