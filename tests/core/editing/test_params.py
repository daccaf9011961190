from __future__ import annotations

import pytest

from core.editing.params import AU_NAMES, REGION_NAMES, EditParams, InvalidEditParamsError
from core.errors import GafetError


def test_defaults_and_hashable() -> None:
    p = EditParams()
    assert p.alpha == 1.0 and p.regions == () and p.au_overrides == ()
    assert p.region_weight("mouth") == 1.0
    assert set(p.region_weights()) == set(REGION_NAMES)
    assert hash(p) == hash(EditParams())
    assert len({EditParams(alpha=0.5), EditParams(alpha=0.5), EditParams(alpha=0.6)}) == 2


def test_with_region_and_au_are_normalised_and_order_free() -> None:
    a = EditParams(alpha=0.7).with_region("Mouth", 1.2).with_region("eyes", 0.5).with_au("au12", 0.8)
    b = EditParams(alpha=0.7, regions=(("eyes", 0.5), ("mouth", 1.2)), au_overrides=(("AU12", 0.8),))
    assert a == b and hash(a) == hash(b)
    assert a.region_weight("mouth") == 1.2 and a.au_override("12") == 0.8
    assert a.with_region("mouth", 1.0).regions == (("eyes", 0.5),)  # 1.0 is the default: dropped
    assert a.with_au("AU12", None).au_overrides == ()
    assert a.with_alpha(0.0).alpha == 0.0 and a.with_alpha(0.0).regions == a.regions


def test_json_round_trip() -> None:
    p = EditParams(alpha=1.3, regions=(("brows", 0.0), ("jaw", 1.5)),
                   au_overrides=(("AU26", 1.0), ("AU01", 0.25)))
    text = p.to_json()
    assert EditParams.from_json(text) == p
    assert EditParams.from_dict({"alpha": 0.5}) == EditParams(alpha=0.5)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"alpha": 1.6}, "between 0 and 1.5"),
        ({"alpha": -0.1}, "between 0 and 1.5"),
        ({"alpha": float("nan")}, "between 0 and 1.5"),
        ({"alpha": "high"}, "must be a number"),
        ({"regions": (("lips", 1.0),)}, "Unknown face region 'lips'"),
        ({"regions": (("mouth", 2.0),)}, "region 'mouth'"),
        ({"au_overrides": (("AU99", 0.5),)}, "Unknown action unit 'AU99'"),
        ({"au_overrides": (("AU12", 1.2),)}, "AU12 must be between 0 and 1"),
        ({"regions": ("mouth",)}, "(name, value) pair"),
    ],
)
def test_invalid_values_name_the_problem(kwargs: dict, needle: str) -> None:
    with pytest.raises(InvalidEditParamsError, match=None) as info:
        EditParams(**kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, GafetError)


def test_bad_json() -> None:
    with pytest.raises(InvalidEditParamsError, match="not valid JSON"):
        EditParams.from_json("{alpha")
    with pytest.raises(InvalidEditParamsError, match="Unknown edit setting"):
        EditParams.from_json('{"alpha": 1, "gamma": 2}')


def test_au_names_match_the_model_order() -> None:
    assert len(AU_NAMES) == 20 and AU_NAMES[9] == "AU12" and AU_NAMES[17] == "AU26"
