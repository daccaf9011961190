"""A seeded mutation fuzz of the photo loader: 2,000 damaged JPEG / PNG / TIFF / WebP / BMP / GIF
files (``tools/fuzz_loader.py``, which also runs 100,000 cases or atheris) through ``load_photo``.
Every outcome must be a photo or a :class:`core.io.errors.PhotoIOError` naming the file; no other
exception and no warning may escape."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

_TOOL = Path(__file__).resolve().parents[3] / "tools" / "fuzz_loader.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("fuzz_loader", _TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


fuzz = _load_tool()


def test_seeds_load(tmp_path: Path) -> None:
    """Every unmutated seed is a valid photo except the GIF (an unsupported format)."""
    for name, data in fuzz.make_seeds(0).items():
        outcome, detail = fuzz.load_once(data, tmp_path / "seed.img")
        assert outcome == ("UnsupportedFormatError" if name == "gif" else "ok"), (name, detail)


def test_mutations_are_seeded_and_change_the_file() -> None:
    data = fuzz.make_seeds(0)["png"]
    first = [fuzz.mutate(data, np.random.default_rng(5)) for _ in range(3)]
    assert first == [fuzz.mutate(data, np.random.default_rng(5)) for _ in range(3)]
    rng = np.random.default_rng(1)
    assert sum(fuzz.mutate(data, rng) != data for _ in range(50)) >= 45


def test_2000_mutated_files_give_only_project_errors(tmp_path: Path) -> None:
    counts = fuzz.run(2000, seed=0, folder=tmp_path)
    assert counts.outcomes.total() == 2000
    assert counts.outcomes["unexpected"] == 0, counts.unexpected
    # the run exercises both sides: many files still load, many are refused for several reasons
    assert counts.outcomes["ok"] >= 200 and counts.outcomes["CorruptImageError"] >= 200
    assert len([k for k in counts.outcomes if k.endswith("Error")]) >= 4, counts.outcomes


def test_every_refusal_names_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    seeds = fuzz.make_seeds(0)
    path = tmp_path / "named_case.jpg"
    refused = 0
    for i in range(200):
        outcome, detail = fuzz.load_once(fuzz.mutate(seeds[sorted(seeds)[i % len(seeds)]], rng), path)
        if outcome != "ok":
            refused += 1
            assert "named_case.jpg" in detail, detail
    assert refused >= 50
