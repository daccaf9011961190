from __future__ import annotations

import dataclasses
import json

import pytest

from core.errors import GafetError
from core.nets.config import (
    PRESETS,
    GafetConfig,
    GafetConfigError,
    config_from_dict,
    config_from_json,
    config_to_dict,
    config_to_json,
    preset,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name: str) -> None:
    cfg = preset(name)
    assert cfg.name == name
    assert config_from_json(config_to_json(cfg)) == cfg
    assert json.loads(config_to_json(cfg))["format_version"] == 1


def test_preset_sizes() -> None:
    assert preset("gafet-256").resolution == 256
    assert preset("gafet-512").resolution == 512
    tiny = preset("tiny-64")
    assert tiny.resolution == 64
    assert tiny.mfat_scales == (4, 3, 2)  # high, mid, low = the three coarsest scales
    assert tiny.with_switches(multiscale_attention=False).mfat_scales == (4,)
    assert tiny.with_switches(use_mfat=False).mfat_scales == ()


def test_unknown_preset_is_a_user_facing_error() -> None:
    with pytest.raises(GafetError, match="Unknown GaFET preset 'gafet-1024'.*tiny-64"):
        preset("gafet-1024")


@pytest.mark.parametrize("change, message", [
    ({"resolution": 100}, "resolution 100"),
    ({"resolution": 96, "appearance_channels": (8, 8), "geometry_feature_channels": (8, 8),
      "reference_channels": (8, 8)}, "power of two"),
    ({"geometry_feature_channels": (8, 8)}, "geometry_feature_channels has 2 entries"),
    ({"appearance_channels": (8,)}, "at least 2 entries"),
    ({"mfat": dataclasses.replace(preset("tiny-64").mfat, heads=3)}, "divisible by mfat.heads"),
    ({"mfat": dataclasses.replace(preset("tiny-64").mfat, levels=9)}, "mfat.levels"),
])
def test_invalid_configs_name_the_problem(change: dict, message: str) -> None:
    with pytest.raises(GafetConfigError, match=message):
        dataclasses.replace(preset("tiny-64"), **change)


def test_json_parsing_is_strict() -> None:
    raw = config_to_dict(preset("tiny-64"))
    with pytest.raises(GafetConfigError, match="unknown field.*colour"):
        config_from_dict({**raw, "colour": 1})
    with pytest.raises(GafetConfigError, match="unknown field.*depht.*mfat"):
        config_from_dict({**raw, "mfat": {**raw["mfat"], "depht": 2}})
    with pytest.raises(GafetConfigError, match="resolution' must be an integer"):
        config_from_dict({**raw, "resolution": "64"})
    with pytest.raises(GafetConfigError, match="must be true or false"):
        config_from_dict({**raw, "switches": {**raw["switches"], "use_mfat": 1}})
    with pytest.raises(GafetConfigError, match="format_version is 7"):
        config_from_dict({**raw, "format_version": 7})
    with pytest.raises(GafetConfigError, match="not valid JSON"):
        config_from_json("{nope")
    assert isinstance(config_from_dict(raw), GafetConfig)


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset("tiny-64").resolution = 128  # type: ignore[misc]
