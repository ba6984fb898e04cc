"""The command line as a user runs it: real processes, real files, exit statuses."""

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from media import make_clip, pattern, read_video

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def run(*args, cwd=None, timeout=120):
    return subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def assert_one_line_error(result):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("rtstyle: error:"), result.stderr


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), pattern(3, 61, 43))  # odd size on purpose
    return path


def test_run_side_does_not_import_torch():
    code = (
        "import sys, rtstyle.cli, rtstyle.stylizer, rtstyle.videoio, rtstyle.capture, rtstyle.temporal, rtstyle.bench, rtstyle.registry;"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("webcam", "video", "image", "export", "info", "train", "evaluate", "still", "bench", "flicker"):
        assert command in result.stdout


def test_image_single_and_many(tiny_model, photo, tmp_path):
    out = tmp_path / "out.jpg"
    result = run("image", photo, "-m", tiny_model, "-o", out)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(out)).shape == (43, 61, 3)
    second = tmp_path / "second.png"
    cv2.imwrite(str(second), pattern(7, 32, 24))
    folder = tmp_path / "styled"
    result = run("image", photo, second, "--model", tiny_model, "--output", folder)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["photo.png", "second.png"]


def test_bundled_model_by_name_from_any_folder(photo, tmp_path):
    from rtstyle.registry import bundled_styles

    if "mosaic" not in bundled_styles():
        pytest.skip("no bundled models in this checkout")
    for name in ("mosaic", "mosaic.onnx"):
        out = tmp_path / f"{name}.png"
        result = run("image", photo, "-m", name, "-o", out, "--provider", "cpu", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert cv2.imread(str(out)).shape == (43, 61, 3)


@pytest.mark.parametrize("case", ["missing", "corrupt", "same-as-input", "bad-model", "no-such-model", "unknown-option"])
def test_bad_input_is_one_line_and_exit_2(case, tiny_model, photo, tmp_path):
    args = {
        "missing": ["image", tmp_path / "nope.jpg", "-m", tiny_model, "-o", tmp_path / "o.jpg"],
        "corrupt": ["image", tmp_path / "corrupt.jpg", "-m", tiny_model, "-o", tmp_path / "o.jpg"],
        "same-as-input": ["image", photo, "-m", tiny_model, "-o", photo],
        "bad-model": ["image", photo, "-m", tmp_path / "bad.onnx", "-o", tmp_path / "o.jpg"],
        "no-such-model": ["image", photo, "-m", "no-such-style", "-o", tmp_path / "o.jpg"],
        "unknown-option": ["image", photo, "--frobnicate"],
    }[case]
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff this is not a jpeg")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    before = photo.read_bytes()
    assert_one_line_error(run(*args))
    assert photo.read_bytes() == before  # the input is never touched


def test_video_keeps_frames_rate_size_and_audio(tiny_model, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=24, size=(95, 63), fps=12, audio=True)
    out = tmp_path / "out.mp4"
    result = run("video", clip, "-m", tiny_model, "-o", out)
    assert result.returncode == 0, result.stderr
    src, dst = read_video(clip), read_video(out)
    assert dst["frames"] == src["frames"] and dst["fps"] == pytest.approx(src["fps"])
    assert dst["size"] == (96, 64) and dst["pix_fmt"] == "yuv420p"  # odd sides padded by one for 4:2:0
    assert "stored 96x64: yuv420p needs even sides" in result.stderr
    assert dst["audio_codec"] == "aac"
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_video_bad_inputs(tiny_model, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert_one_line_error(run("video", text, "-m", tiny_model, "-o", tmp_path / "o.mp4"))
    clip = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    assert_one_line_error(run("video", clip, "-m", tiny_model, "-o", clip))


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_stop_signal_leaves_a_playable_partial_video_and_exits_128_plus_it(tiny_model, tmp_path, signum, status):
    """Ctrl-C, SIGTERM and SIGHUP alike (issue 36): ffmpeg's behaviour."""
    clip = make_clip(tmp_path / "long.mp4", frames=600, size=(320, 240), fps=30, audio=True)
    out = tmp_path / "out.mp4"
    # As from a terminal: a run under `nohup` inherits SIGHUP ignored, and rtstyle leaves it so.
    proc = subprocess.Popen([*RTSTYLE, "video", str(clip), "-m", str(tiny_model), "-o", str(out), "--no-stabilize"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not [p for p in tmp_path.iterdir() if "partial" in p.name]:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a hung child must not outlive the test
    assert proc.returncode == status, err
    assert "Traceback" not in err
    done = read_video(out)
    assert 0 < done["frames"] < 600
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_webcam_headless_from_a_file_records(tiny_model, tmp_path):
    clip = make_clip(tmp_path / "cam.mp4", frames=30, size=(64, 48), fps=30, audio=False)
    rec = tmp_path / "rec.mp4"
    result = run("webcam", "-m", tiny_model, "--source", clip, "--headless", "--record", rec, "--max-frames", 10)
    assert result.returncode == 0, result.stderr
    assert "fps" in result.stderr
    assert 1 <= read_video(rec)["frames"] <= 10


def test_webcam_unopenable_camera(tiny_model):
    assert_one_line_error(run("webcam", "-m", tiny_model, "--source", "7", "--headless", "--max-frames", 1))


def test_export_command(tiny_checkpoint, tmp_path):
    result = run("export", tiny_checkpoint, "-o", tmp_path / "m.onnx")
    assert result.returncode == 0, result.stderr
    assert "max difference from PyTorch" in result.stderr
    assert "Warning" not in result.stderr, result.stderr  # torch's expected export warnings stay hidden
    assert_one_line_error(run("export", tmp_path / "missing.pt", "-o", tmp_path / "m2.onnx"))


def test_info_json(tmp_path):
    import json

    result = run("info", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "CPUExecutionProvider" in report["providers_listed"]


def test_webcam_on_a_cpu_takes_the_bundled_fast_tier_and_says_so(tmp_path):
    from rtstyle.registry import FAST_SUFFIX, bundled_models

    fast = [m for m in bundled_models() if m.endswith(FAST_SUFFIX)]
    if not fast:
        pytest.skip("no fast-tier model is bundled")
    name = fast[0].removesuffix(FAST_SUFFIX)
    clip = make_clip(tmp_path / "cam.mp4", frames=10, size=(64, 48), fps=30, audio=False)
    auto = run("webcam", "-m", name, "--source", clip, "--headless", "--max-frames", 3, "--provider", "cpu")
    assert auto.returncode == 0, auto.stderr
    assert "using the fast tier" in auto.stderr and f"model: {name}{FAST_SUFFIX} (fast tier)" in auto.stderr
    chosen = run("webcam", "-m", name, "--source", clip, "--headless", "--max-frames", 3, "--tier", "quality")
    assert chosen.returncode == 0 and f"model: {name} (quality tier)" in chosen.stderr
