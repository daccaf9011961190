"""The editors the Studio can use: the built-in warp editor, later GaFET checkpoints.

An :class:`EditorChoice` is what the editor selector lists. ``available_editors()`` returns the
built-in warp editor plus one entry per GaFET checkpoint found in the user's checkpoint folder
(``<data home>/checkpoints/*.safetensors``); an entry whose ``make`` is None is listed but
disabled, with ``reason`` as its tooltip (e.g. no generator loader in this build yet).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import assets

WARP_ID = "warp"


@dataclass(frozen=True)
class EditorChoice:
    id: str
    label: str
    make: Callable[[], Any] | None
    reason: str = ""

    @property
    def enabled(self) -> bool:
        return self.make is not None


def _make_warp() -> Any:
    from core.editing.warp_editor import WarpEditor

    return WarpEditor()


def _gafet_loader() -> Callable[[Path], Any] | None:
    """The core's GaFET checkpoint loader, when this build has one."""
    for module, name in (("core.editing.gafet_editor", "GafetEditor"), ("core.editing.gafet", "GafetEditor")):
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        loader = getattr(cls, "from_checkpoint", None)
        if callable(loader):
            return loader
    return None


def checkpoint_folder() -> Path:
    return assets.data_home() / "checkpoints"


def available_editors(folder: Path | None = None) -> list[EditorChoice]:
    choices = [EditorChoice(WARP_ID, "Warp (built-in)", _make_warp)]
    folder = folder or checkpoint_folder()
    if folder.is_dir():
        loader = _gafet_loader()
        for ckpt in sorted(folder.glob("*.safetensors")):
            if loader is None:
                choices.append(
                    EditorChoice(
                        f"gafet:{ckpt.name}",
                        f"GaFET: {ckpt.stem}",
                        None,
                        "This build cannot load GaFET checkpoints yet.",
                    )
                )
            else:
                choices.append(
                    EditorChoice(f"gafet:{ckpt.name}", f"GaFET: {ckpt.stem}", lambda p=ckpt, ld=loader: ld(p))
                )
    return choices


def find_editor(editor_id: str, folder: Path | None = None) -> EditorChoice | None:
    for choice in available_editors(folder):
        if choice.id == editor_id:
            return choice
    return None
