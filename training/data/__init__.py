"""Training data: the face cache (``gafet prepare``), datasets, pairs and augmentation.

* :mod:`~training.data.prepare`: the ``gafet prepare`` command (inputs -> work units -> worker
  processes -> shards), resumable; :mod:`~training.data.sources` (inputs, hold-out ranges, work
  units), :mod:`~training.data.extract` (the per-face work), :mod:`~training.data.neutraliser`
  (X -> X_n);
* :mod:`~training.data.cache` (the cache folder and its reader), :mod:`~training.data.shards`
  (memory-mapped safetensors shards), :mod:`~training.data.records` (typed records);
* :mod:`~training.data.dataset` (pair samples as tensors), :mod:`~training.data.pairs` (the
  §3.5 batch sampler: alternating pseudo-pair and unpaired batches, DDP slices),
  :mod:`~training.data.samples` (FaceView, PairSample, PairBatch, collate),
  :mod:`~training.data.augment` (flip with mesh mirroring, colour jitter).
"""
