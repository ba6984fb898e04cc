import subprocess
import sys

import cv2
import numpy as np
import pytest
from media import make_clip, pattern, read_video

from rtstyle.controls import NATIVE, FrameControls, guided_upsample
from rtstyle.stylizer import Stylizer


def invert(frame):
    return 255 - frame


class Recorder:
    """A network stand-in that inverts and remembers the sizes it was given."""

    def __init__(self):
        self.shapes = []

    def __call__(self, frame):
        self.shapes.append(frame.shape)
        return 255 - frame


def edges(width, height):
    """Sharp-edged shapes on a gradient: what a blurry upsample gets visibly wrong."""
    image = pattern(0, width, height)
    cv2.rectangle(image, (width // 5, height // 4), (width // 2, 3 * height // 4), (250, 250, 250), -1)
    cv2.circle(image, (3 * width // 4, height // 2), height // 4, (10, 10, 10), -1)
    for x in range(0, width, 7):
        cv2.line(image, (x, 0), (x, height // 6), (255, 255, 255), 1)
    return image


@pytest.mark.parametrize("controls, size, expected", [
    (FrameControls(), (640, 480), (512, 384)),
    (FrameControls(), (1920, 1080), (512, 288)),
    (FrameControls(), (1080, 1920), (288, 512)),
    (FrameControls(stroke_scale=2), (1920, 1080), (256, 144)),
    (FrameControls(stroke_scale=0.5), (1920, 1080), (1024, 576)),
    (FrameControls(stroke_scale=NATIVE), (1920, 1080), (1920, 1080)),
    (FrameControls(), (320, 240), (320, 240)),  # never upscaled unless asked
    (FrameControls(upscale=True), (320, 240), (512, 384)),
    (FrameControls(max_side=400), (640, 480), (400, 300)),
    (FrameControls(stroke_scale=NATIVE, max_side=960), (1920, 1080), (960, 540)),
    (FrameControls(stroke_scale=100), (640, 480), (32, 24)),  # not below 32 px
])
def test_working_size(controls, size, expected):
    assert controls.working_size(*size) == expected


def test_the_network_runs_at_the_working_size_and_the_output_has_the_frame_size():
    network = Recorder()
    frame = edges(1280, 720)
    out = FrameControls(stroke_scale=2.0).apply(network, frame)
    assert network.shapes == [(144, 256, 3)]
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_native_passes_the_frame_straight_through():
    network = Recorder()
    frame = edges(160, 120)
    out = FrameControls(stroke_scale=NATIVE).apply(network, frame)
    assert network.shapes == [(120, 160, 3)]
    np.testing.assert_array_equal(out, 255 - frame)


def test_guided_upsample_keeps_edges_that_a_plain_resize_blurs():
    frame = edges(640, 480)
    small = cv2.resize(frame, (160, 120), interpolation=cv2.INTER_AREA)
    for network in (lambda x: x, invert):  # follows the input's luminance, or its opposite
        truth = network(frame).astype(np.float32)
        guided = guided_upsample(network(small), small, frame)
        cubic = cv2.resize(network(small), (640, 480), interpolation=cv2.INTER_CUBIC)
        guided_err = np.abs(guided.astype(np.float32) - truth).mean()
        cubic_err = np.abs(cubic.astype(np.float32) - truth).mean()
        assert guided.shape == frame.shape
        assert guided_err < 0.75 * cubic_err, (guided_err, cubic_err)


def test_guided_upsample_leaves_texture_the_input_does_not_have():
    # A flat frame painted with stripes: nothing to follow, so the stripes are simply enlarged.
    frame = np.full((240, 320, 3), 128, np.uint8)
    small = cv2.resize(frame, (80, 60))
    stripes = np.zeros((60, 80, 3), np.uint8)
    stripes[:, ::4] = 255
    out = guided_upsample(stripes, small, frame, sharpen=0)
    np.testing.assert_array_equal(out, cv2.resize(stripes, (320, 240), interpolation=cv2.INTER_CUBIC))


def test_guided_upsample_sharpens_thin_strokes_and_keeps_flat_areas_flat():
    frame = np.full((240, 320, 3), 128, np.uint8)
    small = cv2.resize(frame, (80, 60))
    painted = np.full((60, 80, 3), 120, np.uint8)
    painted[:, 40::2] = 150  # one-pixel strokes on the right half, flat on the left
    plain = guided_upsample(painted, small, frame, sharpen=0).astype(np.float32)
    sharp = guided_upsample(painted, small, frame).astype(np.float32)
    assert sharp[:, 170:].std() > 1.1 * plain[:, 170:].std()
    np.testing.assert_array_equal(sharp[:, :150], plain[:, :150])
    assert abs(sharp[:, 170:].mean() - plain[:, 170:].mean()) < 1  # contrast, not a tint


def test_strength_blends_with_the_frame_and_zero_skips_the_network():
    frame = np.full((48, 64, 3), 200, np.uint8)
    half = FrameControls(strength=0.5, stroke_scale=NATIVE).apply(invert, frame)
    assert np.abs(half.astype(int) - 128).max() <= 1  # (55 + 200) / 2
    network = Recorder()
    none = FrameControls(strength=0.0).apply(network, frame)
    np.testing.assert_array_equal(none, frame)
    assert network.shapes == [] and none is not frame


def test_preserve_color_keeps_the_frames_chroma_and_the_styles_luminance():
    frame = pattern(3, 96, 64)
    out = FrameControls(preserve_color=True, stroke_scale=NATIVE).apply(invert, frame)
    out_ycc, frame_ycc = (cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb).astype(int) for x in (out, frame))
    stylized_y = cv2.cvtColor(invert(frame), cv2.COLOR_BGR2GRAY).astype(int)
    # Where the round trip through YCrCb does not clip, both parts come back within rounding.
    inside = (out.min(axis=2) > 2) & (out.max(axis=2) < 253)
    assert inside.mean() > 0.5
    assert np.abs(out_ycc[..., 0] - stylized_y)[inside].max() <= 2
    assert np.abs(out_ycc[..., 1:] - frame_ycc[..., 1:])[inside].max() <= 3


def test_controls_read_on_every_call_so_they_can_change_live():
    controls = FrameControls(stroke_scale=NATIVE)
    process = controls.wrap(invert)
    frame = np.full((32, 32, 3), 200, np.uint8)
    assert process(frame)[0, 0, 0] == 55
    controls.strength = 0.0
    assert process(frame)[0, 0, 0] == 200


@pytest.mark.parametrize("kwargs", [{"strength": 1.5}, {"strength": -0.1}, {"max_side": 8}, {"stroke_scale": 0}])
def test_bad_values_are_refused(kwargs):
    with pytest.raises(ValueError):
        FrameControls(**kwargs)


def test_with_the_real_stylizer(tiny_model):
    stylizer = Stylizer(tiny_model, provider="cpu")
    frame = edges(400, 300)
    out = FrameControls(strength=0.8, preserve_color=True, stroke_scale=4.0).apply(stylizer, frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frame)
    assert "strength 0.80, colour kept, strokes x4" == FrameControls(strength=0.8, preserve_color=True, stroke_scale=4.0).describe()


# The options on the command line, as a user runs them.

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def run(*args):
    return subprocess.run([*RTSTYLE, *map(str, args)], check=False, capture_output=True, text=True, timeout=120)


def test_image_options_reach_the_output(tiny_model, tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(2, 96, 64))
    none = run("image", photo, "-m", tiny_model, "-o", tmp_path / "none.png", "--strength", "0")
    assert none.returncode == 0, none.stderr
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "none.png")), cv2.imread(str(photo)))
    full = run("image", photo, "-m", tiny_model, "-o", tmp_path / "full.png")
    kept = run("image", photo, "-m", tiny_model, "-o", tmp_path / "kept.png", "--preserve-color", "--stroke-scale", "native")
    assert full.returncode == 0 and kept.returncode == 0, full.stderr + kept.stderr
    full_img, kept_img = (cv2.imread(str(tmp_path / n)) for n in ("full.png", "kept.png"))
    assert full_img.shape == kept_img.shape == (64, 96, 3)
    chroma = lambda image: cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(int)
    assert np.abs(chroma(kept_img) - chroma(cv2.imread(str(photo)))).mean() < np.abs(chroma(full_img) - chroma(cv2.imread(str(photo)))).mean()


@pytest.mark.parametrize("option, value", [("--stroke-scale", "huge"), ("--stroke-scale", "0"), ("--strength", "1.5"), ("--max-side", "4")])
def test_bad_control_values_are_one_line_errors(tiny_model, tmp_path, option, value):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(2, 32, 32))
    result = run("image", photo, "-m", tiny_model, "-o", tmp_path / "out.png", option, value)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rtstyle: error:"), result.stderr


def test_video_takes_the_controls_and_the_renamed_stabilizer_strength(tiny_model, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=6, size=(96, 64), fps=12, audio=False)
    out = tmp_path / "out.mp4"
    result = run("video", clip, "-m", tiny_model, "-o", out, "--strength", "0.5", "--max-side", "48", "--stabilizer-strength", "0.3")
    assert result.returncode == 0, result.stderr
    video = read_video(out)
    assert (video["frames"], video["size"]) == (6, (96, 64))
