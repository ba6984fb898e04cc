"""The any-painting network: training resumes, the export matches PyTorch, codes blend, and the
bundled network paints a new painting's colours; bad paintings get one line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from media import pattern
from rtstyle.errors import UserError


def _paintings(folder: Path) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(3)
    paths = []
    for i, colour in enumerate([(200, 40, 30), (30, 160, 220)]):  # BGR: a blue one, an orange one
        tile = np.clip(np.array(colour) + rng.normal(0, 40, (8, 8, 3)), 0, 255).astype(np.uint8)
        path = folder / f"painting{i}.png"
        cv2.imwrite(str(path), cv2.resize(tile, (64, 48), interpolation=cv2.INTER_NEAREST))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def tiny_anystyle(tmp_path_factory):
    """A tiny any-painting checkpoint trained 3 steps (2, then resumed for 1) and its export."""
    import os

    from rtstyle.anystyle_train import AnyStyleConfig, train_anystyle
    from rtstyle.export import export_onnx
    from rtstyle.networks import NetConfig, build_network

    import torch

    root = tmp_path_factory.mktemp("anystyle")
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")
    photos = root / "photos"
    photos.mkdir()
    for i in range(4):
        cv2.imwrite(str(photos / f"p{i}.jpg"), pattern(i * 7, 80, 60))
    paintings = _paintings(root / "paintings")
    init = root / "init.pt"
    config = NetConfig(arch="fast", channels=(4, 8), residual_blocks=1)
    torch.save({"model": build_network(config).state_dict(), "net": config.to_dict()}, init)
    cfg = AnyStyleConfig(paintings=[str(root / "paintings")], data=str(photos), output=str(root / "any.pt"), init=str(init),
                         iterations=2, size=32, batch=2, scale=64, code_size=8, painting_sides=(64,), holdout_every=0,
                         checkpoint_every=1)
    logs: list[str] = []
    train_anystyle(cfg, log=logs.append)
    cfg.iterations = 3
    train_anystyle(cfg, resume=True, log=logs.append)
    report = export_onnx(root / "any.pt", root / "any.onnx")
    return root, paintings, logs, report


def test_training_resumes_and_export_matches_pytorch(tiny_anystyle):
    import torch

    root, _, logs, report = tiny_anystyle
    assert any("resumed" in line and "step 2" in line for line in logs)
    assert torch.load(root / "any.pt", weights_only=True)["step"] == 3
    assert (root / "any-encoder.onnx").is_file()
    assert report["max_abs_diff"] <= 1 / 255 and report["code_diff"] < 0.05  # z-scored tiny statistics amplify float32 rounding


def test_codes_blend_and_change_the_picture(tiny_anystyle):
    from rtstyle.anystyle import blend_codes, open_painting_stylizer, use_paintings

    root, paintings, _, _ = tiny_anystyle
    stylizer = open_painting_stylizer([paintings[0]], model=root / "any.onnx", provider="cpu")
    a, b = (stylizer.painting_encoder(p) for p in paintings)
    assert a.shape == (1, 8) and not np.allclose(a, b)
    np.testing.assert_allclose(blend_codes([a, b], [3, 1]), 0.75 * a + 0.25 * b, rtol=1e-5)
    use_paintings(stylizer, stylizer.painting_encoder, paintings, [0.5, 0.5])
    assert "painting0.png 50%" in stylizer.name
    with pytest.raises(UserError, match="weights"):
        blend_codes([a, b], [1.0])


def test_bundled_network_takes_a_new_paintings_colours(tmp_path):
    """The shipped network on a photo with a blue and then an orange painting: the output's mean
    colour moves towards each painting's."""
    from rtstyle.anystyle import open_painting_stylizer, use_paintings
    from rtstyle.pipeline import Pipeline

    blue, orange = _paintings(tmp_path / "paintings")
    stylizer = open_painting_stylizer([blue], provider="cpu")
    pipeline = Pipeline(stylizer)
    photo = pattern(11, 160, 120)
    to_blue = pipeline(photo).reshape(-1, 3).mean(0)
    use_paintings(stylizer, stylizer.painting_encoder, [orange])
    to_orange = pipeline(photo).reshape(-1, 3).mean(0)
    assert to_blue[0] > to_orange[0] + 20 and to_orange[2] > to_blue[2] + 20  # BGR


def test_bad_paintings(tmp_path):
    from rtstyle.anystyle import load_painting

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((8, 8, 3), np.uint8))
    for name in ("empty.png", "text.jpg", "tiny.png", "missing.png"):
        with pytest.raises(UserError):
            load_painting(tmp_path / name)
    cv2.imwrite(str(tmp_path / "grey16.png"), np.full((40, 30), 40000, np.uint16))
    cv2.imwrite(str(tmp_path / "rgba.png"), np.full((40, 30, 4), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "panorama.png"), np.zeros((10, 20000, 3), np.uint8) + 90)
    assert load_painting(tmp_path / "grey16.png").shape == (512, 384, 3)
    assert load_painting(tmp_path / "rgba.png").dtype == np.uint8
    assert load_painting(tmp_path / "panorama.png").shape == (128, 512, 3)  # the central 4:1 part
