"""rtstyle.pipeline.Pipeline: one per-frame path for every command and the Python API."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from media import pattern
from rtstyle import Pipeline, Stylizer, UserError
from rtstyle.imageio import read_image

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]
CONTROLS = ["--stroke-scale", "1.5", "--strength", "0.8", "--preserve-color", "--threads", "1"]  # one thread: the same sums


def run(*args):
    return subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_image_batch_and_the_python_api_give_the_same_pixels(tiny_model, tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(2, 701, 433))  # above the 512 px working size: shrunk and upsampled back
    image_out, batch_out = tmp_path / "image.png", tmp_path / "batch"

    image = run("image", photo, "-m", tiny_model, "-o", image_out, *CONTROLS)
    assert image.returncode == 0, image.stderr
    batch = run("batch", photo, "-m", tiny_model, "-o", batch_out, "--workers", 1, *CONTROLS)
    assert batch.returncode == 0, batch.stderr
    assert "1 workers x 1 threads" in batch.stderr
    api = Pipeline(tiny_model, stroke_scale=1.5, strength=0.8, preserve_color=True, threads=1)(read_image(photo))

    from_image, from_batch = cv2.imread(str(image_out)), cv2.imread(str(batch_out / "photo.png"))
    assert from_image.shape == api.shape == (433, 701, 3)
    np.testing.assert_array_equal(from_image, api)
    np.testing.assert_array_equal(from_batch, api)
    # The bare network (what batch ran before) paints other pixels: the controls are in the path.
    assert np.abs(Stylizer(tiny_model)(read_image(photo)).astype(int) - api).mean() > 1


def test_reset_starts_a_new_clip(tiny_model):
    pipeline = Pipeline(tiny_model, stabilize=True, stabilizer_strength=0.9)
    first, second = pattern(0, 96, 64), pattern(1, 96, 64)
    alone = pipeline(second)
    pipeline.reset()
    pipeline(first)
    blended = pipeline(second)  # the previous output, warped, is blended in
    assert np.abs(blended.astype(int) - alone).mean() > 0.5
    pipeline.reset()
    np.testing.assert_array_equal(pipeline(second), alone)


def test_describe_stages_and_bad_input(tiny_model):
    pipeline = Pipeline(tiny_model, stroke_scale="native", strength=0.5, stabilize=True, network_budget=3 * 10**9)
    assert pipeline.describe() == "tiny (quality tier) on CPU: strength 0.50, style colours, strokes native; stabilizer 0.6"
    assert pipeline.stages(640, 480) == ["network at 640x480 (in tiles above 3 GB)", "stabilizer 0.6", "strength 0.5"]
    shrinking = Pipeline(tiny_model, stroke_scale=2, preserve_color=True, network_budget=10**9)
    assert shrinking.stages(1024, 768) == [
        "shrink 1024x768 to 256x192", "network at 256x192 (in tiles above 1 GB)", "guided upsample to 1024x768", "colour kept",
    ]
    with pytest.raises(ValueError, match="uint8"):
        pipeline(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(UserError, match="--stroke-scale"):
        Pipeline(tiny_model, stroke_scale="big")


def test_import_rtstyle_loads_no_runtime():
    code = "import sys, rtstyle; sys.exit(1 if {'onnxruntime', 'torch', 'cv2'} & set(sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
