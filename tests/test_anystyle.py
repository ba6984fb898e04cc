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
    """A tiny any-painting checkpoint trained 3 steps (2, then resumed for 1 with the initialized
    network frozen) and its export."""
    import os
    import shutil

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
                         iterations=2, size=32, batch=2, scale=64, code_size=8, painting_sides=(64,), painting_crops=1,
                         holdout_every=0, checkpoint_every=1)
    logs: list[str] = []
    train_anystyle(cfg, log=logs.append)
    shutil.copy(root / "any.pt", root / "any-step2.pt")
    cfg.iterations, cfg.base_lr_scale = 3, 0.0
    train_anystyle(cfg, resume=True, log=logs.append)
    report = export_onnx(root / "any.pt", root / "any.onnx")
    return root, paintings, logs, report


def test_training_resumes_and_export_matches_pytorch(tiny_anystyle):
    import torch

    from rtstyle.export import CODE_TOLERANCE

    root, _, logs, report = tiny_anystyle
    assert any("resumed" in line and "step 2" in line for line in logs)
    ckpt = torch.load(root / "any.pt", weights_only=True)
    assert ckpt["step"] == 3 and sum("/crop0+" in name for name in ckpt["bank"]) == 2  # a crop of each painting
    before = torch.load(root / "any-step2.pt", weights_only=True)["model"]
    moved = {k for k, v in ckpt["model"].items() if not torch.equal(v, before[k])}
    assert moved and all(not k.startswith("net.") for k in moved)  # --base-lr-scale holds after a resume
    assert (root / "any-encoder.onnx").is_file()
    assert report["max_abs_diff"] <= 1 / 255 and report["code_diff"] <= CODE_TOLERANCE  # z-scored tiny statistics amplify rounding


def test_a_new_network_can_start_from_a_trained_painting_encoder(tiny_anystyle):
    import torch

    from rtstyle.anystyle_train import AnyStyleConfig, build_models

    root = tiny_anystyle[0]
    trained = torch.load(root / "any.pt", weights_only=True)["encoder"]
    cfg = AnyStyleConfig(paintings=[], data="", output="", code_size=8, init_encoder=str(root / "any.pt"))
    net, encoder = build_models(cfg)
    assert all(torch.equal(v, trained[f"mlp.{k}"]) for k, v in encoder.mlp.state_dict().items())
    assert not net.to_norms.weight.any()  # the code → norms map starts anew


def test_codes_blend_and_change_the_picture(tiny_anystyle):
    from rtstyle.anystyle import blend_codes, open_painting_stylizer, use_paintings

    root, paintings, _, _ = tiny_anystyle
    stylizer = open_painting_stylizer([paintings[0]], model=root / "any.onnx", provider="cpu")
    a, b = (stylizer.painting_encoder(p) for p in paintings)
    assert a.shape == (1, 8 + 15) and not np.allclose(a, b)  # the code, then the painting's colours
    blend = blend_codes([a, b], [3, 1])
    np.testing.assert_allclose(blend[:, :8], 0.75 * a[:, :8] + 0.25 * b[:, :8], rtol=1e-5)
    np.testing.assert_allclose(blend[0, 8:11], 0.75 * a[0, 8:11] + 0.25 * b[0, 8:11], rtol=1e-5)  # mean colour
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
    cv2.imwrite(str(tmp_path / "panorama.png"), np.zeros((40, 20000, 3), np.uint8) + 90)
    assert load_painting(tmp_path / "grey16.png").shape == (512, 384, 3)
    assert load_painting(tmp_path / "rgba.png").dtype == np.uint8
    assert load_painting(tmp_path / "panorama.png").shape == (128, 512, 3)  # the central 4:1 part


# The command line, on the bundled any-painting network and `rtstyle learn`.

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from media import bomb_png, make_clip  # noqa: E402

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def run(*args, timeout=180, env=None):
    return subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def one_line_error(result) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rtstyle: error:"), result.stderr
    return lines[0]


@pytest.fixture
def scene(tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(2, 120, 90))
    paintings = _paintings(tmp_path / "paintings")
    return tmp_path, photo, paintings


def test_style_in_image_video_sheet_webcam_and_bench(scene):
    tmp, photo, (blue, orange) = scene
    r = run("image", photo, "--style", blue, "--style", orange, "--style-weights", "0.7,0.3", "-o", tmp / "blend.png")
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(tmp / "blend.png")).shape == (90, 120, 3)
    clip = make_clip(tmp / "clip.mp4", frames=12, size=(64, 48))
    r = run("video", clip, "--style", blue, "-o", tmp / "out.mp4")
    assert r.returncode == 0 and (tmp / "out.mp4").is_file(), r.stderr
    r = run("sheet", photo, "--style", tmp / "paintings", "-o", tmp / "sheet.png")
    assert r.returncode == 0 and "2 styles" in r.stderr + r.stdout, r.stderr
    r = run("webcam", "--style", tmp / "paintings", "--source", clip, "--headless", "--max-frames", "5")
    assert r.returncode == 0 and "style 1/2: painting0" in r.stderr + r.stdout, r.stderr
    r = run("bench", "--style", orange, "--frames", "2", "--size", "96x64")
    assert r.returncode == 0 and "anystyle: painting1.png" in r.stdout, r.stderr
    assert "not both" in one_line_error(run("image", photo, "-m", "mosaic", "--style", blue, "-o", tmp / "x.png"))
    assert "folder" in one_line_error(run("image", photo, "--style", tmp / "paintings", "-o", tmp / "x.png"))


def test_bad_paintings_one_line_or_a_picture(scene):
    tmp, photo, _ = scene
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "notes.jpg").write_text("not an image")
    cv2.imwrite(str(tmp / "tiny.png"), np.full((8, 8, 3), 120, np.uint8))
    bomb_png(tmp / "bomb.png")
    for bad in ("empty.png", "notes.jpg", "tiny.png", "bomb.png", "missing.png"):
        one_line_error(run("image", photo, "--style", tmp / bad, "-o", tmp / "out.png"))
        assert not (tmp / "out.png").exists()
    cv2.imwrite(str(tmp / "grey.png"), np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)))
    cv2.imwrite(str(tmp / "deep.png"), np.full((48, 64, 3), 50000, np.uint16))
    cv2.imwrite(str(tmp / "alpha.png"), np.dstack([np.full((48, 64, 3), 90, np.uint8), np.zeros((48, 64), np.uint8)]))
    cv2.imwrite(str(tmp / "panorama.png"), np.tile(pattern(1, 400, 20), (1, 50, 1)))  # 20000 x 20
    for fine in ("grey.png", "deep.png", "alpha.png", "panorama.png"):
        r = run("image", photo, "--style", tmp / fine, "-o", tmp / f"out-{fine}")
        assert r.returncode == 0, (fine, r.stderr)
        assert cv2.imread(str(tmp / f"out-{fine}")).shape == (90, 120, 3)


def _learn(tmp, painting, *extra, **kwargs):
    return run("learn", painting, "-o", tmp / "mine.onnx", "--photos", tmp / "photos", *extra, **kwargs)


@pytest.fixture
def learn_scene(scene):
    tmp, photo, paintings = scene
    (tmp / "photos").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp / "photos" / f"p{i}.jpg"), pattern(i * 3 + 1, 96, 72))
    return tmp, photo, paintings[0]


def test_learn_end_to_end_makes_a_normal_model(learn_scene):
    tmp, photo, painting = learn_scene
    r = _learn(tmp, painting, "--minutes", "0.05")
    assert r.returncode == 0, r.stderr
    assert not (tmp / "mine.onnx.learn.pt").exists()  # finished: no state left behind
    r = run("image", photo, "-m", tmp / "mine.onnx", "-o", tmp / "out.png")
    assert r.returncode == 0 and cv2.imread(str(tmp / "out.png")).shape == (90, 120, 3), r.stderr
    card = run("info", tmp / "mine.onnx").stdout
    assert "learn.painting        painting0.png" in card and "learn.steps" in card


def test_learn_bad_inputs_are_one_line(learn_scene, tmp_path_factory):
    tmp, photo, painting = learn_scene
    empty = tmp_path_factory.mktemp("empty")
    assert "no images" in one_line_error(run("learn", painting, "-o", tmp / "a.onnx", "--photos", empty))
    junk = tmp_path_factory.mktemp("junk")
    (junk / "x.jpg").write_text("no")
    one_line_error(run("learn", painting, "-o", tmp / "a.onnx", "--photos", junk))
    one_line_error(run("learn", tmp / "photos", "-o", tmp / "a.onnx"))  # a folder is no painting
    assert not (tmp / "a.onnx").exists()


def test_learn_ctrl_c_keeps_a_working_model_and_a_kill_resumes(learn_scene):
    tmp, photo, painting = learn_scene
    proc = subprocess.Popen([*RTSTYLE, "learn", str(painting), "-o", str(tmp / "mine.onnx"), "--photos", str(tmp / "photos"),
                             "--minutes", "5", "--checkpoint-every", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp / "mine.onnx.learn.pt"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    r = run("image", photo, "-m", tmp / "mine.onnx", "-o", tmp / "out.png")
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen([*RTSTYLE, "learn", str(painting), "-o", str(tmp / "mine.onnx"), "--photos", str(tmp / "photos"),
                             "--minutes", "5", "--checkpoint-every", "0", "--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mtime = state.stat().st_mtime
    deadline = time.time() + 120
    while state.stat().st_mtime == mtime and time.time() < deadline:
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)  # killed mid-run: the state it last wrote resumes
    proc.wait()
    r = _learn(tmp, painting, "--minutes", "0.01", "--resume")
    assert r.returncode == 0 and "resumed" in r.stderr + r.stdout, r.stderr


def test_train_any_options_match_the_config():
    from dataclasses import fields

    from rtstyle.anystyle_train import AnyStyleConfig
    from rtstyle.cli.train_any import DEFAULTS

    defaults = {f.name: f.default for f in fields(AnyStyleConfig)}
    assert {k: defaults[k] for k in DEFAULTS} == DEFAULTS


def test_a_fixed_style_folds_into_plain_norms_and_the_sampled_colour_step_stays_close():
    """learn's export: the style's norm offsets folded into plain instance norms give the same
    network; the run-time colour step (statistics on every third pixel) stays near the exact one."""
    import torch

    from rtstyle.anystyle import palette_statistics
    from rtstyle.networks import RUN_PALETTE_SAMPLE, AnyStyleNet, NetConfig, OneStyleNet, StyleNorm, match_palette

    torch.manual_seed(0)
    net = AnyStyleNet(NetConfig(arch="fast", channels=(4, 8), residual_blocks=1), code_size=8)
    torch.nn.init.normal_(net.to_norms.weight, std=0.3)  # a real style moves the norms (zero-init moves nothing)
    painting = cv2.cvtColor(pattern(0, 64, 48), cv2.COLOR_BGR2RGB)
    style = torch.cat([torch.randn(1, 8), torch.from_numpy(palette_statistics(painting))[None]], 1)
    one = OneStyleNet(net, style).eval()
    folded = one.folded().eval()
    assert not any(isinstance(m, StyleNorm) for m in folded.modules())
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        assert torch.allclose(one(x), folded(x), atol=1e-5)
        y = folded.body(x)
        exact, sampled = match_palette(y, folded.palette), folded.finish(y)
    assert RUN_PALETTE_SAMPLE % 2 == 1  # an even step reads one phase of a 2-pixel checker
    assert (exact - sampled).abs().mean() < 0.02 and not torch.equal(exact, sampled)


def test_a_painting_runs_in_tiles_with_the_whole_pictures_colours(tmp_path):
    """Over the memory budget, the any-painting network runs in tiles; its colour step measures
    the whole picture (as its norms do), so the tiles give the whole picture's result, no seams."""
    from rtstyle.anystyle import open_painting_stylizer
    from rtstyle.tiling import TiledStylizer

    blue, _ = _paintings(tmp_path / "paintings")
    stylizer = open_painting_stylizer([blue], provider="cpu")
    frame = pattern(5, 301, 203)
    frame[:, :150] //= 3  # a dark half: tiles alone would each stretch their own colours
    whole = stylizer(frame)
    tiled = TiledStylizer(stylizer, budget=0, tile_side=224, always_whole=0)
    out = tiled(frame)
    assert tiled.last_tiles >= 4 and np.abs(out.astype(int) - whole).max() <= 1


def test_checker_energy_sees_a_pixel_grid_pattern_not_texture():
    import torch

    from rtstyle.vgg import checker_energy

    rng = np.random.default_rng(0)
    smooth = torch.from_numpy(cv2.GaussianBlur(rng.random((64, 64, 3)).astype(np.float32), (0, 0), 3)).permute(2, 0, 1)[None]
    noise = rng.random((64, 64, 3)).astype(np.float32)
    texture = torch.from_numpy(cv2.GaussianBlur(noise, (0, 0), 1)).permute(2, 0, 1)[None]  # fine (std 0.08), not locked to the grid
    grid = (torch.arange(64)[:, None] + torch.arange(64)[None, :]).remainder(2).float()
    checker = smooth + 0.1 * (grid - 0.5)
    e = {name: checker_energy(x).item() for name, x in (("smooth", smooth), ("texture", texture), ("checker", checker))}
    assert e["checker"] > 0.002 and e["smooth"] < e["checker"] / 100 and e["texture"] < e["checker"] / 5
