"""The editors an evaluation compares: the app's own (warp, GaFET checkpoints) and two baselines.

``--editor`` takes ``warp``, a checkpoint (a ``.safetensors`` path or the name of one in the
models folder), ``identity`` (the output is the source, untouched: what doing nothing scores)
or ``mouth-paste`` (:mod:`core.evaluation.mouth_paste`: a naive cut-and-paste). Each produces
the full-resolution output photo of a pair; the judges then look at that photo.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.editing.editor import Editor
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource
from core.editing.spec import EditorSpec, build_editor
from core.evaluation.mouth_paste import mouth_paste

EvalEditorKind = Literal["warp", "gafet", "identity", "mouth-paste"]
BASELINES: tuple[EvalEditorKind, ...] = ("identity", "mouth-paste")


@dataclass(frozen=True)
class EvalEditor:
    """One editor of an evaluation. spec: the app editor (warp / GaFET), None for a baseline."""

    kind: EvalEditorKind
    spec: EditorSpec | None = None

    @classmethod
    def parse(cls, text: str, *, device: str | None = None) -> EvalEditor:
        """``warp``, ``identity``, ``mouth-paste`` or a checkpoint (raises
        ``CheckpointNotFoundError``, exit code 5, when it cannot be found)."""
        name = text.strip()
        if name.lower() == "warp":
            return cls("warp", EditorSpec.warp())
        if name.lower() in BASELINES:
            return cls(name.lower())  # type: ignore[arg-type]
        from core.editing.gafet import registry

        return cls("gafet", EditorSpec.gafet(registry.find_checkpoint(name), device=device))

    @property
    def name(self) -> str:
        """The row label: "warp", "identity", "mouth-paste" or "gafet:<checkpoint stem>"."""
        if self.kind == "gafet":
            assert self.spec is not None and self.spec.checkpoint is not None
            return f"gafet:{self.spec.checkpoint.stem}"
        return self.kind

    def cache_text(self) -> str:
        """What identifies this editor's outputs: the kind, and a checkpoint's content hash."""
        if self.kind != "gafet":
            return self.kind
        assert self.spec is not None and self.spec.checkpoint is not None
        digest = hashlib.sha256(self.spec.checkpoint.read_bytes()).hexdigest()
        return f"gafet:{digest}"


class EditorRunner:
    """Produces each editor's output photo through one shared pipeline (its analyses and
    prepared faces are editor-independent; the app editors are built once each)."""

    def __init__(self, pipeline: EditPipeline) -> None:
        self.pipeline = pipeline
        self._built: dict[EditorSpec, Editor] = {}

    def editor(self, spec: EditorSpec) -> Editor:
        """The built editor of ``spec`` (built on first use; raises CheckpointError subclasses)."""
        if spec not in self._built:
            self._built[spec] = build_editor(spec)
        return self._built[spec]

    def output(self, editor: EvalEditor, source: PreparedSource, reference: PreparedReference,
               alpha: float) -> np.ndarray | None:
        """The output photo, (H, W, 3) uint8 RGB at the source's resolution; None where the
        editor does not apply (mouth-paste with a preset)."""
        if editor.kind == "identity":
            return np.asarray(source.photo.rgb)
        if editor.kind == "mouth-paste":
            return mouth_paste(source, reference, alpha)
        assert editor.spec is not None
        self.pipeline.editor = self.editor(editor.spec)
        result = self.pipeline.render(source, reference, EditParams(alpha=alpha), full_resolution=True)
        assert result.image is not None
        return np.asarray(result.image)
