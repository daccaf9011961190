"""Entry point of the ``gafet`` command line.

Each sub-command is a module in this package exposing ``register(subparsers)``, which adds its
parser (named as in :data:`COMMANDS`; the one-line help shown is the table's) and sets
``func(args) -> int`` as the default. Adding a command is one line in :data:`COMMANDS`.

Only the module of the command being run is imported: ``gafet --help`` and an argument error
never import torch, OpenCV or a network (see benchmarks/bench_cli.py). A command module keeps
its top level light and imports its heavy dependencies inside ``run``, after its inputs are
validated.

User-facing errors (``GafetError``) are printed as one line and mapped to an exit code; anything
else is a bug and shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from core.errors import EXIT_ERROR, GafetError

# One line per sub-command, in the order `gafet --help` lists them:
# (command name, module in gafet_studio.cli, the one-line help `gafet --help` shows).
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("assets", "assets_cmd", "list, fetch, verify, locate or import pretrained assets"),
    ("analyze", "analyze_cmd", "find faces: a summary per face (boxes, scores, fitted AUs and pose)"),
    ("geometry", "geometry_cmd", "fit, combine and render the 3D geometry of an expression transfer"),
    ("model", "model_cmd", "create and inspect GaFET checkpoints"),
    ("edit", "edit_cmd", "transfer a reference photo's or a preset's expression onto a portrait"),
    ("batch", "batch_cmd", "apply one reference's or preset's expression to a folder of portraits"),
    ("drive", "drive_cmd", "drive a portrait with the expressions of a face in a video"),
    ("evaluate", "evaluate_cmd", "score editors with the paper's metrics and independent judges"),
    ("prepare", "prepare_cmd",
     "detect, align, fit and neutralise faces of photos and videos into a training cache"),
    ("train", "train_cmd",
     "train GaFET on a face cache; its checkpoints open in the Studio and in gafet edit --model"),
    ("deexpress", "deexpress_cmd", "train and apply the De-expression model (a face -> its neutral face)"),
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``gafet`` parser. command: the one sub-command whose module is imported and registered
    in full (the others get a placeholder that only lists them); None: every sub-command."""
    parser = argparse.ArgumentParser(prog="gafet", description="GaFET Studio command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, summary in COMMANDS:
        if command is None or command == name:
            importlib.import_module(f"gafet_studio.cli.{module}").register(_Commands(sub, summary))
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


class _Commands:
    """What a module's ``register`` receives: the sub-parsers, whose ``add_parser`` gives the
    command the one-line help of :data:`COMMANDS` (its one home), whatever ``help`` it passes."""

    def __init__(self, sub: argparse._SubParsersAction, summary: str) -> None:
        self._sub, self._summary = sub, summary

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        kwargs["help"] = self._summary
        return self._sub.add_parser(name, **kwargs)  # type: ignore[arg-type]


def _command_of(argv: list[str]) -> str:
    """The sub-command named in ``argv`` (the first word not an option), or "" when none is."""
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
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
