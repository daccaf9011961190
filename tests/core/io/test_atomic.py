"""core.io.atomic: whole files or none, normal permissions, no temporary files left behind, and a
writer killed with SIGKILL mid-write never leaves a partial file under the name."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from core.io.atomic import (
    FILE_MODE,
    atomic_dir,
    atomic_path,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    move_into_place,
)

ROOT = Path(__file__).resolve().parents[3]


class Boom(Exception):
    pass


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class Target(NamedTuple):
    path: Path
    old: bytes | None  # what was there before the write, or None (no file)


@pytest.fixture(params=[b"old content", None], ids=["old-file", "no-file"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    path = tmp_path / "big.bin"
    if request.param is not None:
        path.write_bytes(request.param)
    return Target(path, request.param)


def test_round_trip_bytes_text_and_file_object(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    assert atomic_write_bytes(tmp_path / "a.bin", data) == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == data
    atomic_write_text(tmp_path / "b.txt", "grüße\nzwei\n")
    assert (tmp_path / "b.txt").read_text("utf-8") == "grüße\nzwei\n"
    atomic_write_text(tmp_path / "c.obj", "v 1 2 3\n", encoding="ascii")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(tmp_path / "d.obj", "ü", encoding="ascii")
    with atomic_write(tmp_path / "e.json", "w") as fh:
        fh.write('{"a": 1}')
    assert (tmp_path / "e.json").read_text() == '{"a": 1}'
    with atomic_path(tmp_path / "f.dat") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".f.dat.") and tmp.exists()
        tmp.write_bytes(b"by name")
    assert (tmp_path / "f.dat").read_bytes() == b"by name"
    assert listing(tmp_path) == ["a.bin", "b.txt", "c.obj", "e.json", "f.dat"]  # no temporary files


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and listing(tmp_path) == ["t.bin"]


def test_overwrite_false_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "t.bin"
    atomic_write_bytes(target, b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"second", overwrite=False)
    # a name taken while the data is being written counts too
    late = tmp_path / "late.bin"
    with pytest.raises(FileExistsError), atomic_write(late, overwrite=False) as fh:
        fh.write(b"mine")
        late.write_bytes(b"theirs")
    assert target.read_bytes() == b"first" and late.read_bytes() == b"theirs"
    assert listing(tmp_path) == ["late.bin", "t.bin"]


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_new_files_get_the_normal_permissions(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.write_bytes(b"")  # what any new file gets under this process's umask
    want = stat.S_IMODE(probe.stat().st_mode)
    assert want == FILE_MODE
    atomic_write_bytes(tmp_path / "a", b"x")
    with atomic_path(tmp_path / "b") as tmp:
        tmp.write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == want
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == want


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary_file(target: Target) -> None:
    with pytest.raises(Boom), atomic_write(target.path) as fh:
        fh.write(b"half of the new")
        raise Boom
    with pytest.raises(Boom), atomic_path(target.path) as tmp:
        tmp.write_bytes(b"half")
        raise Boom
    with pytest.raises(TypeError):
        atomic_write_text(target.path, b"not text")  # type: ignore[arg-type]
    if target.old is None:
        assert listing(target.path.parent) == []
    else:
        assert target.path.read_bytes() == target.old and listing(target.path.parent) == ["big.bin"]


def test_move_into_place(tmp_path: Path) -> None:
    (tmp_path / "dl").mkdir()
    got = tmp_path / "dl" / "archive.whl"
    got.write_bytes(b"archive")
    target = tmp_path / "archive.whl"
    target.write_bytes(b"stale")
    move_into_place(got, target)
    assert target.read_bytes() == b"archive" and not got.exists()
    got.write_bytes(b"other")
    with pytest.raises(FileExistsError):
        move_into_place(got, target, overwrite=False)
    assert target.read_bytes() == b"archive" and got.exists()


def test_atomic_dir_swaps_a_whole_folder_or_nothing(tmp_path: Path) -> None:
    final = tmp_path / "asset"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("one")
    assert listing(final) == ["a.txt"]
    with atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("two")
    assert listing(final) == ["b.txt"] and listing(tmp_path) == ["asset"]
    with pytest.raises(Boom), atomic_dir(final) as tmp:
        (tmp / "c.txt").write_text("three")
        raise Boom
    assert listing(final) == ["b.txt"] and listing(tmp_path) == ["asset"]


def test_refuses_unknown_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "ab"):  # type: ignore[arg-type]
        pass
    with pytest.raises(ValueError, match="encoding"), atomic_write(tmp_path / "x", "wb", encoding="utf-8"):
        pass
    assert listing(tmp_path) == []


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from core.io.atomic import atomic_write

    chunk = b"N" * (1 << 20)
    with atomic_write(sys.argv[1]) as fh:
        for i in range(64):                 # 64 MiB in all
            fh.write(chunk)
            if i == 8:                      # part of the data is in the temporary file
                fh.flush()
                print("ready", flush=True)
                time.sleep(60)              # killed here
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_writer_leaves_the_old_file_or_none_never_a_partial_one(target: Target) -> None:
    folder = target.path.parent
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target.path)], stdout=subprocess.PIPE,
                            cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == b"ready", f"the writer did not start (exit {proc.poll()})"
        temps = [p for p in folder.iterdir() if p != target.path]
        assert len(temps) == 1 and temps[0].stat().st_size >= 9 << 20  # really mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    if target.old is None:
        assert not target.path.exists()
    else:
        assert target.path.read_bytes() == target.old
    # only the writer's hidden temporary file may stay behind, never under the final name
    assert all(p.name.startswith(".big.bin.") and p.name.endswith(".part")
               for p in folder.iterdir() if p != target.path)
