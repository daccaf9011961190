"""Every reader of a user-supplied JSON file refuses deep JSON, non-UTF-8, oversized and
non-regular files with its own project error naming the file (no traceback, no hang on a FIFO):
the helper :mod:`core.io.json_file` and each reader that uses it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import GafetError
from core.io.json_file import parse_json, read_json_file


class _Err(GafetError):
    pass


BAD = {  # name -> (content, a phrase of the expected message)
    "deep.json": (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),  # 40 KB: under every cap
    "deep-object.json": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    "latin1.json": ('{"name": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
    "binary.json": (bytes(range(256)), "not UTF-8"),
    "broken.json": (b'{"alpha": ', "not valid JSON"),
    "empty.json": (b"", "not valid JSON"),
    "huge-number.json": (b"1" * 50_000, "not a valid"),
    "huge.json": (b" " * (2 << 20), "more than a"),
}
SPECIAL = ["fifo", "folder", "missing"] + (["dev-zero-link"] if os.path.exists("/dev/zero") else [])


def _make(tmp_path: Path, name: str) -> tuple[Path, str]:
    """A bad JSON file (or special path) named ``name`` and the phrase its error must contain."""
    path = tmp_path / name
    if name in BAD:
        path.write_bytes(BAD[name][0])
        return path, BAD[name][1]
    if name == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("named pipes are POSIX")
        os.mkfifo(path)
        return path, "not a regular file"
    if name == "folder":
        path.mkdir()
        return path, "not a regular file"
    if name == "dev-zero-link":
        path.symlink_to("/dev/zero")
        return path, "not a regular file"
    return path, "does not exist"


CASES = list(BAD) + SPECIAL


@pytest.mark.parametrize("name", CASES)
def test_read_json_file_refuses_with_the_callers_error(name: str, tmp_path: Path) -> None:
    path, phrase = _make(tmp_path, name)
    with pytest.raises(_Err) as err:
        read_json_file(path, error=_Err, label="Settings file", noun="settings file")
    assert phrase in str(err.value) and str(path) in str(err.value)


def test_read_json_file_reads_a_good_file(tmp_path: Path) -> None:
    f = tmp_path / "ok.json"
    f.write_text(json.dumps({"a": [1, 2.5, "é"]}), encoding="utf-8")
    assert read_json_file(f, error=_Err) == {"a": [1, 2.5, "é"]}
    with pytest.raises(_Err, match="duplicate"):
        read_json_file(f, error=_Err, object_pairs_hook=lambda pairs: (_ for _ in ()).throw(
            ValueError("duplicate key")))
    assert parse_json('{"x": 1}', source="text", error=_Err) == {"x": 1}
    with pytest.raises(_Err, match="more than a"):
        parse_json("[1]" * 100, source="text", error=_Err, max_bytes=10)


# ---------------------------------------------------------------------------------------------
# The readers


def _edit_params(path: Path) -> object:
    from core.editing.params import EditParams

    return EditParams.from_file(path)


def _calibration(path: Path) -> object:
    from core.geometry.au.calibration import load_au_calibration

    load_au_calibration.cache_clear()
    return load_au_calibration(str(path))


def _nets_config(path: Path) -> object:
    from core.nets.config import config_from_file

    return config_from_file(path)


def _training_config(path: Path) -> object:
    from training.cli import _base_config

    return _base_config(str(path))


def _weights_record(path: Path) -> object:
    """The import record of user-hashed weights, replaced by the bad file."""
    from core.metrics import weights

    home = path.parent / "home"
    record = weights.record_path("curricularface", home)
    record.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path):
        os.replace(path, record)
    return weights.expected_sha256("curricularface", home), record


READERS: dict[str, Callable[[Path], object]] = {
    "edit-params": _edit_params, "au-calibration": _calibration, "nets-config": _nets_config,
    "training-config": _training_config, "weights-record": _weights_record,
}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("name", ["deep.json", "latin1.json", "huge.json", "fifo", "broken.json"])
def test_each_reader_refuses_bad_files(reader: str, name: str, tmp_path: Path) -> None:
    path, phrase = _make(tmp_path, name)
    shown = path
    if reader == "weights-record":
        from core.metrics import weights

        shown = weights.record_path("curricularface", tmp_path / "home")
    with pytest.raises(GafetError) as err:
        READERS[reader](path)
    msg = str(err.value)
    assert phrase in msg and str(shown) in msg, msg
    assert err.value.exit_code != 0


def test_edit_params_from_json_refuses_bad_text() -> None:
    from core.editing.params import EditParams, InvalidEditParamsError

    for text, phrase in [("[" * 20_000, "nested too deeply"), (b"\xff{}", "not UTF-8"),
                         ("[1, 2]", "JSON object"), ('{"regions": [1, 2]}', "'regions' must be"),
                         (" " * (1 << 17), "more than a")]:
        with pytest.raises(InvalidEditParamsError, match=phrase):
            EditParams.from_json(text)
    p = EditParams(alpha=0.5)
    assert EditParams.from_json(p.to_json().encode()) == p


def test_training_log_with_bad_lines_is_cleaned_not_a_traceback(tmp_path: Path) -> None:
    from training.reporting import _truncate_jsonl

    log = tmp_path / "metrics.jsonl"
    good = [json.dumps({"step": s, "g/total": 1.0}) for s in (1, 2, 3)]
    log.write_bytes(b"\n".join([good[0].encode(), b"\xff\xfe garbage", b"[" * 100_000, good[1].encode(),
                                b"x" * (3 << 20), good[2].encode(), b'{"step": 9, "half']) + b"\n")
    _truncate_jsonl(log, last_step=2)
    assert log.read_text(encoding="utf-8").splitlines() == good[:2]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_training_log_that_is_a_fifo_is_a_project_error(tmp_path: Path) -> None:
    from training.reporting import RunLogError, _truncate_jsonl

    os.mkfifo(tmp_path / "metrics.jsonl")
    with pytest.raises(RunLogError, match="not a regular file") as err:
        _truncate_jsonl(tmp_path / "metrics.jsonl", last_step=0)
    assert str(tmp_path / "metrics.jsonl") in str(err.value)


def test_deep_json_needs_no_deep_stack() -> None:
    """The refusal does not depend on the interpreter's recursion limit being left at its default."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)
    try:
        with pytest.raises(_Err, match="nested too deeply"):
            parse_json("[" * 10_000 + "]" * 10_000, source="x", error=_Err)
    finally:
        sys.setrecursionlimit(old)
