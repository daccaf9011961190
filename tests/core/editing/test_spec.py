"""EditorSpec: its one string form round-trips, bad forms are refused, the factory builds every kind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.editing.gafet.editor import GafetEditor
from core.editing.gafet.registry import clear_cache
from core.editing.spec import WARP, EditorSpec, InvalidEditorSpecError, build_editor
from core.editing.warp.editor import WARP_EDITOR_NAME, WarpEditor
from core.errors import GafetError
from core.nets.checkpoint import CheckpointCorruptError, CheckpointNotFoundError, save_checkpoint
from core.nets.config import preset
from core.nets.gafet import build_networks


@pytest.fixture(autouse=True)
def _isolated():
    clear_cache()
    yield
    clear_cache()


@pytest.mark.parametrize(
    "spec",
    [
        EditorSpec.warp(),
        EditorSpec.gafet("/models/smiles.safetensors"),
        EditorSpec.gafet("/models/with: colon/odd@name.safetensors", device="cuda:1"),
        EditorSpec.gafet("/models/gafet:warp.safetensors", device="cpu"),
        EditorSpec.gafet("/models/ünïcode smile.safetensors", device="cuda"),
    ],
)
def test_string_form_round_trips(spec: EditorSpec) -> None:
    text = spec.to_text()
    assert EditorSpec.parse(text) == spec
    assert EditorSpec.parse(text).to_text() == text
    assert str(spec) == text


def test_string_form_is_stable() -> None:
    # Settings written by earlier versions hold exactly these forms.
    assert WARP.to_text() == "warp" and EditorSpec.parse("warp") == WARP
    spec = EditorSpec.parse("gafet:/m/a.safetensors")
    assert spec.kind == "gafet" and spec.checkpoint == Path("/m/a.safetensors") and spec.device is None
    assert EditorSpec.gafet("/m/a.safetensors", device="cuda:0").to_text() == "gafet@cuda:0:/m/a.safetensors"


def test_relative_checkpoints_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = EditorSpec.gafet("m.safetensors")
    assert spec.checkpoint == tmp_path / "m.safetensors" and spec.checkpoint.is_absolute()
    assert spec == EditorSpec.gafet(tmp_path / "m.safetensors")


@pytest.mark.parametrize(
    "text", ["", "Warp", "gafet", "gafet:", "gafet@:/m.safetensors", "gafet@tpu:/m.safetensors",
             "onnx:/m.onnx", "gafet/m.safetensors"],
)
def test_bad_forms_are_refused(text: str) -> None:
    with pytest.raises(InvalidEditorSpecError) as err:
        EditorSpec.parse(text)
    assert isinstance(err.value, GafetError) and err.value.exit_code == 1


def test_bad_specs_are_refused() -> None:
    with pytest.raises(InvalidEditorSpecError, match="needs a checkpoint"):
        EditorSpec(kind="gafet")
    with pytest.raises(InvalidEditorSpecError, match="no checkpoint"):
        EditorSpec(kind="warp", checkpoint=Path("/m.safetensors"))
    with pytest.raises(InvalidEditorSpecError, match="Unknown device"):
        EditorSpec.gafet("/m.safetensors", device="gpu")
    with pytest.raises(InvalidEditorSpecError, match="Unknown editor kind"):
        EditorSpec(kind="onnx", checkpoint=Path("/m.onnx"))  # type: ignore[arg-type]


def test_labels_before_loading() -> None:
    assert WARP.fallback_label == WARP_EDITOR_NAME
    assert EditorSpec.gafet("/m/smiles.safetensors").fallback_label == "GaFET: smiles"
    assert EditorSpec.gafet("/m/a.safetensors").on("cpu").device == "cpu" and WARP.on("cuda") == WARP


def test_factory_builds_warp_and_good_checkpoints(tmp_path: Path) -> None:
    assert isinstance(build_editor(WARP), WarpEditor)
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "tiny.safetensors", build_networks(preset("tiny-64")))
    editor = build_editor(EditorSpec.gafet(path, device="cpu"))
    assert isinstance(editor, GafetEditor) and editor.name == "GaFET: tiny (tiny-64)"
    assert build_editor(EditorSpec.gafet(path, device="cpu")) is editor  # the registry's cache


def test_factory_reports_broken_and_missing_checkpoints(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00garbage" * 64)
    with pytest.raises(CheckpointCorruptError) as err:
        build_editor(EditorSpec.gafet(broken, device="cpu"))
    assert err.value.exit_code == 5 and "broken.safetensors" in str(err.value)
    with pytest.raises(CheckpointNotFoundError):
        build_editor(EditorSpec.gafet(tmp_path / "gone.safetensors", device="cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where CUDA is missing")
def test_factory_names_a_missing_cuda_device(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "tiny.safetensors", build_networks(preset("tiny-64")))
    with pytest.raises(GafetError, match="no CUDA device"):
        build_editor(EditorSpec.gafet(path, device="cuda"))
