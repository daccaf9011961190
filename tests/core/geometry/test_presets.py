"""Expression presets: the built-ins, strict validation of untrusted files, atomic saving."""

from __future__ import annotations

import json
import os

import pytest

from core.errors import GafetError
from core.geometry.presets import (
    AU_NAMES,
    BUILTIN_PRESETS,
    ExpressionPreset,
    PresetError,
    builtin_preset,
    load_preset,
    parse_preset,
    save_preset,
)

EMFACS = {  # the AUs each built-in must contain (FACS/EMFACS prototypes, within the model's 20)
    "neutral": set(),
    "happy": {"AU06", "AU12"},
    "surprise": {"AU01", "AU02", "AU05", "AU26"},
    "sad": {"AU01", "AU04", "AU15"},
    "angry": {"AU04", "AU05", "AU07", "AU23"},
    "disgust": {"AU09", "AU15"},
    "fear": {"AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"},
}


def _doc(**over) -> str:
    doc = {"format": "gafet-expression-preset", "version": 1, "name": "mine", "aus": {"AU12": 0.5}}
    doc.update(over)
    return json.dumps(doc)


def test_builtins_load_and_follow_emfacs(au_model):
    assert set(BUILTIN_PRESETS) == set(EMFACS)
    assert AU_NAMES == au_model.au_names  # the presets speak the model's AUs
    for name in BUILTIN_PRESETS:
        p = builtin_preset(name)
        assert p.name == name and set(p.aus) >= EMFACS[name]
        assert all(v > 0 for v in p.aus.values()) and p.description
        assert len(p.vector()) == 20
    assert builtin_preset("neutral").vector() == [0.0] * 20


@pytest.mark.parametrize("text, message", [
    ("{", "not a valid preset JSON"),
    ("[1, 2]", "top level must be a JSON object"),
    ('{"format": "gafet-expression-preset", "format": "x"}', "duplicate key"),
    (_doc(aus={"AU12": float("nan")}), "not allowed"),
    (_doc(aus={"AU12": 1e999}), "not allowed"),
    (_doc(aus={"AU99": 0.5}), "unknown action unit 'AU99'"),
    (_doc(aus={"AU12": 1.5}), "must be in \\[0, 1\\]"),
    (_doc(aus={"AU12": -0.1}), "must be in \\[0, 1\\]"),
    (_doc(aus={"AU12": True}), "must be a number"),
    (_doc(aus={"AU12": "0.5"}), "must be a number"),
    (_doc(aus=[0.5]), "'aus' must be an object"),
    (_doc(format="exp-dill"), "'format' must be"),
    (_doc(version=2), "unsupported version"),
    (_doc(name="../../etc/passwd"), "'name' must be"),
    (_doc(name=""), "'name' must be"),
    (_doc(__class__="os.system"), "unknown key"),
    (_doc(description=["x"]), "description"),
    ('{"format": "gafet-expression-preset", "version": 1, "name": "x"}', "missing key"),
    ("[" * 100000 + "]" * 100000, "at most 65536 bytes"),
    ("[" * 30000 + "]" * 30000, "not a valid preset JSON|top level"),
])
def test_invalid_or_malicious_presets_are_refused_with_a_clear_error(text, message):
    with pytest.raises(PresetError, match=message) as err:
        parse_preset(text, source="evil.json")
    assert str(err.value).startswith("evil.json") or "bytes" in str(err.value)
    assert isinstance(err.value, GafetError)


def test_non_utf8_and_pickles_are_refused(tmp_path):
    import pickle

    path = tmp_path / "p.json"
    path.write_bytes(pickle.dumps({"name": "x"}))
    with pytest.raises(PresetError, match=str(path).replace("\\", "\\\\")):
        load_preset(path)
    with pytest.raises(PresetError, match="does not exist"):
        load_preset(tmp_path / "missing.json")


def test_save_is_atomic_and_round_trips(tmp_path):
    p = ExpressionPreset(name="my smile", aus={"AU12": 0.7, "AU06": 0.25}, description="half smile")
    path = save_preset(p, tmp_path / "presets")
    assert path.name == "my_smile.json"
    back = load_preset(path)
    assert back == p or (back.name, dict(back.aus), back.description) == (p.name, dict(p.aus), p.description)
    assert [n for n in os.listdir(path.parent) if n.startswith(".")] == []  # no temp file left
    with pytest.raises(PresetError, match="exists"):
        save_preset(p, tmp_path / "presets")
    p2 = ExpressionPreset(name="my smile", aus={"AU12": 1.0})
    save_preset(p2, tmp_path / "presets", overwrite=True)
    assert dict(load_preset(path).aus) == {"AU12": 1.0}


def test_preset_objects_validate_too():
    with pytest.raises(PresetError, match="unknown action unit"):
        ExpressionPreset(name="x", aus={"AU16": 0.5})
    with pytest.raises(PresetError, match="name"):
        ExpressionPreset(name="a/b", aus={})
    p = ExpressionPreset(name="x", aus={"AU12": 1})
    with pytest.raises(TypeError):
        p.aus["AU12"] = 0.0  # read-only mapping


def test_a_typed_preset_name_is_checked_with_a_ui_ready_message(tmp_path):
    from core.geometry.presets import InvalidPresetNameError, check_preset_name, preset_path

    check_preset_name("big smile.v2")
    for bad in ("a/b", "x" * 65, "", "émoji😀"):
        with pytest.raises(InvalidPresetNameError, match="cannot be a preset name: use 1-64 letters"):
            check_preset_name(bad)
    assert issubclass(InvalidPresetNameError, GafetError)
    assert preset_path(tmp_path, "big smile") == tmp_path / "big_smile.json"
    saved = save_preset(ExpressionPreset(name="big smile", aus={}), tmp_path)
    assert saved == preset_path(tmp_path, "big smile")


def test_find_preset_by_file_builtin_or_user_name(tmp_path, monkeypatch) -> None:
    from core.geometry.presets import PresetNotFoundError, find_preset

    assert find_preset("happy").name == "happy"
    path = save_preset(ExpressionPreset(name="wink", aus={"AU43": 0.8}), tmp_path)
    assert dict(find_preset(str(path)).aus) == {"AU43": 0.8}
    monkeypatch.setenv("GAFET_HOME", str(tmp_path / "home"))
    save_preset(ExpressionPreset(name="mine", aus={"AU12": 0.5}), tmp_path / "home" / "presets")
    assert dict(find_preset("mine").aus) == {"AU12": 0.5}
    with pytest.raises(PresetNotFoundError, match="built-in presets"):
        find_preset("nothing-like-this")
    with pytest.raises(PresetNotFoundError, match="does not exist"):
        find_preset(str(tmp_path / "missing.json"))
