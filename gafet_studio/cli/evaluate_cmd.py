"""``gafet evaluate``: score editors on pairs with the paper's metrics and independent judges.

    gafet evaluate --pairs pairs.csv --editor warp --editor identity --editor mouth-paste --json out.json
    gafet evaluate --sources portraits/ --references expressions/ --same-pose --report report/
    gafet evaluate --video clip.mp4 --holdout 30:60 --editor warp --metrics l1,psnr,ssim
    gafet evaluate --pairs pairs.csv --ablations full.safetensors no_mfat.safetensors

Inputs: ``--pairs FILE.csv`` (columns ``source,reference[,target]``; a reference may be
``preset:NAME``), or ``--sources DIR --references DIR`` (every pair; ``--same-pose [DEG]`` keeps
pairs whose head yaw and pitch differ by at most DEG, default 10), or ``--video FILE --holdout
START:END`` (self-reenactment: each hold-out frame is reference and target, the frame just
before the range the source). ``--editor`` (repeatable; default warp, identity, mouth-paste):
``warp``, a GaFET checkpoint, ``identity`` (output = source) or ``mouth-paste`` (the reference's
mouth blended on). ``--ablations CKPT...`` adds checkpoints and prints the paper's Table 3 layout,
each row named by the switches its config turns off.

Output: one table per metric group (means; ``--median`` for medians; ``--baseline E`` shows
editor E's value beside each number), ``--json OUT`` with
per-pair and per-editor values, ``--report DIR`` with an HTML page of contact sheets, a histogram
of identity distances and the tables. Results are cached (``--cache DIR``, default
``<data home>/cache/evaluate``; ``--no-cache``): a rerun computes only what changed.

Metrics that need weights the user imports (FID, KID, IS: Inception; LPIPS: AlexNet) are listed
with the file they need and ``gafet assets import-weights``. CSIM uses an imported face-recognition
network when there is one (``--identity-net``, default ``auto``: CurricularFace, else ArcFace R100,
else ArcFace R50, else dlib's ResNet) and is then labelled with it ("CSIM (CurricularFace)");
ACD, the identity distance and FD-dlib always use dlib's ResNet. Exit codes: 0 every pair evaluated;
5 when a metric named in ``--metrics`` lacks its weights (the rest is still computed and printed);
otherwise, when pairs failed (reported and skipped), their common exit code (2 unreadable,
3 no face), or 1 when they differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import EXIT_ASSET, EXIT_ERROR, GafetError

if TYPE_CHECKING:
    from core.evaluation.cache import EvalCache
    from core.evaluation.editors import EvalEditor
    from core.evaluation.pairs import EvalPair
    from core.evaluation.records import PairOutcome
    from core.evaluation.runner import EvalSettings
    from core.evaluation.summary import EvaluationSummary

DEFAULT_EDITORS = ("warp", "identity", "mouth-paste")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score editors with the paper's metrics and independent judges",
        description="Score editors on (source, reference[, target]) pairs: identity (CSIM, ACD), "
        "expression (AED, AU-H, ED on mesh AUs), emotion agreement, FID/KID/IS (imported weights), "
        "FD-dlib, and L1/PSNR/SSIM/LPIPS where a target exists.",
    )
    src = p.add_argument_group("inputs (one of)")
    src.add_argument("--pairs", type=Path, metavar="FILE.csv", help="CSV with source,reference[,target]")
    src.add_argument("--sources", type=Path, metavar="DIR", help="folder of source portraits")
    src.add_argument("--references", type=Path, metavar="DIR", help="folder of reference photos")
    src.add_argument("--same-pose", type=float, nargs="?", const=10.0, default=None, metavar="DEG",
                     help="with --sources/--references: only pairs whose yaw and pitch differ by <= DEG "
                     "(default 10)")
    src.add_argument("--video", type=Path, metavar="FILE", help="a video for self-reenactment pairs")
    src.add_argument("--holdout", metavar="START:END",
                     help="with --video: the hold-out frames (END exclusive)")
    src.add_argument("--frame-step", type=int, default=1, metavar="N", help="with --video: every N-th frame")
    p.add_argument("--editor", action="append", default=None, metavar="E",
                   help="warp, a GaFET checkpoint, identity or mouth-paste (repeatable; "
                   f"default: {', '.join(DEFAULT_EDITORS)})")
    p.add_argument("--ablations", nargs="+", default=[], metavar="CKPT",
                   help="checkpoints to compare in the paper's Table 3 layout")
    p.add_argument("--alpha", type=float, default=1.0, metavar="A", help="edit intensity 0..1.5 (default 1)")
    p.add_argument("--crop-size", type=int, default=512, metavar="R",
                   help="edit crop side in px (default 512)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where GaFET checkpoints run (default auto)")
    p.add_argument("--identity-net", default="auto", metavar="NET",
                   choices=("auto", "dlib", "curricularface", "arcface-r100", "arcface-r50"),
                   help="the network CSIM uses: auto (default: an imported curricularface, else "
                   "arcface-r100, else arcface-r50, else dlib), dlib, or an imported curricularface / "
                   "arcface-r100 / arcface-r50 (`gafet assets import-weights`); ACD and the identity "
                   "distance stay on dlib")
    p.add_argument("--metrics", default=None, metavar="KEY,...",
                   help="only these metrics (e.g. csim,aed,fid); a named metric whose weights are missing "
                   "gives exit code 5")
    p.add_argument("--median", action="store_true", help="tables show medians instead of means")
    p.add_argument("--baseline", metavar="E", default=None,
                   help="show this editor's value in brackets beside every other editor's (e.g. identity)")
    p.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="write every value as JSON")
    p.add_argument("--report", type=Path, metavar="DIR", help="write an HTML report into DIR")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="cache folder (default <data home>/cache/evaluate)")
    p.add_argument("--no-cache", action="store_true", help="compute everything, keep nothing")
    p.set_defaults(func=run)


def _requested(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset()
    from core.metrics import UnknownMetricError, metric

    keys = frozenset(k.strip().lower().replace("-", "_") for k in text.split(",") if k.strip())
    for key in keys:
        try:
            metric(key)
        except UnknownMetricError as err:
            raise GafetError(f"--metrics: {err.args[0]}.") from None
    return keys


def _pairs(args: argparse.Namespace, frames_dir: Path) -> list[EvalPair]:
    from core.evaluation import pairs as pairs_mod

    chosen = [args.pairs is not None, args.sources is not None or args.references is not None,
              args.video is not None]
    if sum(chosen) != 1:
        raise GafetError("Give one input: --pairs FILE.csv, or --sources DIR --references DIR, or "
                         "--video FILE --holdout START:END.")
    if args.same_pose is not None and args.sources is None:
        raise GafetError("--same-pose works with --sources and --references.")
    if args.pairs is not None:
        return pairs_mod.read_pairs_csv(args.pairs)
    if args.video is not None:
        if args.holdout is None:
            raise GafetError("--video needs --holdout START:END.")
        holdout = pairs_mod.Holdout.parse(args.holdout, step=args.frame_step)
        return pairs_mod.video_pairs(args.video, holdout, frames_dir)
    if args.sources is None or args.references is None:
        raise GafetError("--sources and --references go together.")
    return pairs_mod.folder_pairs(args.sources, args.references)


def run(args: argparse.Namespace) -> int:
    from core.evaluation.ablations import checkpoint_ablation_label
    from core.evaluation.cache import EvalCache, default_cache_dir
    from core.evaluation.editors import EvalEditor
    from core.evaluation.runner import EvalSettings

    requested = _requested(args.metrics)
    settings = EvalSettings(alpha=args.alpha, crop_size=args.crop_size, same_pose_deg=args.same_pose)
    device = None if args.device == "auto" else args.device
    names = list(args.editor) if args.editor else ([] if args.ablations else list(DEFAULT_EDITORS))
    editors = [EvalEditor.parse(n, device=device) for n in names]  # a missing checkpoint fails fast (5)
    ablations = [EvalEditor.parse(c, device=device) for c in args.ablations]
    labels = [checkpoint_ablation_label(e.spec.checkpoint) for e in ablations]  # type: ignore[union-attr]
    editors += [e for e in ablations if e not in editors]
    with tempfile.TemporaryDirectory(prefix="gafet-evaluate-") as scratch:
        cache_dir = None if args.no_cache else (args.cache or default_cache_dir())
        frames_dir = (cache_dir / "frames") if cache_dir is not None else Path(scratch)
        pairs = _pairs(args, frames_dir)
        return _evaluate(args, pairs, editors, ablations, labels, settings, requested, EvalCache(cache_dir))


def _evaluate(args: argparse.Namespace, pairs: list[EvalPair], editors: list[EvalEditor],
              ablations: list[EvalEditor], labels: list[str], settings: EvalSettings,
              requested: frozenset[str], cache: EvalCache) -> int:
    from tqdm import tqdm

    from core.evaluation.export import evaluation_json, write_json
    from core.evaluation.judges import load_judges
    from core.evaluation.report import write_report
    from core.evaluation.runner import Evaluator
    from core.evaluation.summary import summarize
    from core.evaluation.tables import format_ablations, format_tables
    from core.metrics import weights

    # An imported CSIM network is loaded only when CSIM is wanted (65 M parameters).
    judges = load_judges(args.identity_net if not requested or "csim" in requested else "dlib")
    lpips_model = inception = None
    if any(p.target is not None for p in pairs) and weights.is_imported("lpips-alexnet") \
            and (not requested or "lpips" in requested):
        from core.metrics.lpips_metric import load_lpips

        lpips_model = load_lpips(weights.weights_path("lpips-alexnet"))
    if weights.is_imported("inception-fid") and (not requested or requested & {"fid", "kid", "is"}):
        from core.metrics.inception import load_fid_inception

        inception = load_fid_inception(weights.weights_path("inception-fid"))
    evaluator = Evaluator(settings=settings, judges=judges, cache=cache, lpips_model=lpips_model)
    outcomes: list[PairOutcome] = []
    total = len(pairs) * len(editors)
    with tqdm(evaluator.run(pairs, editors), total=total, desc="evaluate", unit="edit", file=sys.stderr,
              disable=None) as bar:
        for outcome in bar:
            outcomes.append(outcome)
            if outcome.error is not None:
                bar.write(f"{outcome.pair.label} ({outcome.editor.name}): {outcome.error}", file=sys.stderr)
    summary = summarize(outcomes, editors, list(evaluator.real_views.values()), judges=judges,
                        requested=requested, inception=inception, lpips_ready=lpips_model is not None,
                        has_targets=any(p.target is not None for p in pairs))
    statistic = "median" if args.median else "mean"
    tables = format_tables(summary, statistic=statistic, requested=requested, baseline=args.baseline)
    print(tables)
    if ablations:
        rows = tuple(e for e in summary.editors if e.editor in ablations)
        row_labels = [labels[ablations.index(e.editor)] for e in rows]
        subset = dataclasses.replace(summary, editors=rows)
        print("\n" + format_ablations(subset, row_labels, requested=requested))
    if args.json_out is not None:
        print(f"JSON: {write_json(args.json_out, evaluation_json(summary, outcomes, settings))}")
    if args.report is not None:
        title = f"gafet evaluate: {len(pairs)} pairs, {len(editors)} editors, alpha {settings.alpha:g}"
        page = write_report(args.report, summary=summary, outcomes=outcomes, pair_views=evaluator.pair_views,
                            tables=tables, title=title)
        print(f"report: {page}")
    return _exit_code(summary, outcomes)


def _exit_code(summary: EvaluationSummary, outcomes: list[PairOutcome]) -> int:
    missing = summary.missing_requested_weights()
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} evaluations failed (reported above; skipped).",
              file=sys.stderr)
    if missing:
        for u in missing:
            print(f"gafet evaluate: error: {u.label}: {u.reason}", file=sys.stderr)
        return EXIT_ASSET
    if not failed:
        return 0
    codes = {getattr(o.error, "exit_code", EXIT_ERROR) for o in failed}
    return codes.pop() if len(codes) == 1 else EXIT_ERROR
