"""The paper's pair source (§3.4): a StyleGAN2 latent editor trained to neutralise random faces,
then (face, neutral face) pairs generated with it (``gafet deexpress pairs``).

**Editor training** (:func:`train_editor`). For random w = mapping(z) and a target expression
code c (zero = neutral, the paper's setting; optionally random codes too), the editor
(:class:`core.nets.stylegan2.LatentEditor`) gives w' = w + Δw, and with X = G(w), X' = G(w'):

* **coefficient loss**: the differentiable fit of X' (:class:`training.face_fit.ExpressionFitter`:
  the face-mesh network and :mod:`core.geometry.au.fit_torch`) should have AUs c and X's other
  coefficients: ``|AU(X') − c|₁ + |identity(X') − identity(X)|₁ / s + |R(X') − R(X)|₁`` (s: the
  model's unit scale, so the identity term is in model units);
* **normal-map loss**: the normal map (:func:`core.render.geometry_image.geometry_image`) of X''s
  fitted mesh against that of the target mesh (X's identity and pose with AUs c), L1 over the
  face;
* **identity loss**: 1 − cos of the dlib-ResNet descriptors (:mod:`core.judges.dlib_resnet`, the
  evaluation's identity network) of X and X', on chips cut at X's fitted five points;
* a small ``|Δw|²`` keeps the edit local.

Weights in :class:`EditorLossWeights`. The StyleGAN2 generator and the judges are frozen.

**Editor checkpoint**: one safetensors file (atomic) with ``editor.*``, the generator's tensors
(``generator.*``, so pair generation needs nothing else) and JSON metadata (configs, steps, loss
history): :func:`save_editor` / :func:`load_editor`.

**Pairs** (:func:`generate_pairs`): pair k uses z drawn from a generator seeded by (seed, k), so
the set is a pure function of the seed; shards of the pairs folder
(:mod:`training.deexpress.pair_store`) are written atomically when complete, and a rerun
continues at the first missing index: resume without duplicates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize

from core.errors import GafetError
from core.io.atomic import atomic_write_bytes
from core.nets.stylegan2 import (
    LatentEditor,
    LatentEditorConfig,
    StyleGAN2,
    StyleGAN2Config,
    load_generator,
)
from training.deexpress.pair_store import PairStore, write_shard

EDITOR_META = "gafet_latent_editor"


class EditorError(GafetError):
    """A latent-editor checkpoint that cannot be used."""


@dataclass(frozen=True, kw_only=True)
class EditorLossWeights:
    coefficients: float = 1.0
    normals: float = 1.0
    identity: float = 1.0
    delta: float = 0.01
    random_code: float = 0.0  # chance that a sample's target code is random AUs instead of neutral


class EditorLosses(NamedTuple):
    """Every term (0-d tensors with the graph) and the weighted ``total``."""

    coefficients: torch.Tensor
    normals: torch.Tensor
    identity: torch.Tensor
    delta: torch.Tensor
    total: torch.Tensor


class Judges(NamedTuple):
    """The frozen measurements the editor's losses use."""

    fitter: Any  # training.face_fit.ExpressionFitter
    identity: torch.nn.Module  # core.judges.dlib_resnet.DlibFaceResNet


def load_judges(device: torch.device | str = "cpu") -> Judges:
    """The face-mesh fit and the dlib ResNet (assets ``face-mesh``, ``au-face-model``, ``identity-dlib``)."""
    from core.judges.dlib_resnet import load_dlib_resnet
    from training.face_fit import ExpressionFitter

    return Judges(fitter=ExpressionFitter.from_assets().to(device), identity=load_dlib_resnet(device))


def canonical_hints(resolution: int, model: Any) -> torch.Tensor:  # noqa: ANN401 - AUFaceModel
    """(468, 3) float32 crop px: the AU model's mean face framed as an aligned crop (FFHQ framing)
    of side ``resolution``: where a generated face roughly is (the fit's ROI hint)."""
    from core.face.align import AlignConfig, alignment_matrix

    mean = model.mean.detach().cpu().numpy().astype(np.float64)
    pts = np.stack([mean[:, 0], -mean[:, 1], -mean[:, 2]], axis=1)  # model y is up; images' y is down
    m = alignment_matrix(pts, AlignConfig(size=resolution))
    xy = pts[:, :2] @ m[:, :2].T + m[:, 2]
    z = pts[:, 2] * np.sqrt(abs(np.linalg.det(m[:, :2])))
    return torch.from_numpy(np.concatenate([xy, z[:, None]], axis=1).astype(np.float32))


def _images_01(images: torch.Tensor) -> torch.Tensor:
    return images.clamp(-1, 1)


def editor_losses(judges: Judges, original: torch.Tensor, edited: torch.Tensor, code: torch.Tensor,
                  delta: torch.Tensor, weights: EditorLossWeights) -> EditorLosses:
    """The losses of the module docstring. original / edited: (B, 3, R, R) generator outputs (the
    original without grad); code: (B, 20) target AUs; delta: (B, n_latent, w_dim) Δw."""
    from core.geometry.combine import combine
    from core.judges.dlib_resnet import INPUT_SIZE
    from core.judges.face_chip import chip_matrix, five_points, warp_chips
    from core.render.geometry_image import geometry_image
    from training.batch import continuous_px

    fitter = judges.fitter
    model = fitter.model
    b, _, r, _ = original.shape
    hints = canonical_hints(r, model).to(original.device).expand(b, -1, -1)
    with torch.no_grad():
        fit_o = fitter(_images_01(original), hints)
    fit_e = fitter(_images_01(edited), fit_o.landmarks.detach())
    po, pe = fit_o.params, fit_e.params
    unit = float(fitter.unit_scale)
    coeff = (pe.expression - code).abs().mean() + (pe.identity - po.identity).abs().mean() * unit * 100 \
        + (pe.pose.rotation - po.pose.rotation).abs().mean()
    # normal maps: the edited face's fitted mesh against the target mesh (X's identity, pose; AUs c)
    target = combine(source=po, reference=po.replace(expression=code))
    faces = model.faces.to(original.device)
    with torch.no_grad():
        want = geometry_image(continuous_px(model.vertices_of(target).float()), faces, r)
    got = geometry_image(continuous_px(model.vertices_of(pe).float()), faces, r)
    face = (want[:, 3:] > 0).float()
    normals = ((got[:, :3] - want[:, :3]).abs() * face).sum() / (face.sum() * 3).clamp_min(1.0)
    # identity: dlib descriptors of chips at X's five points
    mats = torch.from_numpy(np.stack([chip_matrix(five_points(lm)) for lm in
                                      fit_o.landmarks.detach().cpu().numpy()])).to(original.device)
    to_255 = lambda x: (x.clamp(-1, 1) + 1) * 127.5  # noqa: E731
    with torch.no_grad():
        d_o = judges.identity(warp_chips(to_255(original), mats, INPUT_SIZE))
    d_e = judges.identity(warp_chips(to_255(edited), mats, INPUT_SIZE))
    identity = (1 - F.cosine_similarity(d_o, d_e, dim=1)).mean()
    reg = delta.square().mean()
    total = (weights.coefficients * coeff + weights.normals * normals + weights.identity * identity
             + weights.delta * reg)
    return EditorLosses(coefficients=coeff, normals=normals, identity=identity, delta=reg, total=total)


# ---------------------------------------------------------------------------------------------
# The editor checkpoint


class EditorBundle(NamedTuple):
    generator: StyleGAN2
    editor: LatentEditor
    meta: dict[str, Any]


def new_editor(generator: StyleGAN2, *, seed: int = 0) -> LatentEditor:
    cfg = LatentEditorConfig(n_latent=generator.config.n_latent, w_dim=generator.config.w_dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LatentEditor(cfg)


def save_editor(path: str | os.PathLike[str], generator: StyleGAN2, editor: LatentEditor,
                meta: dict[str, Any]) -> Path:
    tensors = {f"editor.{k}": v.detach().cpu().contiguous() for k, v in editor.state_dict().items()}
    tensors.update({f"generator.{k}": v.detach().cpu().contiguous()
                    for k, v in generator.state_dict().items()})
    doc = {**meta, "stylegan2": asdict(generator.config), "editor": asdict(editor.config)}
    return atomic_write_bytes(Path(path), serialize(tensors, metadata={EDITOR_META: json.dumps(doc)}))


def load_editor(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> EditorBundle:
    p = Path(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            doc = json.loads((f.metadata() or {})[EDITOR_META])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        raise EditorError(f"{p} is not a readable latent-editor checkpoint ({err}).") from None
    g_state = {k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")}
    generator = load_generator(g_state, StyleGAN2Config(**doc["stylegan2"])).to(device)
    editor = LatentEditor(LatentEditorConfig(**doc["editor"]))
    editor.load_state_dict({k[len("editor."):]: v for k, v in tensors.items() if k.startswith("editor.")},
                           strict=True)
    return EditorBundle(generator=generator, editor=editor.to(device).eval(), meta=doc)


# ---------------------------------------------------------------------------------------------
# Training the editor


class EditorStep(NamedTuple):
    step: int
    losses: dict[str, float]


def train_editor(generator: StyleGAN2, editor: LatentEditor, judges: Judges, *, steps: int, batch: int = 4,
                 lr: float = 1e-4, weights: EditorLossWeights = EditorLossWeights(), seed: int = 0,
                 start: int = 0) -> Iterator[EditorStep]:
    """Train ``editor`` in place for ``steps`` steps (module docstring), yielding each step's losses.
    Step k's latents and codes depend only on (seed, k)."""
    device = next(generator.parameters()).device
    opt = torch.optim.Adam(editor.parameters(), lr=lr, betas=(0.9, 0.999))
    generator.requires_grad_(False)
    editor.train()
    for step in range(start, start + steps):
        gen = torch.Generator().manual_seed(int(np.random.default_rng([seed, step]).integers(2**62)))
        z = torch.randn(batch, generator.config.w_dim, generator=gen).to(device)
        code = torch.zeros(batch, editor.config.code_dim)
        random = torch.rand(batch, generator=gen) < weights.random_code
        code[random] = torch.rand(int(random.sum()), editor.config.code_dim, generator=gen)
        code = code.to(device)
        with torch.no_grad():
            w = generator.mapping(z)
            original = generator.synthesis(w)
        edit = editor(w, code)
        edited = generator.synthesis(edit.w)
        losses = editor_losses(judges, original, edited, code, edit.delta, weights)
        opt.zero_grad(set_to_none=True)
        losses.total.backward()
        opt.step()
        yield EditorStep(step=step + 1, losses={k: float(v.detach()) for k, v in losses._asdict().items()})


# ---------------------------------------------------------------------------------------------
# Pairs


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def make_pairs(bundle: EditorBundle, indices: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(face, neutral) (n, R, R, 3) uint8 of pairs ``indices``: z of pair k from (seed, k)."""
    g = bundle.generator
    device = next(g.parameters()).device
    z = torch.stack([torch.randn(g.config.w_dim, generator=torch.Generator().manual_seed(
        int(np.random.default_rng([seed, 11, int(k)]).integers(2**62)))) for k in indices]).to(device)
    w = g.mapping(z)
    code = torch.zeros(len(indices), bundle.editor.config.code_dim, device=device)
    face = g.synthesis(w)
    neutral = g.synthesis(bundle.editor(w, code).w)
    return _to_uint8(face), _to_uint8(neutral)


class PairsProgress(NamedTuple):
    done: int  # pairs stored in total
    count: int  # pairs wanted
    shard: Path | None  # the shard just written (None: the first event, nothing written yet)


def generate_pairs(bundle: EditorBundle, root: str | os.PathLike[str], *, count: int, seed: int = 0,
                   shard_size: int = 256, batch: int = 8) -> Iterator[PairsProgress]:
    """Generate pairs 0 ... count − 1 into ``root``, continuing after the shards already there (module
    docstring). Raises :class:`EditorError` when ``root`` holds pairs of another seed or shard size."""
    root = Path(root)
    store = PairStore(root)
    meta = {"seed": seed, "shard_size": shard_size, "resolution": bundle.generator.config.resolution,
            "generator": bundle.meta.get("generator", "")}
    if store.shards and (store.meta.get("seed"), store.meta.get("shard_size")) != (seed, shard_size):
        raise EditorError(f"{root} holds pairs of seed {store.meta.get('seed')} and shard size "
                          f"{store.meta.get('shard_size')}; continue with the same options or use a new "
                          "folder.")
    have = {k for k, _ in store.shards}
    yield PairsProgress(done=len(store), count=count, shard=None)
    done = len(store)
    for k in range(-(-count // shard_size)):
        if k in have:
            continue
        first, last = k * shard_size, min(count, (k + 1) * shard_size)
        faces, neutrals = [], []
        for s in range(first, last, batch):
            f, n = make_pairs(bundle, np.arange(s, min(last, s + batch)), seed=seed)
            faces.append(f)
            neutrals.append(n)
        path = write_shard(root, k, np.concatenate(faces), np.concatenate(neutrals),
                           np.arange(first, last, dtype=np.int64), meta)
        done += last - first
        yield PairsProgress(done=done, count=count, shard=path)


def run_pairs_command(args: argparse.Namespace, *, on_progress: Callable[[PairsProgress], None] | None = None
                      ) -> int:
    """``gafet deexpress pairs``: a progress bar on stderr, resumable (rerun the same command)."""
    from tqdm import tqdm

    if args.editor is None:
        raise EditorError("gafet deexpress pairs needs --editor CKPT: a latent editor trained on a "
                          "StyleGAN2 generator (its checkpoint holds the generator; see "
                          "training.deexpress.stylegan_pairs).")
    if args.count < 1 or args.shard_size < 1 or args.batch < 1:
        raise EditorError("--count, --shard-size and --batch must be >= 1.")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    bundle = load_editor(args.editor, device=device)
    bar = None
    for event in generate_pairs(bundle, args.output, count=args.count, seed=args.seed,
                                shard_size=args.shard_size, batch=args.batch):
        if bar is None:
            bar = tqdm(total=event.count, initial=min(event.done, event.count), unit="pair", file=sys.stderr,
                       disable=None, desc="pairs")
        else:
            bar.update(event.done - bar.n)
        if on_progress is not None:
            on_progress(event)
    if bar is not None:
        bar.close()
    print(f"{len(PairStore(Path(args.output)))} pairs in {args.output}")
    return 0
