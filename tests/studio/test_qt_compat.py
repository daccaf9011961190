"""The Qt binding must not leak references to None.

PySide6 6.12.0 on CPython 3.11 drops one reference to ``None`` on every call of a void Qt method;
after a few thousand calls (a minute of slider use) the interpreter aborts with "none_dealloc".
constraints.txt pins 6.11.3 and pyproject.toml excludes 6.12.0; this test catches a regression.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject


def test_void_calls_keep_none_alive(qapp) -> None:
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(200):
        obj.setObjectName("probe")
        qapp.processEvents()
    assert before - sys.getrefcount(None) < 20, "the Qt binding leaks references to None (PySide6 6.12.0?)"
