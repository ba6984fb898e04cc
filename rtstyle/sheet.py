"""A contact sheet: one photo in every style, in a labelled grid, to choose a style by looking.

    from rtstyle.sheet import contact_sheet
    grid = contact_sheet(photo, ["mosaic", "candy"], lambda name: Pipeline(name, stroke_scale=1.5))

Each style's Pipeline (rtstyle.pipeline) paints the photo shrunk to its working size (512 px on
the longer side for stroke scale 1.0, what `rtstyle image` would use); the result is then
shrunk to the tile size, so the strokes look as they would in the full image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import UserError
from .pipeline import Pipeline

_GAP = 6  # pixels between tiles, and around the grid
_BACKGROUND = (24, 24, 24)
_FONT, _SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.55


@dataclass
class SheetStats:
    """What went into the sheet: the styles drawn and those that failed, with their one-line reasons."""

    drawn: list[str]
    failed: list[tuple[str, str]]


def contact_sheet(
    photo: np.ndarray,
    styles: list[str],
    load: Callable[[str], Pipeline],
    tile_side: int = 320,
    columns: int | None = None,
    original: bool = True,
    on_error: Callable[[str, str], object] | None = None,
) -> tuple[np.ndarray, SheetStats]:
    """The grid (BGR uint8) of `photo` in each of `styles` (`load(style)` makes its Pipeline), labelled by name.

    `original` puts the photo itself first. A style that fails to load or run is left out and
    reported to `on_error(style, reason)` (UserError and onnxruntime errors alike); when
    none could be drawn, UserError. `columns` defaults to a near-square grid.
    """
    if not styles:
        raise UserError("no styles to put on the sheet")
    if tile_side < 32:
        raise UserError(f"tile size must be at least 32 pixels, got {tile_side}")
    height, width = photo.shape[:2]
    scale = tile_side / max(width, height)
    tile_size = (max(1, round(width * scale)), max(1, round(height * scale)))

    tiles: list[tuple[str, np.ndarray]] = []
    if original:
        tiles.append(("original", cv2.resize(photo, tile_size, interpolation=cv2.INTER_AREA)))
    stats = SheetStats([], [])
    for style in styles:
        try:
            pipeline = load(style)
            # At its working size already, the pipeline runs the network on the frame as it is.
            painted = pipeline(cv2.resize(photo, pipeline.working_size(width, height), interpolation=cv2.INTER_AREA))
        except Exception as err:  # one style failing leaves the others on the sheet
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            stats.failed.append((style, reason))
            if on_error is not None:
                on_error(style, reason)
            continue
        tiles.append((style, cv2.resize(painted, tile_size, interpolation=cv2.INTER_AREA)))
        stats.drawn.append(style)
    if not stats.drawn:
        raise UserError("no style could be drawn: " + "; ".join(f"{s}: {r}" for s, r in stats.failed))
    return _grid(tiles, columns), stats


def _grid(tiles: list[tuple[str, np.ndarray]], columns: int | None) -> np.ndarray:
    columns = max(1, min(len(tiles), columns or math.ceil(math.sqrt(len(tiles)))))
    rows = math.ceil(len(tiles) / columns)
    tile_h, tile_w = tiles[0][1].shape[:2]
    (_, text_h), base = cv2.getTextSize("Ag", _FONT, _SCALE, 1)
    label_h = text_h + base + 12
    cell_w, cell_h = tile_w + _GAP, tile_h + label_h + _GAP
    sheet = np.empty((rows * cell_h + _GAP, columns * cell_w + _GAP, 3), np.uint8)
    sheet[:] = _BACKGROUND
    for index, (name, tile) in enumerate(tiles):
        x = _GAP + (index % columns) * cell_w
        y = _GAP + (index // columns) * cell_h
        sheet[y:y + tile_h, x:x + tile_w] = tile
        label = _fit_label(name, tile_w - 8)
        label_w = cv2.getTextSize(label, _FONT, _SCALE, 1)[0][0]
        origin = (x + (tile_w - label_w) // 2, y + tile_h + 6 + text_h)
        cv2.putText(sheet, label, origin, _FONT, _SCALE, (240, 240, 240), 1, cv2.LINE_AA)
    return sheet


def _fit_label(text: str, width: int) -> str:
    """`text`, shortened with an ellipsis to fit `width` pixels."""
    if cv2.getTextSize(text, _FONT, _SCALE, 1)[0][0] <= width:
        return text
    while len(text) > 1 and cv2.getTextSize(text + "...", _FONT, _SCALE, 1)[0][0] > width:
        text = text[:-1]
    return text + "..."
