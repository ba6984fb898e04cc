import subprocess
import sys

import cv2
import numpy as np
import pytest

from media import bomb_jpeg, bomb_png, pattern
from rtstyle.errors import UserError
from rtstyle.imageio import check_image, read_image

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), pattern(3, 61, 43))
    return path


def assert_one_line_error(result, match):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rtstyle: error:") and match in lines[0], result.stderr


@pytest.mark.parametrize("make", [bomb_png, bomb_jpeg])
def test_a_header_claiming_60000x60000_is_refused_before_decoding(tmp_path, make):
    bomb = make(tmp_path / "bomb.img")
    assert bomb.stat().st_size < 100
    with pytest.raises(UserError, match=r"claims 60000x60000 \(3600 megapixels\), over the limit of 100"):
        check_image(bomb)
    with pytest.raises(UserError, match="claims 60000x60000"):
        read_image(bomb)


def test_the_limit_is_set_by_an_environment_variable(photo, monkeypatch):
    assert check_image(photo) == (61, 43)
    monkeypatch.setenv("RTSTYLE_MAX_MEGAPIXELS", "0.002")  # 2000 pixels; the photo has 2623
    with pytest.raises(UserError, match="claims 61x43"):
        read_image(photo)
    monkeypatch.setenv("RTSTYLE_MAX_MEGAPIXELS", "lots")
    with pytest.raises(UserError, match="RTSTYLE_MAX_MEGAPIXELS must be a positive number"):
        check_image(photo)


def test_opencvs_own_limit_is_a_user_error_too(tmp_path, monkeypatch):
    # Above OpenCV's 1 gigapixel (its CV_IO_MAX_IMAGE_PIXELS) when the user raised rtstyle's limit.
    monkeypatch.setenv("RTSTYLE_MAX_MEGAPIXELS", "5000")
    with pytest.raises(UserError, match="cannot decode image"):
        read_image(bomb_png(tmp_path / "bomb.png"))


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.png", "no such image file"),
    (lambda d: (d / "notes.png").write_text("hello") and d / "notes.png", "corrupt or not an image"),
    (lambda d: (d / "empty.jpg").write_bytes(b"") or d / "empty.jpg", "corrupt or not an image"),
])
def test_bad_images_are_user_errors(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        read_image(make(tmp_path))


def test_a_truncated_image_passes_the_header_check_and_fails_to_decode(photo, tmp_path):
    cut = tmp_path / "cut.png"
    cut.write_bytes(photo.read_bytes()[:60])
    assert check_image(cut) == (61, 43)
    with pytest.raises(UserError, match="cannot decode image"):
        read_image(cut)


def test_evaluate_reads_through_the_same_check(tmp_path):
    from rtstyle.evaluate import load_rgb

    with pytest.raises(UserError, match="claims 60000x60000"):
        load_rgb(bomb_png(tmp_path / "bomb.png"))


@pytest.mark.parametrize("command", [
    lambda bomb, ok, d: ["image", bomb, "-m", "mosaic-fast", "-o", d / "out.png"],
    lambda bomb, ok, d: ["image", ok, bomb, "-m", "mosaic-fast", "-o", d / "out"],
    lambda bomb, ok, d: ["still", bomb, "-s", ok, "-o", d / "out.png", "--iterations", "10"],
    lambda bomb, ok, d: ["still", ok, "-s", bomb, "-o", d / "out.png", "--iterations", "10"],
    lambda bomb, ok, d: ["train", "-s", bomb, "--data", d, "-o", d / "out.pt", "--iterations", "1"],
], ids=["image", "image-second", "still-content", "still-style", "train-style"])
def test_a_bomb_is_one_line_and_exit_2_in_every_command(tmp_path, photo, command):
    bomb = bomb_png(tmp_path / "bomb.png")
    result = subprocess.run([*RTSTYLE, *map(str, command(bomb, photo, tmp_path))], capture_output=True, text=True, timeout=120)
    assert_one_line_error(result, "claims 60000x60000")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png", "photo.png"]


def test_train_refuses_a_bomb_among_its_photos(tmp_path, photo):
    data = tmp_path / "data"
    data.mkdir()
    cv2.imwrite(str(data / "a.png"), pattern(1, 64, 64))
    bomb_png(data / "b.png")
    result = subprocess.run(
        [*RTSTYLE, "train", "-s", str(photo), "--data", str(data), "-o", str(tmp_path / "out.pt"), "--iterations", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert_one_line_error(result, "claims 60000x60000")


# The real command line, with read_image and write_image logging each call on stderr.
LOGGED = """
import sys
import rtstyle.imageio as m
from rtstyle.cli import main
read, write = m.read_image, m.write_image
m.read_image = lambda p: print("read", p.name, file=sys.stderr) or read(p)
m.write_image = lambda p, im: print("write", p.name, file=sys.stderr) or write(p, im)
sys.argv = ["rtstyle", *sys.argv[1:]]
main()
"""


def run_logged(*args):
    result = subprocess.run([sys.executable, "-c", LOGGED, *map(str, args)], capture_output=True, text=True, timeout=120)
    calls = [line for line in result.stderr.splitlines() if line.startswith(("read ", "write "))]
    return result, calls


def test_image_checks_every_input_then_reads_and_writes_one_at_a_time(tmp_path, photo, tiny_model):
    second = tmp_path / "second.png"
    cv2.imwrite(str(second), pattern(5, 40, 30))
    out = tmp_path / "out"
    result, calls = run_logged("image", photo, second, "-m", tiny_model, "-o", out, "--provider", "cpu")
    assert result.returncode == 0, result.stderr
    assert calls == ["read photo.png", "write photo.png", "read second.png", "write second.png"]
    assert read_image(out / "second.png").shape == (30, 40, 3)

    # A bad path anywhere in the list fails before anything is read in full or written.
    result, calls = run_logged("image", photo, second, tmp_path / "missing.png", "-m", tiny_model, "-o", tmp_path / "out2")
    assert_one_line_error(result, "no such image file")
    assert calls == [] and not (tmp_path / "out2").exists()


def test_image_refuses_two_inputs_with_one_name(tmp_path, photo, tiny_model):
    (tmp_path / "sub").mkdir()
    twin = tmp_path / "sub" / "photo.png"
    twin.write_bytes(photo.read_bytes())
    result = subprocess.run([*RTSTYLE, "image", str(photo), str(twin), "-m", str(tiny_model), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert_one_line_error(result, "same file name")
    assert list((tmp_path / "out").iterdir()) == []
