import subprocess
import sys

import cv2
import numpy as np
import pytest

from media import pattern
from rtstyle.errors import UserError
from rtstyle.stylizer import Stylizer
from rtstyle.tiling import TiledStylizer, _Tiles, network_budget


def photo(width, height):
    """A picture with large-scale structure (so per-tile statistics differ from the whole's)."""
    base = pattern(2, width, height)
    y = np.linspace(0, 1, height)[:, None, None]
    return np.clip(base * (0.4 + 0.6 * y), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def stylizer(tiny_model):
    return Stylizer(tiny_model, provider="cpu")


def test_tiles_with_whole_picture_statistics_give_the_whole_picture_result(stylizer):
    frame = photo(203, 151)  # sides that are not multiples of the network's stride
    whole = stylizer(frame)
    tiled = TiledStylizer(stylizer, budget=0, tile_side=128, overlap=32, always_whole=0)
    out = tiled(frame)
    assert tiled.last_tiles == 12 and out.shape == frame.shape
    assert np.abs(out.astype(int) - whole).max() <= 1

    # Tiles that each normalize with their own statistics would not: tone shifts and seams.
    naive = np.empty_like(frame)
    for (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) in _Tiles(151, 203, 128, 32, tiled.graphs().multiple).boxes:
        naive[cy0:cy1, cx0:cx1] = stylizer(np.ascontiguousarray(frame[y0:y1, x0:x1]))[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    assert np.abs(naive.astype(int) - whole).mean() > 20 * max(np.abs(out.astype(int) - whole).mean(), 0.01)


def test_small_pictures_run_whole(stylizer):
    tiled = TiledStylizer(stylizer, budget=10**12)
    frame = photo(64, 48)
    assert np.array_equal(tiled(frame), stylizer(frame)) and tiled.last_tiles == 0


def test_the_budget_decides_what_is_tiled(stylizer):
    tiled = TiledStylizer(stylizer, budget=10**6, always_whole=0)
    per_pixel = tiled.graphs().bytes_per_pixel
    assert tiled.max_pixels() == int(10**6 / per_pixel)
    side = int((tiled.max_pixels() * 2) ** 0.5)
    tiled(photo(side, side))
    assert tiled.last_tiles > 0


def test_tiles_cover_every_pixel_once_and_stay_within_their_side():
    tiles = _Tiles(1001, 1503, 512, 64, multiple=4)
    cover = np.zeros((1001, 1503), int)
    for (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) in tiles.boxes:
        assert y1 - y0 <= 512 and x1 - x0 <= 512 and y0 % 4 == 0 and x0 % 4 == 0
        assert y0 <= cy0 < cy1 <= y1 and x0 <= cx0 < cx1 <= x1
        cover[cy0:cy1, cx0:cx1] += 1
    assert (cover == 1).all()


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("RTSTYLE_MAX_NETWORK_GB", "1.5")
    assert network_budget() == 1_500_000_000
    monkeypatch.setenv("RTSTYLE_MAX_NETWORK_GB", "-1")
    with pytest.raises(UserError, match="RTSTYLE_MAX_NETWORK_GB must be a positive number"):
        network_budget()


def test_image_command_tiles_a_picture_over_the_budget(tiny_model, tmp_path):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), photo(1300, 900))  # over the 1 MP that always runs whole
    env_small = {"RTSTYLE_MAX_NETWORK_GB": "0.001"}
    runs = {}
    for name, env in (("whole", {}), ("tiled", env_small)):
        out = tmp_path / f"{name}.png"
        result = subprocess.run([sys.executable, "-m", "rtstyle.cli", "image", str(path), "-m", str(tiny_model), "-o", str(out), "--provider", "cpu", "--stroke-scale", "native"],
                                capture_output=True, text=True, timeout=300, env={**__import__("os").environ, **env})
        assert result.returncode == 0, result.stderr
        runs[name] = (cv2.imread(str(out)).astype(int), result.stderr)
    assert "tiles with whole-picture statistics, to stay within 0.001 GB" in runs["tiled"][1]
    assert "whole-picture statistics" not in runs["whole"][1]
    assert np.abs(runs["tiled"][0] - runs["whole"][0]).max() <= 1
