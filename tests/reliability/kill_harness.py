"""Kill -9 trials: a child process repeats a write (export, batch, fetch, checkpoint) and is killed
with SIGKILL at a random moment; then the result is classified and the same write is run once
more (the "next run", in this process), after which no temporary file or folder may remain.

Used by ``tests/reliability/test_kills.py`` (a few trials) and ``tools/kill_trials.py`` (many,
printing the counts). No network: fetch uses a local fake wheel under a private data home.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ("export", "batch", "fetch", "checkpoint")
BATCH_FILES = 4
# The kill comes at a uniformly random moment within WINDOW_CYCLES repeats of the child's write
# (each child times one write before it reports ready), so it lands at a random phase of the write
# however busy the machine is; MAX_DELAY_S caps the wait.
WINDOW_CYCLES = 2.0
MAX_DELAY_S = {"export": 2.0, "batch": 4.0, "fetch": 0.6, "checkpoint": 0.5}


@dataclass
class Counts:
    """Outcomes of the trials of one scenario."""

    trials: int = 0
    old: int = 0  # the previous file (folder) was under the name after the kill
    new: int = 0  # the new one was
    partial: int = 0  # anything else: a partial or missing file, a broken asset
    mid_write: int = 0  # trials whose kill left a temporary behind (it hit a write)
    debris: int = 0  # temporaries still there after the next run
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> str:
        return (f"{name:<11} trials {self.trials:>4}  old {self.old:>4}  new {self.new:>4}  "
                f"partial {self.partial:>3}  killed mid-write {self.mid_write:>4}  debris after next run "
                f"{self.debris:>3}")


def _temporaries(folder: Path) -> list[Path]:
    """Hidden scratch entries of the project's writers (``.<name>.<pid>-<random>.part`` and older forms)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.name.startswith(".") and (
        p.name.endswith(".part") or p.name.startswith(".download-"))]


# ---------------------------------------------------------------------------------------------
# Child programs: set up, print "ready", then repeat the write until killed.

_CHILD_PRELUDE = """
import json, os, sys, time
os.environ.setdefault("OMP_NUM_THREADS", "1")
args = json.loads(sys.argv[1])
"""

_CHILD = {
    "export": """
import numpy as np
from core.io.save import save_image
img = np.load(args["new"])
start = time.perf_counter()
save_image(args["new_ref"], img, overwrite=True)  # the exact bytes this process writes
print("ready", time.perf_counter() - start, flush=True)
while True:
    save_image(args["target"], img, overwrite=True)
""",
    "batch": """
import numpy as np
from core.io.save import save_image
img = np.load(args["new"])
start = time.perf_counter()
save_image(args["new_ref"], img, overwrite=True)  # the exact bytes this process writes
print("ready", (time.perf_counter() - start) * len(args["targets"]), flush=True)
while True:
    for target in args["targets"]:
        save_image(target, img, overwrite=True)
""",
    "fetch": """
from pathlib import Path
from core import assets
manifest = assets.parse_manifest(Path(args["manifest"]).read_text())
assets.load_manifest = lambda: manifest
print("ready", "nan", flush=True)  # a fetch is not timed first: the fixed window spans a few fetches
while True:
    assets.fetch(["tiny"], force=True)
""",
    "checkpoint": """
import torch
torch.set_num_threads(1)
from core.nets.checkpoint import save_checkpoint
from core.nets.config import preset
from core.nets.gafet import build_networks
torch.manual_seed(1)
nets = build_networks(preset("tiny-64"))
start = time.perf_counter()
save_checkpoint(args["new"], nets, overwrite=True, extra={"seed": 1})
print("ready", time.perf_counter() - start, flush=True)
while True:
    save_checkpoint(args["target"], nets, overwrite=True, extra={"seed": 1})
""",
}


def _run_child(kind: str, args: dict[str, object], env: dict[str, str], rng: random.Random) -> None:
    code = _CHILD_PRELUDE + _CHILD[kind]
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if line[:1] != ["ready"]:
            raise RuntimeError(f"{kind} child failed to start: {proc.stderr.read() if proc.stderr else ''}")
        cycle_s = float(line[1])
        window = MAX_DELAY_S[kind] if cycle_s != cycle_s else min(MAX_DELAY_S[kind], WINDOW_CYCLES * cycle_s)
        time.sleep(rng.uniform(0.0, window))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, GAFET_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# ---------------------------------------------------------------------------------------------
# Scenarios


def _images(root: Path, rng: random.Random) -> tuple[Path, bytes, bytes]:
    """Two 768x768 noise images as PNG bytes (old, new), and the new one's pixels as .npy; made
    once per :func:`run` (in ``root``'s parent) and shared by its trials."""
    import numpy as np

    from core.io.save import save_image

    root = root.parent / "images"
    if (root / "new.npy").is_file():
        return root / "new.npy", (root / "old.png").read_bytes(), (root / "new.png").read_bytes()
    root.mkdir()
    gen = np.random.default_rng(rng.randrange(1 << 30))
    out = []
    for name in ("old", "new"):
        img = gen.integers(0, 256, (768, 768, 3), dtype=np.uint8)
        np.save(root / f"{name}.npy", img)
        out.append(save_image(root / f"{name}.png", img, overwrite=True).read_bytes())
    return root / "new.npy", out[0], out[1]


def _classify(data: bytes | None, old: bytes, new: bytes, counts: Counts, what: str) -> None:
    if data == old:
        counts.old += 1
    elif data == new:
        counts.new += 1
    else:
        counts.partial += 1
        counts.notes.append(f"{what}: {'missing' if data is None else f'{len(data)} bytes, neither'}")


def trial_export(root: Path, rng: random.Random, counts: Counts, *, batch: bool = False) -> None:
    from core.io.save import save_image

    new_npy, old, _ = _images(root, rng)
    out = root / "out"
    out.mkdir()
    targets = [out / f"photo_{i}.png" for i in range(BATCH_FILES if batch else 1)]
    for t in targets:
        t.write_bytes(old)
    args = {"new": str(new_npy), "targets": [str(t) for t in targets], "target": str(targets[0]),
            "new_ref": str(root / "new_ref.png")}
    _run_child("batch" if batch else "export", args, _env(root / "home"), rng)
    new = (root / "new_ref.png").read_bytes()
    counts.trials += 1
    counts.mid_write += bool(_temporaries(out))
    for t in targets:
        _classify(t.read_bytes() if t.exists() else None, old, new, counts, t.name)
    import numpy as np

    img = np.load(new_npy)
    for t in targets:  # the next run of the same command
        save_image(t, img, overwrite=True)
    counts.debris += len(_temporaries(out))


def _fake_wheel(root: Path, rng: random.Random) -> Path:
    """A wheel of three 3 MB members and its manifest (written to root/manifest.toml)."""
    home = root / "home"
    (home / "archives").mkdir(parents=True)
    wheel = home / "archives" / "tiny-1.0-py3-none-any.whl"
    members = []
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(3):
            data = rng.randbytes(3 << 20)
            zf.writestr(f"tiny/part{i}.bin", data)
            members.append(f'"part{i}.bin" = {{ path = "tiny/part{i}.bin", '
                           f'sha256 = "{hashlib.sha256(data).hexdigest()}" }}')
    manifest = root / "manifest.toml"
    manifest.write_text(f"""
[archives."tiny-1.0"]
package = "tiny"
version = "1.0"
filename = "{wheel.name}"
sha256 = "{hashlib.sha256(wheel.read_bytes()).hexdigest()}"

[assets.tiny]
description = "kill-test asset"
archive = "tiny-1.0"
group = "test"
licence = "test"
[assets.tiny.members]
""" + "\n".join(members) + "\n")
    return manifest


def trial_fetch(root: Path, rng: random.Random, counts: Counts) -> None:
    from core import assets

    manifest_file = _fake_wheel(root, rng)
    manifest = assets.parse_manifest(manifest_file.read_text())
    home = root / "home"
    real = assets.load_manifest
    assets.load_manifest = lambda: manifest  # type: ignore[assignment]
    try:
        (folder,) = assets.fetch(["tiny"], home=home)
        before = folder.stat().st_ino
        _run_child("fetch", {"manifest": str(manifest_file)}, _env(home), rng)
        counts.trials += 1
        counts.mid_write += bool(_temporaries(home / "assets") or _temporaries(home / "archives"))
        # what a user of the asset sees right after the kill (asset_path repairs a cut swap)
        try:
            ok = assets.verify("tiny", home).ok and assets.asset_path("tiny", "part0.bin", home).is_file()
        except assets.AssetError:
            ok = False
        if not ok:
            counts.partial += 1
            counts.notes.append("fetch: asset not usable after the kill")
        elif folder.stat().st_ino == before:
            counts.old += 1
        else:
            counts.new += 1
        assets.fetch(["tiny"], home=home, force=True)  # the next run of the same command
        counts.debris += len(_temporaries(home / "assets")) + len(_temporaries(home / "archives"))
        counts.debris += len(_temporaries(folder))
    finally:
        assets.load_manifest = real  # type: ignore[assignment]


def trial_checkpoint(root: Path, rng: random.Random, counts: Counts) -> None:
    """This process writes the old checkpoint (seed 0) and a reference copy of it; the child writes
    a reference copy of the new one (seed 1) before it starts overwriting the old one with it."""
    import torch

    from core.io.atomic import atomic_write_bytes
    from core.nets.checkpoint import CheckpointError, read_header, save_checkpoint, verify_checkpoint
    from core.nets.config import preset
    from core.nets.gafet import build_networks

    target = root / "ckpt" / "model.safetensors"
    target.parent.mkdir()
    refs = {"old": root / "old.safetensors", "new": root / "new.safetensors"}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        old = build_networks(preset("tiny-64"))
    save_checkpoint(refs["old"], old, overwrite=True, extra={"seed": 0})
    # a plain copy: an atomic write here would count as this process's sweep of the folder, which
    # must first happen in the "next run" below (as in a new process)
    target.write_bytes(refs["old"].read_bytes())
    _run_child("checkpoint", {"target": str(target), **{k: str(v) for k, v in refs.items()}},
               _env(root / "home"), rng)
    counts.trials += 1
    counts.mid_write += bool(_temporaries(target.parent))
    # safetensors orders the metadata differently on each write: compare the content digests of a
    # file that reads back whole (every tensor's digest checked)
    try:
        digests = verify_checkpoint(target).digests
    except CheckpointError as err:
        counts.partial += 1
        counts.notes.append(f"checkpoint: {err}")
    else:
        if digests == read_header(refs["old"]).digests:
            counts.old += 1
        elif digests == read_header(refs["new"]).digests:
            counts.new += 1
        else:
            counts.partial += 1
            counts.notes.append("checkpoint: a whole file, but neither the old nor the new networks")
    atomic_write_bytes(target, refs["new"].read_bytes())  # the next run: save_checkpoint's final step
    counts.debris += len(_temporaries(target.parent))


TRIALS: dict[str, Callable[[Path, random.Random, Counts], None]] = {
    "export": trial_export,
    "batch": lambda root, rng, counts: trial_export(root, rng, counts, batch=True),
    "fetch": trial_fetch,
    "checkpoint": trial_checkpoint,
}


def run(scenario: str, trials: int, root: Path, seed: int = 0) -> Counts:
    """``trials`` kill trials of ``scenario`` under ``root`` (one fresh folder each)."""
    rng = random.Random(f"{scenario}-{seed}")
    counts = Counts()
    for i in range(trials):
        folder = root / f"{scenario}-{i}"
        folder.mkdir(parents=True)
        TRIALS[scenario](folder, rng, counts)
    return counts
