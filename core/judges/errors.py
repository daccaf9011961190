"""User-facing errors of the independent judges (identity and expression networks)."""

from __future__ import annotations

from pathlib import Path

from core.assets import AssetError, AssetMissingError, asset_path


class JudgeAssetMissingError(AssetMissingError):
    """A judge's network is not installed (exit code 5); the message names the fetch command."""


class JudgeWeightsError(AssetError):
    """A judge's weights file is installed but cannot be read as the expected network (exit code 5)."""


def judge_file(asset_id: str, member: str, judge: str) -> Path:
    """The installed file ``member`` of asset ``asset_id``, for the judge named ``judge``.

    Raises :class:`JudgeAssetMissingError` naming the judge, the asset and ``gafet assets fetch``.
    """
    try:
        return asset_path(asset_id, member)
    except AssetMissingError as err:
        raise JudgeAssetMissingError(f"The {judge} needs its network. {err}") from None
