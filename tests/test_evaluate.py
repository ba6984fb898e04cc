"""The evaluation protocol's measures (per-layer style, palette, other sizes, existing results) and the balanced style loss."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from media import pattern

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


@pytest.fixture
def pair(tmp_path):
    """A photo (gradients and a checkerboard) and a style image of saturated colour blocks."""
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(3, 96, 64))
    rng = np.random.default_rng(0)
    palette = np.array([[20, 30, 200], [200, 60, 20], [30, 200, 240], [120, 20, 120]], np.uint8)
    blocks = palette[rng.integers(0, 4, (8, 8))]
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), cv2.resize(blocks, (80, 80), interpolation=cv2.INTER_NEAREST))
    return photo, style


def test_sliced_wasserstein():
    from rtstyle.evaluate import sliced_wasserstein

    a = np.random.default_rng(0).normal(size=(5000, 3)).astype(np.float32)
    assert sliced_wasserstein(a, a) == 0.0
    assert sliced_wasserstein(a, a[::-1].copy()) == pytest.approx(0.0, abs=1e-6)  # order does not matter
    # A shift by t moves each projection by |t·d|: the mean over random unit directions d of 3-D is |t|/2.
    assert sliced_wasserstein(a, a + np.float32([10, 0, 0]), projections=4096) == pytest.approx(5.0, rel=0.05)


def test_palette_and_layer_endpoints(pair):
    from rtstyle.evaluate import STYLE_LAYERS, QualityMeter, load_rgb

    photo_path, style_path = pair
    meter = QualityMeter(style_path)
    photo = load_rgb(photo_path)
    same = meter.measure(photo, photo)
    assert same.palette_rel == pytest.approx(1.0)
    assert same.style_rel_layers == pytest.approx(1.0) and set(same.style_layer_rel) == set(STYLE_LAYERS)
    assert all(v == pytest.approx(1.0) for v in same.style_layer_rel.values())
    painted = meter.measure(photo, load_rgb(style_path, 512))  # the painting itself, stretched to the photo
    assert painted.palette_rel < 0.05
    # Every other column the painting's: a palette between the two.
    half = photo.copy()
    half[:, ::2] = cv2.resize(load_rgb(style_path, 512), photo.shape[1::-1], interpolation=cv2.INTER_NEAREST)[:, ::2]
    assert 0.2 < meter.measure(photo, half).palette_rel < 0.8
    grey = np.full_like(photo, 128)
    assert meter.measure(photo, grey).palette_rel > 0.5  # a washed-out result is far from the painting


def test_evaluate_stylizes_at_the_given_size(pair):
    from rtstyle.evaluate import evaluate

    photo_path, style_path = pair
    seen = []

    def identity(rgb):
        seen.append(rgb.shape)
        return rgb

    at_1080 = evaluate(identity, style_path, [photo_path], size=1080)
    assert seen == [(720, 1080, 3)]
    assert at_1080[0].palette_rel == pytest.approx(1.0, abs=0.05) and at_1080[0].content_rel < 0.05


def test_cli_measures_existing_outputs(pair, tmp_path):
    photo_path, style_path = pair
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    cv2.imwrite(str(outputs / "photo.jpg"), cv2.resize(cv2.imread(str(style_path)), (192, 128)))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "photo.png").write_bytes(photo_path.read_bytes())
    run = subprocess.run([*RTSTYLE, "evaluate", "-s", str(style_path), "--images", str(folder), "--outputs", str(outputs), "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    import json

    summary = json.loads(run.stdout)
    assert summary["palette_rel_mean"] < 0.1 and summary["style_rel_mean"] < 1
    assert set(summary["style_layer_rel_mean"]) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
    one = subprocess.run([*RTSTYLE, "evaluate", "-s", str(style_path), "--images", str(photo_path), "--outputs", str(photo_path)],
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    assert "palette_rel 1.000" in one.stdout and "style_rel_layers 1.000" in one.stdout
    for bad in (["mosaic", "--outputs", str(outputs)], ["--outputs", str(tmp_path / "nothing")]):
        result = subprocess.run([*RTSTYLE, "evaluate", *bad, "-s", str(style_path), "--images", str(folder)], capture_output=True, text=True)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    painting = subprocess.run([*RTSTYLE, "evaluate", "-s", str(style_path), "--images", str(folder), "--json"],
                              capture_output=True, text=True)  # no MODEL: the any-painting network on the style image
    assert painting.returncode == 0 and json.loads(painting.stdout)["model"].startswith("anystyle"), painting.stderr


def _loss(style_path, balance):
    from rtstyle.train import PerceptualLoss, TrainConfig

    config = TrainConfig(style=str(style_path), data=".", output="x.pt", style_balance=balance)
    return PerceptualLoss(config, cv2.imread(str(style_path))[..., ::-1].copy(), torch.device("cpu"))


def _tensor(rgb):
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255


def test_balanced_style_loss_is_the_mean_of_the_layer_ratios(pair):
    """Calibrated on the photo itself, the training term is the mean of the layers' ratios (evaluate's style_rel_layers)."""
    from rtstyle.evaluate import load_rgb
    from rtstyle.vgg import STYLE_LAYERS, style_layer_distances

    photo_path, style_path = pair
    photo = _tensor(load_rgb(photo_path, 64))
    result = _tensor(cv2.GaussianBlur(load_rgb(photo_path, 64), (5, 5), 0))
    loss = _loss(style_path, "layer")
    assert set(loss.calibrate(photo)) == set(STYLE_LAYERS)
    dy = style_layer_distances(loss.vgg(result, STYLE_LAYERS), loss.grams)
    dx = style_layer_distances(loss.vgg(photo, STYLE_LAYERS), loss.grams)
    assert loss(photo, result)["style"].item() == pytest.approx(np.mean([(dy[k] / dx[k]).item() for k in dy]), rel=1e-4)
    assert loss(photo, photo)["style"].item() == pytest.approx(1.0, rel=1e-4)
    loss.config.style_layer_weights = (0, 0, 0, 0, 1)  # --style-layer-weights: only relu5_1 counts
    assert loss(photo, result)["style"].item() == pytest.approx((dy["relu5_1"] / dx["relu5_1"]).item(), rel=1e-4)
    loss.config.style_layer_weights = (1, 1, 0, 0, 0)
    assert loss(photo, result)["style"].item() == pytest.approx(np.mean([(dy[k] / dx[k]).item() for k in ("relu1_1", "relu2_1")]), rel=1e-4)


def test_balanced_loss_follows_the_colour_layer(pair):
    """The sum's gradient is relu4_1's; the balanced one also points where relu1_1 (colour) wants to go."""
    from rtstyle.evaluate import load_rgb
    from rtstyle.vgg import style_layer_distances

    photo_path, style_path = pair
    photo = _tensor(load_rgb(photo_path, 64))
    sum_loss, layer_loss = _loss(style_path, "sum"), _loss(style_path, "layer")
    layer_loss.calibrate(photo)

    def gradient(term):
        out = photo.clone().requires_grad_(True)
        return torch.autograd.grad(term(out), out)[0].flatten()

    colour = gradient(lambda out: style_layer_distances(sum_loss.vgg(out, ["relu1_1"]), {"relu1_1": sum_loss.grams["relu1_1"]})["relu1_1"].sum())
    cosine = lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim=0).item()
    summed = cosine(gradient(lambda out: sum_loss(photo, out)["style"]), colour)
    balanced = cosine(gradient(lambda out: layer_loss(photo, out)["style"]), colour)
    assert balanced > summed + 0.1 and balanced > 0.2, (summed, balanced)


def test_train_keeps_the_layer_scales_and_refuses_a_mixed_resume(tmp_path, pair):
    from rtstyle.vgg import STYLE_LAYERS

    photo_path, style_path = pair
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.jpg"), pattern(i * 7, 80, 60))
    ckpt = tmp_path / "m.pt"
    args = ["train", "--style", style_path, "--data", folder, "-o", ckpt, "--size", 32, "--batch", 2, "--scale", 64,
            "--checkpoint-every", 2, "--iterations", 2]
    first = subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    state = torch.load(ckpt, weights_only=True)
    assert state["config"]["style_balance"] == "layer" and set(state["style_layer_norms"]) == set(STYLE_LAYERS)
    assert all(v > 0 for v in state["style_layer_norms"].values())
    mixed = subprocess.run([*RTSTYLE, *map(str, args), "--resume", "--style-balance", "sum", "--iterations", "4"], capture_output=True, text=True)
    assert mixed.returncode == 2 and "style-balance" in mixed.stderr and "Traceback" not in mixed.stderr
    for wrong in (["--style-balance", "max"], ["--style-layer-weights", "1,1,1"], ["--style-layer-weights", "a,b"],
                  ["--style-layer-weights", "0,0,0,0,0"], ["--style-balance", "sum", "--style-layer-weights", "1,1,1,1,0"]):
        bad = subprocess.run([*RTSTYLE, *map(str, args), "-o", str(tmp_path / "other.pt"), *wrong], capture_output=True, text=True)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, (wrong, bad.stderr)


def test_cli_stylizes_through_the_frame_controls(pair, tiny_model):
    """--size 1024 with the default stroke scale runs the network at 512 px; 'native' at 1024."""
    import json

    photo_path, style_path = pair
    base = [*RTSTYLE, "evaluate", str(tiny_model), "-s", str(style_path), "--images", str(photo_path), "--size", "1024", "--json"]
    default = subprocess.run(base, capture_output=True, text=True)
    native = subprocess.run([*base, "--stroke-scale", "native"], capture_output=True, text=True)
    assert default.returncode == 0 and native.returncode == 0, default.stderr + native.stderr
    d, n = json.loads(default.stdout), json.loads(native.stdout)
    assert d["size"] == 1024 and "strokes x1" in d["controls"] and "strokes native" in n["controls"]
    assert d["per_image"][0]["style_rel"] != n["per_image"][0]["style_rel"]
    bad = subprocess.run([*base, "--stroke-scale", "big"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--stroke-scale" in bad.stderr and "Traceback" not in bad.stderr
