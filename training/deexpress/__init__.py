"""The De-expression model of paper §3.4: X -> X_n, the neutral face of a pseudo-pair.

* :mod:`~training.deexpress.config`: frozen configs (``tiny-32``, ``cpu-small-64``, ``small-128``,
  ``full-256``), the objective's weights, JSON form;
* :mod:`~training.deexpress.pairs`: pluggable pair sources (``warp-neutral``, ``stylegan2``,
  ``bootstrap``) and the batch feed with paired TPS / colour augmentation
  (:mod:`training.data.tps`);
* :mod:`~training.deexpress.objective` (change-weighted L1 + LPIPS + deep supervision),
  :mod:`~training.deexpress.loop` (the training module's events, stop and checkpoint rules),
  :mod:`~training.deexpress.state` (one-file safetensors checkpoints, exact resume);
* :mod:`~training.deexpress.apply`: a trained network on crops and whole photos;
* :mod:`~training.deexpress.stylegan_pairs` and :mod:`~training.deexpress.pair_store`: the StyleGAN2
  latent editor, its losses, and pair generation with resume.

The network is :class:`core.nets.u2net.U2Net`; ``gafet deexpress`` is the command line and
``gafet train --neutraliser deexpression CKPT`` uses a trained model.
"""
