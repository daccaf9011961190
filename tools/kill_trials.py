"""Kill -9 trials, many of them: print the counts of old / new / partial results and of debris.

A child process repeats a write (an atomic image export; a batch of four exports; an asset fetch
from a local fake wheel; a GaFET checkpoint) and is killed with SIGKILL at a random moment. The
file (or asset) under the final name must then be the old one or the new one, never a partial
one; the same write is run once more, after which no temporary may remain. The harness is
``tests/reliability/kill_harness.py`` (the test suite runs a few of these trials).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/kill_trials.py [--trials 20] [--only fetch]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability import kill_harness


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per scenario (default 20)")
    parser.add_argument("--only", choices=kill_harness.SCENARIOS, action="append",
                        help="run only this scenario (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    failed = False
    print(f"kill -9 trials ({args.trials} per scenario; batch counts each of its "
          f"{kill_harness.BATCH_FILES} outputs)")
    for scenario in args.only or kill_harness.SCENARIOS:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="gafet-kill-") as tmp:
            counts = kill_harness.run(scenario, args.trials, Path(tmp), seed=args.seed)
        print(f"{counts.row(scenario)}  ({time.perf_counter() - start:.0f} s)", flush=True)
        for note in counts.notes[:5]:
            print(f"    {note}")
        failed |= bool(counts.partial or counts.debris)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
