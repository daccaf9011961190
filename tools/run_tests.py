"""Run the test suite: everything offscreen, then (when Xvfb is present) the OpenGL tests under it.

pytest's exit code 5 ("no tests collected") counts as a failure here, so CI can never pass on an
empty run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def run(cmd: list[str], env: dict[str, str]) -> int:
    print("+", " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, env=env)
    return 1 if rc == 5 else rc


def main() -> int:
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    pytest = [sys.executable, "-m", "pytest", *sys.argv[1:]]
    rc = run([*pytest, "-m", "not gl", "-p", "no:cacheprovider"], {**env, "QT_QPA_PLATFORM": "offscreen"})
    if rc != 0:
        return rc
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        print("xvfb-run not found: OpenGL tests not run (they need Xvfb and Mesa; see tools/ensure_gl.sh)")
        return 0
    if not _has_gl_tests(env):
        return 0
    return run(
        [xvfb, "-a", "-s", "-screen 0 1280x1024x24", *pytest, "-m", "gl", "-p", "no:cacheprovider"],
        {**env, "QT_QPA_PLATFORM": "xcb", "GAFET_GL_TESTS": "1"},
    )


def _has_gl_tests(env: dict[str, str]) -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "gl", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env={**env, "QT_QPA_PLATFORM": "offscreen"},
    )
    return out.returncode == 0


if __name__ == "__main__":
    sys.exit(main())
