import glob
import subprocess
import sys

import numpy as np
import pytest
from media import make_clip

from rtstyle.capture import LiveConfig, run_live
from rtstyle.errors import UserError
from rtstyle.pipeline import Pipeline
from rtstyle.virtualcam import VirtualCamera

PAINT = (10, 20, 30)  # B, G, R: what the stand-in network paints every frame


class FakeBackend:
    """A pyvirtualcam backend that keeps what it is sent (the library checks shape and format first)."""

    instances: list["FakeBackend"] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.frames: list[np.ndarray] = []
        self.closed = False
        FakeBackend.instances.append(self)

    def send(self, frame):
        self.frames.append(frame.copy())

    def close(self):
        self.closed = True

    def device(self):
        return "fake-camera"

    def native_fourcc(self):
        return None


@pytest.fixture
def fake_backend():
    pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="pip install 'rtstyle[virtualcam]' for the fake-backend tests")
    pyvirtualcam.register_backend("rtstyle-fake", FakeBackend)
    FakeBackend.instances.clear()
    yield FakeBackend
    pyvirtualcam.camera.BACKENDS.pop("rtstyle-fake", None)


def paint(frame):
    return np.full_like(frame, PAINT)


def test_the_stylized_stream_reaches_the_virtual_camera(fake_backend, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=10, size=(96, 64), fps=30, audio=False)
    messages = []
    config = LiveConfig(source=str(clip), headless=True, max_frames=5, virtual_camera=True,
                        virtual_camera_backend="rtstyle-fake")
    stats = run_live(config, Pipeline(paint, stroke_scale="native"), ["m"], on_status=messages.append)

    import pyvirtualcam

    [camera] = fake_backend.instances
    assert (camera.width, camera.height, camera.fps) == (96, 64, 30)
    assert camera.fourcc == pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)
    assert len(camera.frames) == stats.frames == 5
    for frame in camera.frames:
        assert frame.dtype == np.uint8 and frame.size == 96 * 64 * 3
        assert (frame.reshape(64, 96, 3) == PAINT).all()  # BGR, in order
    assert camera.closed
    assert "virtual camera: fake-camera, 96x64 (pick it in the video call or in OBS)" in messages


def test_a_frame_of_another_size_is_fitted_to_the_camera(fake_backend):
    with VirtualCamera(64, 48, 30, backend="rtstyle-fake") as camera:
        camera.send(np.zeros((96, 128, 3), np.uint8))
    assert fake_backend.instances[0].frames[0].size == 64 * 48 * 3


@pytest.mark.skipif(sys.platform != "linux" or bool(glob.glob("/dev/video*")), reason="a video device exists here")
def test_no_device_is_one_line_saying_what_to_install(tmp_path):
    pytest.importorskip("pyvirtualcam")
    with pytest.raises(UserError, match="v4l2loopback") as err:
        VirtualCamera(64, 48, 30)
    assert "\n" not in str(err.value)
    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(64, 48), fps=30, audio=False)
    result = subprocess.run(
        [sys.executable, "-m", "rtstyle.cli", "webcam", "--source", str(clip), "--headless", "--virtual-camera", "--max-frames", "2"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rtstyle: error:")]
    assert len(errors) == 1 and "v4l2loopback" in errors[0] and "modprobe" in errors[0]


def test_without_pyvirtualcam_the_error_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails as if not installed
    with pytest.raises(UserError, match=r"pip install 'rtstyle\[virtualcam\]'"):
        VirtualCamera(64, 48, 30)
