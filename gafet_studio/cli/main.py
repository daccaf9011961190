"""Entry point of the ``gafet`` command line.

Each sub-command is a module in this package exposing ``register(subparsers)``, which adds its
parser and sets ``func(args) -> int`` as the default. User-facing errors (``GafetError``) are
printed as one line and mapped to an exit code; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from core.errors import EXIT_ERROR, GafetError

# Sub-command modules, in the order `gafet --help` lists them.
COMMANDS = (
    "assets_cmd",
    "analyze_cmd",
    "geometry_cmd",
    "model_cmd",
    "edit_cmd",
    "batch_cmd",
    "evaluate_cmd",
    "prepare_cmd",
    "train_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gafet", description="GaFET Studio command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"gafet_studio.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GafetError as err:
        print(f"gafet {args.command}: error: {err}", file=sys.stderr)
        return int(getattr(err, "exit_code", EXIT_ERROR))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` or similar: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
