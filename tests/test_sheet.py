import subprocess
import sys

import cv2
import numpy as np
import pytest
from media import pattern

from rtstyle.errors import UserError
from rtstyle.pipeline import Pipeline
from rtstyle.sheet import contact_sheet

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def run(*args):
    return subprocess.run([*RTSTYLE, *map(str, args)], check=False, capture_output=True, text=True, timeout=300)


def tinted(value):
    """A loader stand-in: every 'style' paints the photo one flat grey."""
    return Pipeline(lambda frame: np.full_like(frame, value))


def test_grid_of_tiles_with_labels_and_the_original_first():
    photo = pattern(1, 200, 100)
    grid, stats = contact_sheet(photo, ["a", "b", "c"], lambda name: tinted({"a": 50, "b": 150, "c": 250}[name]),
                                tile_side=100, columns=2)
    assert stats.drawn == ["a", "b", "c"] and stats.failed == []
    tile_w, tile_h = 100, 50
    # 2 columns x 2 rows; each cell a tile, a label strip under it, and gaps.
    assert grid.shape[1] == 2 * (tile_w + 6) + 6 and grid.shape[0] > 2 * (tile_h + 6)
    np.testing.assert_allclose(grid[6:6 + tile_h, 6:6 + tile_w].astype(int),
                               cv2.resize(photo, (tile_w, tile_h), interpolation=cv2.INTER_AREA).astype(int), atol=1)
    assert (grid[6:6 + tile_h, 112:112 + tile_w] == 50).all()  # "a", top right
    label = grid[6 + tile_h:6 + tile_h + 20, 6:6 + tile_w]
    assert label.max() > 200  # text drawn on the dark strip


def test_a_failing_style_is_reported_and_left_out():
    errors = []

    def load(name):
        if name == "broken":
            raise UserError("cannot load ONNX model broken.onnx: bad file")
        return tinted(100)

    _, stats = contact_sheet(pattern(0, 64, 64), ["ok", "broken"], load, tile_side=32,
                                on_error=lambda style, reason: errors.append((style, reason)))
    assert stats.drawn == ["ok"] and errors == [("broken", "cannot load ONNX model broken.onnx: bad file")]
    with pytest.raises(UserError, match="no style could be drawn"):
        contact_sheet(pattern(0, 64, 64), ["broken"], load)


def test_the_network_paints_at_the_working_size():
    seen = []

    def load(name):
        return Pipeline(lambda frame: seen.append(frame.shape) or frame, stroke_scale=2.0)

    contact_sheet(pattern(0, 1024, 768), ["a"], load, tile_side=64)
    assert seen == [(192, 256, 3)]


def test_sheet_command_with_bundled_styles(tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(4, 96, 64))
    out = tmp_path / "sheet.png"
    result = run("sheet", photo, "-o", out, "--models", "mosaic,candy", "--tile", 96)
    assert result.returncode == 0, result.stderr
    grid = cv2.imread(str(out))
    assert grid.shape[1] == 2 * (96 + 6) + 6  # original, mosaic / candy: 2 columns
    # Each style's tile differs from the original's (the real networks painted them).
    original, mosaic = grid[6:70, 6:102].astype(int), grid[6:70, 108:204].astype(int)
    assert np.abs(original - mosaic).mean() > 20


def test_sheet_command_errors(tiny_model, tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(4, 48, 32))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    out = tmp_path / "sheet.png"
    result = run("sheet", photo, "-o", out, "--models", f"{tiny_model},{broken}", "--tile", 48)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rtstyle: error:")]
    assert len(errors) == 1 and "broken.onnx" in errors[0]
    assert cv2.imread(str(out)) is not None  # the styles that worked are on the sheet

    missing = run("sheet", tmp_path / "nope.jpg", "-o", out)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "no such image" in missing.stderr
