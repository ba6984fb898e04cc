"""A write that fails half way (a full disk): one line, exit 2, nothing half-written under the final name.

The commands run with a small file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored), so writes past
it fail with EFBIG exactly where a full disk fails with ENOSPC.
"""

import resource
import signal
import subprocess
import sys

import cv2
import pytest

from media import make_clip, pattern

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def run_limited(limit_bytes, *args):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True, preexec_fn=limit, timeout=120)


def assert_write_error(result, path):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and "━" not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rtstyle: error: cannot write {path}: File too large"), result.stderr


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_image_write_error(tmp_path, tiny_model):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), pattern(3, 160, 120))
    out = tmp_path / "out.png"
    out.write_bytes(b"old")  # an older result under the name stays as it was
    result = run_limited(4000, "image", photo, "-m", tiny_model, "-o", out, "--provider", "cpu")
    assert_write_error(result, out)
    assert out.read_bytes() == b"old" and names(tmp_path) == ["out.png", "photo.png"]


@pytest.mark.parametrize("audio", [True, False])
def test_video_write_error(tmp_path, tiny_model, audio):
    clip = make_clip(tmp_path / "in.mp4", frames=24, size=(160, 120), audio=audio)
    out = tmp_path / "out.mp4"
    result = run_limited(3000, "video", clip, "-m", tiny_model, "-o", out, "--provider", "cpu", "--no-stabilize")
    assert_write_error(result, out)
    assert names(tmp_path) == ["in.mp4"]
