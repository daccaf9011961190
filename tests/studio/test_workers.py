"""Workers: results, errors, progress, and latest-wins coalescing."""

from __future__ import annotations

import threading

from gafet_studio.workers import FunctionWorker, LatestWins, aux_pool


def test_function_worker_returns_off_the_gui_thread(qtbot) -> None:
    main = threading.get_ident()
    w = FunctionWorker(lambda: threading.get_ident())
    with qtbot.waitSignal(w.signals.returned, timeout=10_000) as blocker:
        w.start(aux_pool())
    assert blocker.args[0] != main


def test_function_worker_reports_errors_and_progress(qtbot) -> None:
    def job(progress):
        progress(1)
        progress(2)
        raise ValueError("boom")

    w = FunctionWorker(job)
    seen = []
    w.signals.progress.connect(seen.append)
    with qtbot.waitSignal(w.signals.errored, timeout=10_000) as blocker:
        w.start(aux_pool())
    assert isinstance(blocker.args[0], ValueError)
    qtbot.waitUntil(lambda: seen == [1, 2])


def test_latest_wins_runs_only_the_newest_pending_request(qtbot) -> None:
    gate = threading.Event()
    ran = []

    def job(i):
        if i == 0:
            gate.wait(10)
        ran.append(i)
        return i

    runner = LatestWins(aux_pool)
    results = []
    runner.returned.connect(lambda gen, value: results.append((gen, value)))
    for i in range(6):
        runner.request(job, i)
    assert runner.busy()
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy(), timeout=10_000)
    assert ran == [0, 5]  # 1..4 were coalesced away
    assert runner.coalesced == 4
    assert results[-1] == (runner.latest(), 5)
