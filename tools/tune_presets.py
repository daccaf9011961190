"""Tune the built-in expression presets on real faces, with fer as the judge -> ``resources/presets/*.json``.

Each preset starts from its emotion's FACS / EMFACS prototype (:data:`PROTOTYPES`, restricted to
the built-in model's 20 AUs) and is tuned by coordinate descent over the prototype's AUs (kept at
0.5 or more, so a preset always shows its prototype) and a few related ones (:data:`CANDIDATES`,
from the prototype's EMFACS variants, 0 allowed), each in {0, 0.25, 0.5, 0.75, 1}. A candidate
is scored by rendering it with the warp editor at intensity 1 on every tuning face
(:data:`TUNING_FACES`: the portraits of the test media and two video frames) and asking fer's
emotion classifier (:mod:`core.judges.emotion_fer`, the judge ``gafet evaluate`` uses) for the
emotion of the output::

    score = mean over faces of ([fer's top class is the emotion] + 0.5 * p(emotion)
                                - 2 * max(0, identity distance - 0.30))   (keep the person: dlib ResNet)
            - 0.02 * sum |a - prototype|            (stay near the prototype unless it helps)

Presets are applied on top of each person's single-photo neutral (:mod:`core.editing.geometry_link`),
so the values are what the preset adds to a neutral face. ``neutral`` is not tuned: it adds nothing.
fer looks at the output in the source face's box (the face stays in place), as in ``gafet evaluate``.

    OMP_NUM_THREADS=1 .venv/bin/python tools/tune_presets.py [--presets happy sad] [--passes 2] [--dry-run]

Prints each preset's search and its per-face result; writes the presets unless ``--dry-run``.
Slow on purpose (a few hundred renders per preset, ~10 minutes each on one CPU core).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from core import assets
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedSource
from core.editing.warp.editor import WarpEditor
from core.evaluation.judges import load_judges
from core.geometry.presets import AU_NAMES, ExpressionPreset
from core.io import load_photo
from core.io.atomic import atomic_write_text
from core.io.video import iter_frames
from core.metrics.emotion import EMOTIONS

REPO = Path(__file__).resolve().parents[1]
PRESET_DIR = REPO / "resources" / "presets"
# (media file, face index or video frame): the faces the presets are tuned on
TUNING_FACES = (("single_face.jpg", 0), ("multi_face.jpg", 1), ("multi_face.jpg", 2), ("multi_face.jpg", 3),
                ("multi_face.jpg", 4), ("neutral_to_smile.mp4", 0), ("sad_to_laugh.mp4", 240))
STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)
# EMFACS prototypes (Friesen & Ekman 1983), the model's AUs only; "description" names the source.
PROTOTYPES: dict[str, tuple[dict[str, float], str]] = {
    "happy": ({"AU06": 1.0, "AU12": 1.0}, "Happiness (EMFACS 6+12): cheek raiser + lip corner puller"),
    "surprise": ({"AU01": 1.0, "AU02": 1.0, "AU05": 0.5, "AU26": 1.0},
                 "Surprise (EMFACS 1+2+5B+26): brow raisers, upper lid raiser, jaw drop"),
    "sad": ({"AU01": 1.0, "AU04": 1.0, "AU15": 1.0},
            "Sadness (EMFACS 1+4+15): inner brow raiser, brow lowerer, lip corner depressor"),
    "angry": ({"AU04": 1.0, "AU05": 1.0, "AU07": 1.0, "AU23": 1.0},
              "Anger (EMFACS 4+5+7+23): brow lowerer, upper lid raiser, lid tightener, lip tightener"),
    "disgust": ({"AU09": 1.0, "AU15": 1.0},
                "Disgust (EMFACS 9+15+16; AU16 is not among the model's AUs): nose wrinkler, lip corner "
                "depressor"),
    "fear": ({"AU01": 1.0, "AU02": 1.0, "AU04": 1.0, "AU05": 1.0, "AU07": 1.0, "AU20": 1.0, "AU26": 1.0},
             "Fear (EMFACS 1+2+4+5+7+20+26): brows raised and drawn together, lids raised and tightened, "
             "lip stretcher, jaw drop"),
}
# AUs searched besides the prototype's: the EMFACS variants of the emotion
CANDIDATES = {
    "happy": ("AU25", "AU26", "AU10"),
    "surprise": ("AU25",),
    "sad": ("AU17", "AU11", "AU43", "AU06"),
    "angry": ("AU17", "AU24", "AU10", "AU09"),
    "disgust": ("AU10", "AU17", "AU04", "AU07", "AU25", "AU26"),
    "fear": ("AU25",),
}
PROTOTYPE_PENALTY = 0.02
IDENTITY_FREE = 0.30  # dlib identity distance output -> source allowed before the score pays for it
IDENTITY_PENALTY = 2.0
MIN_PROTOTYPE = 0.5  # a prototype AU stays at least this strong (a person reads the preset)


class Judge:
    """Renders a preset on the tuning faces and reads fer's probabilities (cached per AU vector)."""

    def __init__(self, frame_dir: Path) -> None:
        self.pipe = EditPipeline(editor=WarpEditor(), crop_size=512)
        judges = load_judges("dlib")
        if judges.emotion is None:
            raise SystemExit(f"the emotion judge is missing: {judges.emotion_problem}")
        self.emotion = judges.emotion
        if judges.identity is None:
            raise SystemExit(f"the identity judge is missing: {judges.identity_problem}")
        self.identity = judges.identity
        self.sources: list[tuple[str, PreparedSource]] = []
        for name, index in TUNING_FACES:
            path = assets.asset_path("test-media", name)
            if name.endswith(".mp4"):
                frame = next(iter_frames(path, start=index, max_frames=1))
                path = frame_dir / f"{Path(name).stem}_{index}.png"
                cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                self.sources.append((f"{name}@{index}", self.pipe.prepare_source(load_photo(path))))
            else:
                source = self.pipe.prepare_source(load_photo(path), face_index=index)
                self.sources.append((f"{name}#{index}", source))
        self._descriptors = [self.identity.describe(np.asarray(s.photo.rgb), s.faces[s.face_index])
                             for _, s in self.sources]
        self._cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def judge(self, aus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the preset AU vector ``aus`` (20,): (faces, 7) fer probabilities of the outputs and
        (faces,) dlib identity distances output -> source (cached)."""
        key = np.round(aus, 4).tobytes()
        if key not in self._cache:
            reference = self.pipe.prepare_preset(aus)
            probs, dists = [], []
            for (_, source), desc in zip(self.sources, self._descriptors, strict=True):
                image = np.asarray(self.pipe.render(source, reference, EditParams(alpha=1.0)).image)
                face = source.faces[source.face_index]
                probs.append(self.emotion.probabilities(image, face))
                dists.append(float(np.linalg.norm(self.identity.describe(image, face) - desc)))
            self._cache[key] = (np.array(probs), np.array(dists))
        return self._cache[key]


def score(judged: tuple[np.ndarray, np.ndarray], emotion: str, aus: np.ndarray,
          prototype: np.ndarray) -> float:
    probs, dists = judged
    k = EMOTIONS.index(emotion)
    per_face = ((probs.argmax(axis=1) == k) + 0.5 * probs[:, k]
                - IDENTITY_PENALTY * np.maximum(0.0, dists - IDENTITY_FREE))
    return float(per_face.mean() - PROTOTYPE_PENALTY * np.abs(aus - prototype).sum())


def tune(judge: Judge, emotion: str, passes: int) -> np.ndarray:
    proto_map, _ = PROTOTYPES[emotion]
    prototype = np.array([proto_map.get(n, 0.0) for n in AU_NAMES])
    searched = [n for n in AU_NAMES if n in proto_map or n in CANDIDATES[emotion]]
    best = prototype.copy()
    best_score = score(judge.judge(best), emotion, best, prototype)
    print(f"[{emotion}] prototype score {best_score:.3f}", flush=True)
    for p in range(passes):
        changed = False
        for name in searched:
            i = AU_NAMES.index(name)
            for v in STEPS:
                if v == best[i] or (name in proto_map and v < MIN_PROTOTYPE):
                    continue
                trial = best.copy()
                trial[i] = v
                s = score(judge.judge(trial), emotion, trial, prototype)
                if s > best_score + 1e-9:
                    best, best_score, changed = trial, s, True
            print(f"[{emotion}] pass {p + 1} {name} -> {best[i]:.2f}  score {best_score:.3f}", flush=True)
        if not changed:
            break
    return best


def report(judge: Judge, emotion: str, aus: np.ndarray) -> None:
    probs, dists = judge.judge(aus)
    k = EMOTIONS.index(emotion)
    for (name, _), p, d in zip(judge.sources, probs, dists, strict=True):
        print(f"    {name:24s} top {EMOTIONS[int(p.argmax())]:9s} p({emotion}) {p[k]:.2f}  identity {d:.3f}")
    print(f"  {emotion}: agrees on {(probs.argmax(axis=1) == k).sum()}/{len(probs)} faces, "
          f"mean p {probs[:, k].mean():.2f}")


def preset_json(emotion: str, aus: np.ndarray) -> str:
    _, description = PROTOTYPES[emotion]
    values = {n: float(v) for n, v in zip(AU_NAMES, aus, strict=True) if v > 0}
    preset = ExpressionPreset(name=emotion, aus=values,
                              description=f"{description}; intensities tuned on real faces with the fer "
                                          "judge (tools/tune_presets.py), added to the person's neutral.")
    return json.dumps(preset.to_json(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PROTOTYPES), choices=list(PROTOTYPES))
    parser.add_argument("--passes", type=int, default=2, help="coordinate-descent passes (default 2)")
    parser.add_argument("--dry-run", action="store_true", help="print, write nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    assets.ensure(["test-media"])
    with tempfile.TemporaryDirectory(prefix="tune-presets-") as tmp:
        judge = Judge(Path(tmp))
        for emotion in args.presets:
            aus = tune(judge, emotion, args.passes)
            values = ", ".join(f"{n} {v:.2f}" for n, v in zip(AU_NAMES, aus, strict=True) if v > 0)
            print(f"[{emotion}] tuned: {values}")
            report(judge, emotion, aus)
            if not args.dry_run:
                atomic_write_text(PRESET_DIR / f"{emotion}.json", preset_json(emotion, aus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
