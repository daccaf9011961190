"""kill -9 at random moments of export, batch, fetch and checkpoint writes: afterwards the old file
(or asset) or the new one, never a partial one, and no temporary left after the next run.

A few trials per kind (``tools/kill_trials.py`` runs many and prints the counts).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.reliability import kill_harness

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

TRIALS = {"export": 2, "batch": 1, "fetch": 3, "checkpoint": 1}


@pytest.mark.parametrize("scenario", list(TRIALS))
def test_kill_at_random_moments(scenario: str, tmp_path: Path) -> None:
    counts = kill_harness.run(scenario, TRIALS[scenario], tmp_path, seed=1)
    per_trial = kill_harness.BATCH_FILES if scenario == "batch" else 1
    assert counts.trials == TRIALS[scenario]
    assert counts.partial == 0, counts.notes
    assert counts.old + counts.new == counts.trials * per_trial
    assert counts.debris == 0, "temporaries left after the next run"
