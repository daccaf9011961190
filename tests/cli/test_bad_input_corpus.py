"""The bad-input corpus (``tools/make_bad_inputs.py``) through ``analyze``, ``edit -s``, ``edit -r``
and ``batch``: an exact exit code, no traceback or warning printed, and a message naming the
problem (and the file) for every case.

The command line runs in this process (``gafet_studio.cli.main.main``), so the face networks load
once for the whole file; edits render a 256 px crop. The same runner prints the corpus table:
``tools/make_bad_inputs.py OUT_DIR --table``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from core.errors import EXIT_NO_FACE, EXIT_UNREADABLE

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_bad_inputs.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_bad_inputs", _TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


corpus_tool = _load_tool()
CASES = {case.name: case for case in corpus_tool.CASES}

def _params() -> list:
    out = []
    for name, case in CASES.items():
        marks = []
        if case.skip:
            marks.append(pytest.mark.skip(reason=case.skip))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, media, app_assets) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    corpus_tool.build_corpus(folder, corpus_tool.Sources.from_folder(media.path("happy.jpg").parent))
    yield folder
    corpus_tool.cleanup(folder)


def test_corpus_is_broad() -> None:
    cases = list(CASES.values())
    assert len(cases) >= 60 and len(CASES) == len(cases), "names are unique"
    refused = [c for c in cases if c.code == EXIT_UNREADABLE]
    working = [c for c in cases if c.code == 0]
    assert len(refused) >= 45 and len(working) >= 15 and any(c.code == EXIT_NO_FACE for c in cases)
    for stem in ("jpeg_", "png_", "tiff_", "webp_", "bmp_", "gif_", "header_bomb", "fifo", "loop", "empty"):
        assert any(stem in c.name for c in cases), stem
    assert all(c.message for c in refused), "every refusal names what is wrong"


@pytest.mark.parametrize("name", _params())
def test_case(name: str, corpus: Path, media, tmp_path: Path) -> None:
    case = CASES[name]
    results = corpus_tool.run_case(case, corpus, media.path("happy.jpg"), tmp_path)
    assert set(results) == set(corpus_tool.COMMANDS)
    problems = corpus_tool.problems(case, results)
    assert not problems, "\n".join(problems)
    if case.code == 0:  # it works: every edit wrote its output
        assert len(list(tmp_path.glob("*.png"))) == 2
        assert len(list(tmp_path.glob("*_out/*"))) == 1
    else:
        assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*_out/*")), "nothing written"
