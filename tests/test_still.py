"""`rtstyle.still`: Gatys optimization over the pixels, on tiny generated images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rtstyle.errors import UserError
from rtstyle.still import StillConfig, auto_scales, split_iterations, stylize_still


def _photo(path: Path, w: int = 64, h: int = 48) -> str:
    """Smooth colour gradients with a bright disc: a stand-in for a photo."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.dstack([x * 200 // (w - 1), y * 200 // (h - 1), np.full_like(x, 90)]).astype(np.uint8)
    cv2.circle(img, (w // 3, h // 2), h // 4, (240, 240, 250), -1)
    cv2.imwrite(str(path), img)
    return str(path)


def _checker(path: Path, cell: int, colours: tuple, w: int = 64, h: int = 64) -> str:
    """A high-contrast checkerboard (the 'style')."""
    y, x = np.mgrid[0:h, 0:w]
    on = ((x // cell + y // cell) % 2).astype(bool)
    img = np.empty((h, w, 3), np.uint8)
    img[on], img[~on] = colours
    cv2.imwrite(str(path), img)
    return str(path)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny images: one thread is as fast, and immune to a busy machine's thread oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("still")
    return {
        "dir": str(d),
        "photo": _photo(d / "photo.png"),
        "style": _checker(d / "style.png", 4, ((20, 40, 230), (240, 200, 30))),
        "style2": _checker(d / "style2.png", 8, ((0, 0, 0), (255, 255, 255))),
    }


def _config(files, name: str, **kw) -> StillConfig:
    base = dict(content=files["photo"], styles=[files["style"]], output=str(Path(files["dir"]) / name), size=64, iterations=8)
    base.update(kw)
    return StillConfig(**base)


def _falls(result) -> bool:
    losses = [h["loss"] for h in result.history if h["scale"] == result.history[-1]["scale"]]
    return min(losses) < 0.8 * losses[0]


def test_lbfgs_loss_falls_and_size(files):
    cfg = _config(files, "lbfgs.png", iterations=10)
    result = stylize_still(cfg, progress=False)
    assert result.image.shape == (48, 64, 3) and result.image.dtype == np.uint8
    assert len(result.history) == 10
    assert _falls(result)
    written = cv2.imread(cfg.output)
    assert written.shape == (48, 64, 3)
    assert np.array_equal(written, result.image)


def test_adam_loss_falls(files):
    result = stylize_still(_config(files, "adam.png", optimizer="adam", lr=0.05, iterations=10), progress=False)
    assert result.image.shape == (48, 64, 3)
    assert len(result.history) == 10
    assert _falls(result)


def test_fp32_precision(files):
    # (fp16 is for CUDA GPUs without bf16; on a CPU it is emulated and far too slow to test here.)
    result = stylize_still(_config(files, "fp32.png", precision="fp32", iterations=8), progress=False)
    assert len(result.history) == 8 and _falls(result)


def test_same_seed_same_result(files):
    a = stylize_still(_config(files, "seed_a.png", init="random", iterations=4, seed=3), progress=False)
    b = stylize_still(_config(files, "seed_b.png", init="random", iterations=4, seed=3), progress=False)
    assert np.array_equal(a.image, b.image)


def test_two_styles_with_weights(files):
    cfg = _config(files, "blend.jpg", styles=[files["style"], files["style2"]], style_weights=[3, 1], iterations=8)
    result = stylize_still(cfg, progress=False)
    assert result.image.shape == (48, 64, 3)
    assert _falls(result)


def test_preserve_color_keeps_chroma(files):
    cfg = _config(files, "keep.png", preserve_color=True, iterations=10)
    result = stylize_still(cfg, progress=False)
    photo = cv2.imread(files["photo"])
    chroma_in = cv2.cvtColor(photo, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(int)
    chroma_out = cv2.cvtColor(result.image, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(int)
    # The round trip through BGR uint8 moves chroma by a few levels at most; the style's red/yellow would move it far.
    assert np.abs(chroma_out - chroma_in).mean() < 3
    assert _falls(result)


def test_coarse_to_fine_two_scales_and_snapshots(files):
    saved = []
    cfg = _config(files, "c2f.png", size=80, scales=[40, 80], scale_iterations=[6, 3], save_every=3)
    result = stylize_still(cfg, progress=False, on_save=lambda n, p: saved.append((n, p)))
    assert result.image.shape == (60, 80, 3)
    assert list(result.scale_times) == [40, 80]
    assert [h["scale"] for h in result.history] == [40] * 6 + [80] * 3
    assert [n for n, _ in saved] == [3, 6, 9]
    assert all(Path(p).is_file() for _, p in saved)
    assert Path(saved[0][1]).name == "c2f.iter-3.png"
    first = [h["loss"] for h in result.history if h["scale"] == 40]
    assert min(first) < 0.8 * first[0]


def test_interrupt_writes_best_so_far(files):
    cfg = _config(files, "interrupted.png", iterations=6, save_every=2)

    def stop(n, path):
        raise KeyboardInterrupt

    out = Path(cfg.output)
    with pytest.raises(KeyboardInterrupt):
        stylize_still(cfg, progress=False, on_save=stop)
    assert out.is_file() and cv2.imread(str(out)).shape == (48, 64, 3)


def test_auto_scales_and_split():
    assert auto_scales(256) == [256]
    assert auto_scales(384) == [192, 384]
    assert auto_scales(512) == [256, 512]
    assert auto_scales(1024) == [256, 512, 1024]
    assert split_iterations(500, 1) == [500]
    assert sum(split_iterations(500, 2)) == 500 and split_iterations(500, 2)[0] > split_iterations(500, 2)[1]


def test_bad_inputs(files, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"not an image at all")
    cases = [
        dict(content=str(tmp_path / "missing.jpg")),
        dict(content=str(bad)),
        dict(styles=[str(tmp_path / "missing_style.png")]),
        dict(styles=[str(bad)]),
        dict(styles=[]),
        dict(style_weights=[1.0, 2.0]),
        dict(style_weights=[-1.0]),
        dict(size=8),
        dict(size=0),
        dict(optimizer="sgd"),
        dict(device="tpu"),
        dict(style_weights=[0.0]),
        dict(init="noise"),
        dict(scales=[64, 32]),
        dict(output=str(tmp_path / "no_such_folder" / "out.png")),
        dict(output=files["photo"]),
    ]
    for kw in cases:
        with pytest.raises(UserError):
            stylize_still(_config(files, "never.png", **kw), progress=False)
