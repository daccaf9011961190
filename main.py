"""GaFET Studio entry point.

    python main.py                 open the Studio window
    python main.py COMMAND ...     run the command line (same as `gafet COMMAND ...`)
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        from gafet_studio.cli.main import main as cli_main

        return cli_main(args)
    from gafet_studio.app import main as studio_main

    return studio_main([])


if __name__ == "__main__":
    sys.exit(main())
