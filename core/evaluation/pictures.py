"""Pictures for the evaluation report, drawn with PIL (no plotting library).

* :func:`contact_sheet`: one row per pair: source | reference | each editor's output, as the
  aligned face crops the judges saw (the face fills the tile, so it is shown larger than in the
  photo); a tile says "preset: NAME", "skipped" or "failed" where there is no picture.
* :func:`histogram`: the identity distances of each editor's outputs to their sources, one
  colour per editor, with the identity judge's same-person threshold as a vertical line.

Both return (H, W, 3) uint8 RGB arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TILE = 192
_LABEL_H = 18
_BG = (255, 255, 255)
_EMPTY = (225, 225, 225)
_INK = (30, 30, 30)
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127))


@dataclass(frozen=True, eq=False)
class SheetRow:
    """One pair's row: a label and one tile per column, each an (S, S, 3) uint8 crop or the text
    to show in its place."""

    label: str
    tiles: tuple[np.ndarray | str, ...]


def _tile(content: np.ndarray | str, font: ImageFont.ImageFont) -> Image.Image:
    if isinstance(content, str):
        im = Image.new("RGB", (TILE, TILE), _EMPTY)
        draw = ImageDraw.Draw(im)
        draw.text((8, TILE // 2 - 6), content[:28], fill=_INK, font=font)
        return im
    arr = np.asarray(content)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"a tile must be (S, S, 3) uint8 RGB, got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr).resize((TILE, TILE), Image.Resampling.LANCZOS)


def contact_sheet(headers: Sequence[str], rows: Sequence[SheetRow]) -> np.ndarray:
    """A grid: a header line naming the columns, then each row's label above its tiles."""
    font = ImageFont.load_default()
    cols = len(headers)
    if any(len(r.tiles) != cols for r in rows):
        raise ValueError(f"every row needs {cols} tiles")
    height = _LABEL_H + len(rows) * (_LABEL_H + TILE)
    sheet = Image.new("RGB", (cols * TILE, height), _BG)
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(headers):
        draw.text((c * TILE + 4, 3), name[:30], fill=_INK, font=font)
    for r, row in enumerate(rows):
        top = _LABEL_H + r * (_LABEL_H + TILE)
        draw.text((4, top + 3), row.label.replace("→", "->")[:120], fill=_INK, font=font)  # the font has no →
        for c, content in enumerate(row.tiles):
            sheet.paste(_tile(content, font), (c * TILE, top + _LABEL_H))
    return np.asarray(sheet)


def histogram(values: dict[str, Sequence[float]], *, threshold: float | None, x_max: float = 1.2,
              bins: int = 24, size: tuple[int, int] = (720, 320)) -> np.ndarray:
    """Bars of each series' counts over [0, x_max] (values above go in the last bin), side by
    side per bin; a dashed line at ``threshold``; a legend. values: series name -> distances."""
    width, height = size
    left, right, top, bottom = 40, 10, 30, 30
    im = Image.new("RGB", size, _BG)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    edges = np.linspace(0.0, x_max, bins + 1)
    counts = {name: np.histogram(np.clip(np.asarray(v, np.float64), 0, x_max), bins=edges)[0]
              for name, v in values.items()}
    peak = max([int(c.max()) for c in counts.values() if len(c)] + [1])
    plot_w, plot_h = width - left - right, height - top - bottom
    bin_w = plot_w / bins
    bar_w = max(1.0, bin_w / max(1, len(counts)) - 1)
    for s, (name, c) in enumerate(counts.items()):
        colour = COLOURS[s % len(COLOURS)]
        for b, n in enumerate(c):
            if n:
                x0 = left + b * bin_w + s * (bar_w + 1)
                draw.rectangle([x0, top + plot_h * (1 - n / peak), x0 + bar_w, top + plot_h], fill=colour)
        draw.rectangle([left + 10 + 150 * s, 8, left + 20 + 150 * s, 18], fill=colour)
        draw.text((left + 24 + 150 * s, 7), name[:20], fill=_INK, font=font)
    draw.line([left, top + plot_h, left + plot_w, top + plot_h], fill=_INK)
    draw.line([left, top, left, top + plot_h], fill=_INK)
    for x in np.arange(0.0, x_max + 1e-9, 0.2):
        px = left + plot_w * x / x_max
        draw.line([px, top + plot_h, px, top + plot_h + 4], fill=_INK)
        draw.text((px - 8, top + plot_h + 6), f"{x:.1f}", fill=_INK, font=font)
    draw.text((4, top - 4), str(peak), fill=_INK, font=font)
    draw.text((4, top + plot_h - 10), "0", fill=_INK, font=font)
    if threshold is not None and 0 < threshold < x_max:
        px = left + plot_w * threshold / x_max
        for y in range(top, top + plot_h, 8):
            draw.line([px, y, px, min(y + 4, top + plot_h)], fill=(200, 0, 0))
        draw.text((px + 3, top + 2), f"same person < {threshold:g}", fill=(200, 0, 0), font=font)
    return np.asarray(im)
