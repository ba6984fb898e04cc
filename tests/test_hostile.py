"""A hostile user's battery (issue 36): bad files, bad limits and signals against the real CLI.

Every bad input must give exit status 2 and one line, never a traceback; inputs stay unchanged,
no temporary file is left behind, and no output is claimed that does not exist.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from crafted_models import external_data_model, fixed_size_model, flat_output_model, identity_model
from media import damage_clip, make_clip, make_frameless_clip, pattern, read_video

RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]
PROGRESS = re.compile(r"\d+/\d+\s+[\d.]+ fps")  # the progress bar's last state (not an error line)


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_model, tiny_checkpoint) -> Path:
    """One folder of every input the battery uses (made once: each case reads, none writes)."""
    folder = tmp_path_factory.mktemp("hostile")
    cv2.imwrite(str(folder / "photo.png"), pattern(1, 40, 30))
    cv2.imwrite(str(folder / "second.png"), pattern(2, 40, 30))
    cv2.imwrite(str(folder / "still.png"), pattern(3, 200, 100))
    cv2.imwrite(str(folder / "big.png"), pattern(4, 1100, 1000))  # over the 1 MP that always runs whole
    (folder / "existing.png").write_bytes((folder / "photo.png").read_bytes())
    make_clip(folder / "clip.mp4", frames=6, audio=False)
    damage_clip(make_clip(folder / "clean.mp4", frames=30, audio=False), folder / "damaged.mp4", range(10, 13))
    make_frameless_clip(folder / "frameless.mkv")
    (folder / "tiny.onnx").write_bytes(tiny_model.read_bytes())
    fixed_size_model(folder / "fixed.onnx")
    flat_output_model(folder / "flat.onnx")
    identity_model(folder / "plain.onnx")
    (folder / "models").mkdir()
    (folder / "secret.bin").write_bytes(b"\x7f")
    external_data_model(folder / "models" / "crafted.onnx", "../secret.bin")
    with open(folder / "huge.onnx", "wb") as f:
        f.truncate(4 << 30)  # sparse: 4 GB that take no disk
    import torch

    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    del checkpoint["model"][next(iter(checkpoint["model"]))]
    torch.save(checkpoint, folder / "missing_keys.pt")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and a hash of its bytes (the sparse model by its size alone)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = str(path.stat().st_size) if path.stat().st_size > 1 << 30 else hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(folder))] = data
    return found


def limit_memory(gigabytes: float):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (int(gigabytes * 2**30),) * 2)


def rtstyle(folder: Path, *args, env: dict | None = None, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([*RTSTYLE, *map(str, args)], capture_output=True, text=True, cwd=folder, timeout=300,
                          env={**os.environ, **(env or {})}, preexec_fn=preexec_fn)


def assert_claims_only_what_exists(folder: Path, stderr: str) -> None:
    for claimed in re.findall(r"^wrote (\S+?):?(?: |$)", stderr, re.MULTILINE):
        assert (folder / claimed).is_file(), f"claims {claimed}, which does not exist"


# (arguments, environment, what the one line says); files are named relative to the fixture's folder.
BAD_INPUTS = {
    "zero frames": (["video", "frameless.mkv", "-m", "tiny.onnx", "-o", "out.mp4"], {}, "no frame of frameless.mkv could be decoded; nothing written"),
    "video over the pixel limit": (["video", "clip.mp4", "-m", "tiny.onnx", "-o", "out.mp4"], {"RTSTYLE_MAX_MEGAPIXELS": "0.001"}, r"claims 96x64 \(0.00614 megapixels\), over the limit of 0.001"),
    "a PNG as a video over the limit": (["video", "still.png", "-m", "tiny.onnx", "-o", "out.mp4"], {"RTSTYLE_MAX_MEGAPIXELS": "0.01"}, r"claims 200x100 \(0.02 megapixels\)"),
    "an infinite pixel limit": (["image", "photo.png", "-m", "tiny.onnx", "-o", "out.png"], {"RTSTYLE_MAX_MEGAPIXELS": "inf"}, "RTSTYLE_MAX_MEGAPIXELS must be a positive number"),
    "an .avi output": (["video", "clip.mp4", "-m", "tiny.onnx", "-o", "out.avi"], {}, r"unknown video type '.avi'"),
    "a Reshape that fails at run time": (["image", "photo.png", "-m", "fixed.onnx", "-o", "out.png"], {}, "fixed.onnx failed on a .*cannot be reshaped"),
    "a rank-1 output": (["image", "photo.png", "-m", "flat.onnx", "-o", "out.png"], {}, "not an rtstyle style model"),
    "native strokes, no instance norm, over budget": (["image", "big.png", "-m", "plain.onnx", "-o", "out.png", "--stroke-scale", "native"], {"RTSTYLE_MAX_NETWORK_GB": "0.001"}, "has no instance normalization"),
    "external data outside the model's folder": (["image", "photo.png", "-m", "models/crafted.onnx", "-o", "out.png"], {}, r"refers to weights outside its folder \('../secret.bin'\)"),
    "several inputs into an existing file": (["image", "photo.png", "second.png", "-m", "tiny.onnx", "-o", "existing.png"], {}, "output existing.png is a file; for 2 inputs give a folder"),
    "bench --frames 0": (["bench", "-m", "tiny.onnx", "--frames", "0", "--size", "32x32"], {}, "--frames must be at least 1"),
    "negative threads": (["image", "photo.png", "-m", "tiny.onnx", "-o", "out.png", "--threads", "-3"], {}, "--threads must be at least 1"),
    "a checkpoint with missing weights": (["export", "missing_keys.pt", "-o", "out.onnx"], {}, "does not fit its own network: 1 missing weights"),
    "train onto its own style image": (["train", "-s", "photo.png", "--data", ".", "-o", "photo.png", "--iterations", "1"], {}, "is the same file as input"),
    "a recording the writer cannot make": (["webcam", "-m", "tiny.onnx", "--source", "no-such-camera.mp4", "--record", "rec.avi", "--headless"], {}, r"unknown video type '.avi'"),
    "a live source over the pixel limit": (["webcam", "-m", "tiny.onnx", "--source", "clip.mp4", "--headless", "--max-frames", "2"], {"RTSTYLE_MAX_MEGAPIXELS": "0.001"}, r"video clip.mp4 claims 96x64"),
    "undecodable frames with --strict": (["video", "damaged.mp4", "-m", "tiny.onnx", "-o", "out.mp4", "--no-stabilize", "--strict"], {}, "cannot decode video damaged.mp4"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_leaves_no_trace(files, case):
    args, env, message = BAD_INPUTS[case]
    before = snapshot(files)
    result = rtstyle(files, *args, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not PROGRESS.search(line)]
    assert len(lines) == 1 and lines[0].startswith("rtstyle: error:"), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert snapshot(files) == before  # inputs unchanged, nothing new (no output, no temporary file)


def test_a_model_file_over_2_gb_is_refused_within_a_3_gb_memory_limit(files):
    result = rtstyle(files, "image", "photo.png", "-m", "huge.onnx", "-o", "out.png", preexec_fn=limit_memory(3))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "huge.onnx is 4.3 GB: not an ONNX model" in result.stderr
    assert not (files / "out.png").exists()


def test_undecodable_frames_are_skipped_and_counted(files, tmp_path):
    result = rtstyle(files, "video", "damaged.mp4", "-m", "tiny.onnx", "-o", tmp_path / "out.mp4", "--no-stabilize")
    assert result.returncode == 0, result.stderr
    assert "27 frames" in result.stderr and "; 3 frames could not be decoded and were skipped" in result.stderr
    assert read_video(tmp_path / "out.mp4")["frames"] == 27
    assert_claims_only_what_exists(files, result.stderr)


def test_a_silent_stream_fails_after_the_timeout_in_one_line_without_its_password(files):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts (the kernel does), never answers
    try:
        start = time.monotonic()
        url = f"rtsp://alice:s3cret@127.0.0.1:{server.getsockname()[1]}/live"
        result = rtstyle(files, "webcam", "-m", "tiny.onnx", "--source", url, "--headless", "--max-frames", "1",
                         env={"RTSTYLE_STREAM_TIMEOUT_S": "1"})
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("running on")]
    assert lines == [f"rtstyle: error: cannot open video rtsp://***@127.0.0.1:{url.rsplit(':', 1)[1]} (nothing came within 1 s; "
                     "RTSTYLE_STREAM_TIMEOUT_S sets how long to wait)"], result.stderr
    assert elapsed < 25  # OpenCV alone waits 30 s


def test_an_unexpected_error_is_one_line_naming_the_command_and_debug(tmp_path):
    crash = (
        "import sys; from rtstyle.cli.app import app, main\n"
        "@app.command()\ndef crash():\n    raise RuntimeError('an invariant broke\\nsecond line')\n"
        "sys.argv = ['rtstyle', *sys.argv[1:]]; main()\n"
    )
    result = subprocess.run([sys.executable, "-c", crash, "crash"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "rtstyle crash: unexpected error: RuntimeError: an invariant broke (run `rtstyle --debug crash ...` for the traceback)"
    )
    debug = subprocess.run([sys.executable, "-c", crash, "--debug", "crash"], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "second line" in debug.stderr


def test_sigterm_while_writing_an_image_leaves_no_temporary_file(tmp_path):
    """Outside the video loop TERM raises at once: atomic_output removes its file, exit 143."""
    script = (
        "import os, signal, sys, time\n"
        "from rtstyle.cli.app import app, main\n"
        "from rtstyle.outputs import atomic_output\n"
        "@app.command()\ndef hang(out: str):\n"
        "    with atomic_output(out) as tmp:\n"
        "        tmp.write_bytes(b'half'); print('ready', flush=True); time.sleep(60)\n"
        "sys.argv = ['rtstyle', *sys.argv[1:]]; main()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, "hang", str(tmp_path / "out.png")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []
