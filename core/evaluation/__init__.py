"""``gafet evaluate``'s machinery: pairs, editors and baselines, judged faces, the loop, the cache,
aggregates, tables, JSON and the HTML report. The metrics themselves are in :mod:`core.metrics`.

* :mod:`~core.evaluation.pairs`: what to evaluate (CSV, two folders, a video's hold-out frames);
* :mod:`~core.evaluation.editors`: warp / GaFET checkpoints and the baselines ``identity`` and
  ``mouth-paste`` (:mod:`~core.evaluation.mouth_paste`);
* :mod:`~core.evaluation.judges`: the independent identity and emotion judges, and the imported
  CSIM network (CurricularFace / ArcFace) when there is one;
  :mod:`~core.evaluation.views`: what they (and the AU fit) see of one face;
* :mod:`~core.evaluation.runner`: the loop (:class:`~core.evaluation.runner.Evaluator`), with
  :mod:`~core.evaluation.cache` and :mod:`~core.evaluation.scoring`;
* :mod:`~core.evaluation.summary`, :mod:`~core.evaluation.tables`, :mod:`~core.evaluation.export`,
  :mod:`~core.evaluation.report` (+ :mod:`~core.evaluation.pictures`): the results;
  :mod:`~core.evaluation.ablations`: Table 3's row names from checkpoint configs.

Nothing here imports Qt; networks load lazily (a fully cached rerun loads none).
"""
