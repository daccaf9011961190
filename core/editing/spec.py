"""Which editor: one typed spec, its one string form, and the one factory that builds it.

An :class:`EditorSpec` names an editor without loading it: the built-in warp editor, or a GaFET
checkpoint (an absolute path) on a device. The Studio, the CLI, batch runs and the model registry
all hold specs; settings and undo store :meth:`EditorSpec.to_text`, and only
:meth:`EditorSpec.parse` reads it back.

String form (stable; written by older versions too)::

    warp                         the warp editor
    gafet:/abs/path.safetensors  a checkpoint, device chosen at load (CUDA when available)
    gafet@cuda:1:/abs/path       a checkpoint on a named device ("cpu", "cuda", "cuda:N")

:func:`build_editor` turns a spec into an :class:`~core.editing.editor.Editor`; GaFET checkpoints
go through the registry's cache (:func:`core.editing.gafet.registry.load_editor`), so loading one
takes up to seconds the first time: call it off the UI thread.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.errors import GafetError

if TYPE_CHECKING:
    from core.editing.editor import Editor

__all__ = ["WARP", "EditorKind", "EditorSpec", "InvalidEditorSpecError", "build_editor"]

EditorKind = Literal["warp", "gafet"]
_WARP_TEXT = "warp"
_GAFET_TEXT = "gafet"
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d{1,3})?)$")
# The warp editor's name, known without importing it (that imports torch): equal to
# core.editing.warp.editor.WARP_EDITOR_NAME (tests/core/editing/test_spec.py checks).
WARP_NAME = "Warp (built-in)"


class InvalidEditorSpecError(GafetError, ValueError):
    """A stored or typed editor spec cannot be read (exit code 1). ``str()`` is UI-ready."""


def _check_device(device: str | None) -> str | None:
    if device is None:
        return None
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise InvalidEditorSpecError(f"Unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'.")
    return device


@dataclass(frozen=True)
class EditorSpec:
    """An editor, named but not loaded.

    kind: "warp" (built in, no weights) or "gafet" (a checkpoint).
    checkpoint: the GaFET checkpoint, an absolute path (None for the warp editor).
    device: where a GaFET model runs: "cpu", "cuda" or "cuda:N"; None = CUDA when available,
        else the CPU. Always None for the warp editor (it runs on the CPU).
    Build one with :meth:`warp` or :meth:`gafet`; equal specs name the same editor.
    """

    kind: EditorKind = "warp"
    checkpoint: Path | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "warp":
            if self.checkpoint is not None or self.device is not None:
                raise InvalidEditorSpecError("The warp editor takes no checkpoint and no device.")
            return
        if self.kind != "gafet":
            raise InvalidEditorSpecError(f"Unknown editor kind {self.kind!r}: expected 'warp' or 'gafet'.")
        if self.checkpoint is None or str(self.checkpoint) in ("", "."):
            raise InvalidEditorSpecError("A GaFET editor needs a checkpoint path.")
        object.__setattr__(self, "checkpoint", Path(self.checkpoint).expanduser().absolute())
        object.__setattr__(self, "device", _check_device(self.device))

    @classmethod
    def warp(cls) -> EditorSpec:
        """The built-in warp editor."""
        return cls()

    @classmethod
    def gafet(cls, checkpoint: str | os.PathLike[str], *, device: str | None = None) -> EditorSpec:
        """A GaFET checkpoint (made absolute) on ``device`` (None: CUDA when available)."""
        return cls(kind="gafet", checkpoint=Path(checkpoint), device=device)

    @property
    def is_warp(self) -> bool:
        return self.kind == "warp"

    def on(self, device: str | None) -> EditorSpec:
        """The same editor on another device (the warp editor stays as it is)."""
        if self.is_warp:
            return self
        return EditorSpec(kind="gafet", checkpoint=self.checkpoint, device=device)

    def to_text(self) -> str:
        """The stable string form (module docstring); :meth:`parse` reads it back exactly."""
        if self.is_warp:
            return _WARP_TEXT
        device = f"@{self.device}" if self.device is not None else ""
        return f"{_GAFET_TEXT}{device}:{self.checkpoint}"

    @classmethod
    def parse(cls, text: str) -> EditorSpec:
        """The spec of a string made by :meth:`to_text`. Raises :class:`InvalidEditorSpecError`."""
        if not isinstance(text, str):
            raise InvalidEditorSpecError(f"An editor spec is text, got {type(text).__name__}.")
        if text == _WARP_TEXT:
            return cls.warp()
        if not text.startswith(_GAFET_TEXT):
            raise InvalidEditorSpecError(f"Unknown editor '{text}': expected 'warp' or 'gafet:<checkpoint>'.")
        rest = text[len(_GAFET_TEXT):]
        device = None
        if rest.startswith("@"):
            match = re.match(r"^@(cpu|cuda(?::\d{1,3})?):", rest)
            if match is None:
                raise InvalidEditorSpecError(f"Cannot read the device of editor '{text}'.")
            device, rest = match.group(1), rest[match.end() - 1:]
        if not rest.startswith(":") or len(rest) == 1:
            raise InvalidEditorSpecError(f"Unknown editor '{text}': expected 'gafet:<checkpoint>'.")
        return cls.gafet(rest[1:], device=device)

    @property
    def fallback_label(self) -> str:
        """A label before the editor is loaded: the warp editor's name, or ``GaFET: <file stem>``."""
        if self.is_warp:
            return WARP_NAME
        assert self.checkpoint is not None
        return f"GaFET: {self.checkpoint.stem}"

    def __str__(self) -> str:
        return self.to_text()


WARP = EditorSpec.warp()


def build_editor(spec: EditorSpec) -> Editor:
    """The editor ``spec`` names: a new :class:`WarpEditor`, or the registry's cached GaFET editor.

    Raises :class:`core.nets.checkpoint.CheckpointError` subclasses (exit code 5) for a missing,
    damaged or unsupported checkpoint, and :class:`GafetError` for a CUDA device where none is.
    """
    if spec.is_warp:
        from core.editing.warp.editor import WarpEditor

        return WarpEditor()
    from core.editing.gafet import registry

    assert spec.checkpoint is not None
    return registry.load_editor(spec.checkpoint, device=spec.device)
