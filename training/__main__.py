"""``python -m training ...`` is ``gafet train ...`` (torchrun starts it: ``-m training``)."""

import sys

from training.cli import main

if __name__ == "__main__":
    sys.exit(main())
