"""``gafet model init|info|presets``: create and inspect GaFET checkpoints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.nets.config import PRESETS, GafetConfig, config_from_file, config_to_dict, preset

# torch and the networks load inside the actions that need them: `gafet model --help` stays fast.


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="create and inspect GaFET checkpoints")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    i = s.add_parser("init", help="write a randomly initialised checkpoint (a training start, or for tests)")
    i.add_argument(
        "--config",
        required=True,
        metavar="NAME|FILE",
        help=f"a preset ({', '.join(PRESETS)}) or a JSON config file",
    )
    i.add_argument(
        "-o", "--output", required=True, type=Path, metavar="CKPT", help="checkpoint file to write"
    )
    i.add_argument("--seed", type=int, default=0, help="random seed for the initial weights (default 0)")
    i.add_argument("--generator-only", action="store_true", help="leave out the discriminators")
    i.add_argument("--overwrite", action="store_true", help="replace CKPT if it exists")
    i.set_defaults(func=_init)

    n = s.add_parser("info", help="print a checkpoint's config, parameter counts and FLOPs per forward")
    n.add_argument("checkpoint", type=Path, metavar="CKPT")
    n.add_argument("--no-flops", action="store_true", help="skip counting FLOPs")
    n.add_argument("--no-verify", action="store_true", help="skip checking the weights' digest")
    n.set_defaults(func=_info)

    s.add_parser("presets", help="list the named configs").set_defaults(func=_presets)


def load_config(spec: str) -> GafetConfig:
    """A preset name, or the path of a JSON config file (as written by ``config_to_json``)."""
    if spec in PRESETS:
        return preset(spec)
    path = Path(spec)
    if path.suffix.lower() == ".json" or path.exists():
        return config_from_file(path)
    return preset(spec)  # raises, listing the presets


def _init(args: argparse.Namespace) -> int:
    import torch

    from core.nets.checkpoint import (
        CheckpointExistsError,
        save_checkpoint,
    )
    from core.nets.gafet import build_networks
    from core.nets.stats import parameter_count

    config = load_config(args.config)
    torch.manual_seed(args.seed)
    nets = build_networks(config)
    try:
        extra = {"created_by": "gafet model init", "seed": args.seed, "step": 0}
        path = save_checkpoint(
            args.output,
            nets.generator if args.generator_only else nets,
            overwrite=args.overwrite,
            extra=extra,
        )
    except CheckpointExistsError:
        raise CheckpointExistsError(
            f"{args.output} already exists; pass --overwrite to replace it."
        ) from None
    saved = {"generator": nets.generator} if args.generator_only else nets.modules_by_name()
    total = sum(parameter_count(m) for m in saved.values())
    print(f"wrote {path} ({config.name}, {total:,} parameters)")
    return 0


def _flops(n: int) -> str:
    return f"{n / 1e9:,.2f} GFLOPs" if n >= 1e9 else f"{n / 1e6:,.1f} MFLOPs"


def _config_lines(cfg: GafetConfig) -> list[str]:
    """``key  value`` lines, nested sections dotted (``mfat.depth``)."""
    lines = []
    for key, value in config_to_dict(cfg).items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            name = key if sub is None else f"{key}.{sub}"
            lines.append(f"  {name:<40}{json.dumps(v)}")
    return lines


def _info(args: argparse.Namespace) -> int:
    import torch

    from core.nets.checkpoint import (
        check_structure,
        read_header,
        verify_checkpoint,
    )
    from core.nets.gafet import build_networks
    from core.nets.stats import count_flops, parameter_count, parameter_counts

    header = read_header(args.checkpoint) if args.no_verify else verify_checkpoint(args.checkpoint)
    if args.no_verify:
        check_structure(header, header.parts or ("generator",))
    cfg = header.config
    size_mb = header.path.stat().st_size / 2**20
    digest = "digests not checked" if args.no_verify else "digests ok" if header.digests else "no digests"
    print(f"checkpoint: {header.path} (format {header.format_version}, {size_mb:,.1f} MiB, {digest})")
    print(f"holds: {', '.join(header.parts)}")
    if header.extra:
        print(f"extra: {json.dumps(header.extra, sort_keys=True)}")
    print(f"\nconfig: {cfg.name}")
    print("\n".join(_config_lines(cfg)))

    with torch.device("meta"):
        nets = build_networks(cfg).modules_by_name()
    print("\nparameters:")
    for part in header.parts:
        module = nets[part]
        print(f"  {part:<34}{parameter_count(module):>14,}")
        if part == "generator":
            for child, count in parameter_counts(module).items():
                print(f"    {child:<32}{count:>14,}")
    if not args.no_flops:
        f = count_flops(cfg)
        r = cfg.resolution
        print(
            f"\nFLOPs per forward (batch 1, {r}x{r}; convolutions, matmuls and attention, "
            f"2 per multiply-add):"
        )
        print(f"  {'generator (full forward)':<34}{_flops(f.generator):>18}")
        for child, count in f.generator_by_module.items():
            print(f"    {child:<32}{_flops(count):>18}")
        print(f"  {'generator decode (slider move)':<34}{_flops(f.decode):>18}")
        print(f"  {'discriminator (one image)':<34}{_flops(f.discriminator):>18}")
        if cfg.switches.use_component_discriminator:
            print(f"  {'component D (3 patches)':<34}{_flops(f.component_discriminator):>18}")
    return 0


def _presets(args: argparse.Namespace) -> int:
    import torch

    from core.nets.gafet import build_networks
    from core.nets.stats import parameter_count

    for name, cfg in PRESETS.items():
        with torch.device("meta"):
            g = build_networks(cfg).generator
        print(
            f"{name:<12} {cfg.resolution}x{cfg.resolution}  levels {cfg.levels}  MFAT {cfg.mfat.levels}x"
            f"(depth {cfg.mfat.depth}, {cfg.mfat.heads} heads, d {cfg.mfat.dim})  "
            f"generator {parameter_count(g):,} parameters"
        )
    return 0
