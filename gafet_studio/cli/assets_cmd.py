"""``gafet assets list|fetch|verify|path|import|import-flame|import-weights``: manage pretrained parts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import assets
from core.errors import EXIT_ASSET


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assets", help="list, fetch, verify, locate or import pretrained assets")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    s.add_parser("list", help="list assets, their state and licences").set_defaults(func=_list)

    f = s.add_parser("fetch", help="download and install assets (default: those the app needs)")
    f.add_argument("ids", nargs="*", help="asset ids (default: every asset of --group)")
    f.add_argument("--group", default="app", choices=("app", "test", "all"))
    f.add_argument("--force", action="store_true", help="re-extract even if installed")
    f.set_defaults(func=_fetch)

    v = s.add_parser("verify", help="re-hash installed files against the manifest")
    v.add_argument("ids", nargs="*")
    v.set_defaults(func=_verify)

    pa = s.add_parser("path", help="print the folder of an asset, or the path of one of its files")
    pa.add_argument("id")
    pa.add_argument("member", nargs="?")
    pa.set_defaults(func=_path)

    i = s.add_parser("import", help="install assets from an archive downloaded by hand")
    i.add_argument("file", type=Path)
    i.set_defaults(func=_import)

    fl = s.add_parser(
        "import-flame", help="import your licensed FLAME 2020/2023 model (and landmark embedding)"
    )
    fl.add_argument("file", type=Path, help="generic_model.pkl, male/female_model.pkl or flame2023.pkl")
    fl.add_argument(
        "--embedding",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="landmark embedding (DECA landmark_embedding.npy, TF_FLAME "
        "flame_static_embedding.pkl / flame_dynamic_embedding.npy); repeat to merge",
    )
    fl.add_argument(
        "--accept-licence",
        action="store_true",
        help="accept FLAME's non-commercial research licence without a prompt",
    )
    fl.set_defaults(func=_import_flame)

    iw = s.add_parser(
        "import-weights",
        help="import metric weights you downloaded (SHA-256 checked): inception-fid (FID/KID/IS), "
        "lpips-alexnet (LPIPS), vgg16 / vgg19 (training's LPIPS and contextual losses), "
        "curricularface / arcface-r100 / arcface-r50 (CSIM; need --sha256)",
        description="Import weights a metric or training needs. inception-fid, lpips-alexnet, vgg16 "
        "(vgg16-397923af.pth) and vgg19 (vgg19-dcbb9e9d.pth; both from download.pytorch.org/models/) "
        "are pinned by their SHA-256. The face-recognition networks for CSIM (curricularface: "
        "CurricularFace IR-101; arcface-r100 / arcface-r50: insightface arcface_torch backbone.pth) "
        "have no official hash known to GaFET: give the one that came with your download (--sha256); "
        "the file is checked against it and against the network's layout, and the hash is recorded so "
        "later loads detect any change. Once imported, `gafet evaluate` computes CSIM with that network "
        "(see its --identity-net).",
    )
    iw.add_argument("name", help="inception-fid, lpips-alexnet, vgg16, vgg19, curricularface, arcface-r100 "
                    "or arcface-r50")
    iw.add_argument("file", type=Path)
    iw.add_argument("--sha256", metavar="HEX", default=None,
                    help="the file's SHA-256 (64 hex digits); required for curricularface and arcface-*")
    iw.set_defaults(func=_import_weights)


def _ids(args: argparse.Namespace, group: str = "all") -> list[str]:
    manifest = assets.load_manifest()
    return list(args.ids) or [a.id for a in manifest.group(group)]


def _list(args: argparse.Namespace) -> int:
    manifest = assets.load_manifest()
    print(f"data folder: {assets.data_home()}")
    for a in manifest.assets.values():
        state = "installed" if assets.is_installed(a.id) else "missing"
        print(
            f"\n{a.id}  [{state}, group {a.group}]\n  {a.description}\n"
            f"  from {a.archive.filename}\n  licence: {a.licence}"
        )
        for m in a.members:
            print(f"    {m.name}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    def show(p: assets.FetchProgress) -> None:
        print(f"[{p.step}/{p.total}] {p.message}", file=sys.stderr)

    for folder in assets.fetch(_ids(args, args.group), progress=show, force=args.force):
        print(folder)
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Exit 0 only when every asset checked is installed and whole: the named ones, or (no ids) every
    app asset and whichever test assets are installed. Exit 5 (EXIT_ASSET) otherwise, and when nothing
    is installed at all."""
    manifest = assets.load_manifest()
    named = bool(args.ids)
    bad = installed = 0
    for aid in _ids(args):
        r = assets.verify(aid)
        installed += r.installed
        required = named or manifest.asset(aid).group == "app"
        if r.installed or required:
            print(f"{aid}: {'ok' if r.ok else '; '.join(r.problems)}")
        else:
            print(f"{aid}: not installed (only the test suite needs it)")
        bad += (not r.ok) if required else (r.installed and not r.ok)
    if not installed:
        print(f"gafet assets verify: error: no asset is installed in {assets.data_home()}; "
              f"run `gafet assets fetch`.", file=sys.stderr)
        return EXIT_ASSET
    if bad:
        print(f"gafet assets verify: error: {bad} asset(s) missing or damaged; reinstall with "
              f"`gafet assets fetch --force ID`.", file=sys.stderr)
        return EXIT_ASSET
    return 0


def _path(args: argparse.Namespace) -> int:
    if args.member:
        print(assets.asset_path(args.id, args.member))
    else:
        assets.load_manifest().asset(args.id)
        print(assets.asset_dir(args.id))
    return 0


def _import(args: argparse.Namespace) -> int:
    for aid in assets.import_archive(args.file):
        print(f"installed {aid} -> {assets.asset_dir(aid)}")
    return 0


def _import_flame(args: argparse.Namespace) -> int:
    from core.geometry.flame import importer as flame_import

    print(flame_import.FLAME_LICENCE_NOTICE, file=sys.stderr)
    accepted = args.accept_licence
    if not accepted and sys.stdin.isatty():
        answer = input("Do you accept the FLAME licence? Type 'yes' to continue: ")
        accepted = answer.strip().lower() in ("yes", "y")
    r = flame_import.import_flame(args.file, embeddings=tuple(args.embedding), accept_licence=accepted)
    print(f"imported FLAME -> {r.model_path} (source SHA-256 {r.source_sha256})")
    if r.embedding_path:
        print(f"landmark embedding -> {r.embedding_path}")
    return 0


def _import_weights(args: argparse.Namespace) -> int:
    from core.metrics import weights

    dest = weights.import_weights(args.name, args.file, sha256=args.sha256)
    print(f"imported {args.name} -> {dest}")
    w = weights.weights_file(args.name)
    if not w.pinned:
        print(f"SHA-256 {weights.expected_sha256(args.name)} recorded in {weights.record_path(args.name)}; "
              f"`gafet evaluate` now reports CSIM with this network.")
    return 0
