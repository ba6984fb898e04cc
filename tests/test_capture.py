import _thread
import threading
import time

import cv2
import numpy as np
import pytest

from media import make_clip, pattern, read_video
from rtstyle.capture import LiveConfig, LiveState, LiveStats, run_live
from rtstyle.errors import UserError
from rtstyle.pipeline import Pipeline


def invert(frame):
    return 255 - frame


def inverting():
    return Pipeline(invert)


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def live_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("rtstyle-")]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """One second at 30 fps: a file source plays in real time, like a camera."""
    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4", frames=30, fps=30, audio=False)


def test_file_source_headless_recording(clip, tmp_path):
    record = tmp_path / "live.mp4"
    messages = []
    config = LiveConfig(source=str(clip), headless=True, record=record, max_frames=10)
    stats = run_live(config, inverting(), ["styles/mosaic.onnx"], on_status=messages.append)

    assert isinstance(stats, LiveStats)
    assert stats.frames == 10 and stats.fps > 0
    assert stats.capture_ms > 0 and stats.inference_ms > 0 and stats.display_ms > 0
    out = read_video(record)
    assert (out["frames"], out["size"]) == (10, (96, 64))
    assert "style 1/1: mosaic" in messages
    assert leftovers(tmp_path) == [] and live_threads() == []


def test_end_of_file_ends_the_loop_and_every_frame_is_shown_or_dropped(tmp_path):
    clip = make_clip(tmp_path / "short.mp4", frames=8, fps=30, audio=False)
    stats = run_live(LiveConfig(source=str(clip), headless=True), inverting(), ["m"], on_status=lambda m: None)
    assert stats.frames >= 1 and stats.frames + stats.dropped == 8


def test_slow_inference_drops_frames_but_records_in_real_time(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=15, fps=30, audio=False)  # 0.5 s

    def slow(frame):
        time.sleep(0.1)
        return 255 - frame

    record = tmp_path / "live.mkv"
    config = LiveConfig(source=str(clip), headless=True, record=record)
    stats = run_live(config, Pipeline(slow), ["slow"], on_status=lambda m: None)
    assert stats.dropped > 0 and stats.frames + stats.dropped == 15
    assert stats.inference_ms >= 99
    times = read_video(record)["times"]
    assert len(times) == stats.frames
    # Stamped with capture times, not frames/fps: frames are 0.1 s apart (not 1/30 s), except
    # the last, which the end of the file may bring sooner.
    assert times[-1] - times[0] >= 0.1 * (stats.frames - 2)


def test_ctrl_c_stops_threads_and_keeps_a_playable_recording(tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=90, fps=30, audio=False)  # 3 s
    record = tmp_path / "live.mp4"
    timer = threading.Timer(0.4, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_live(LiveConfig(source=str(clip), headless=True, record=record), inverting(), ["m"],
                     on_status=lambda m: None)
    finally:
        timer.cancel()
    assert 1 <= read_video(record)["frames"] < 90
    assert leftovers(tmp_path) == [] and live_threads() == []


def test_model_error_reaches_the_caller_and_leaves_no_recording(clip, tmp_path):
    def broken(frame):
        raise RuntimeError("model failed")

    config = LiveConfig(source=str(clip), headless=True, record=tmp_path / "live.mp4")
    with pytest.raises(RuntimeError, match="model failed"):
        run_live(config, Pipeline(broken), ["m"], on_status=lambda m: None)
    assert list(tmp_path.iterdir()) == [] and live_threads() == []


@pytest.mark.parametrize("source, message", [
    (99, "cannot open camera 99"),
    ("99", "cannot open camera 99"),
    ("missing.mp4", "cannot open video missing.mp4"),
])
def test_unopenable_source_is_a_user_error(tmp_path, source, message):
    with pytest.raises(UserError, match=message):
        run_live(LiveConfig(source=source, headless=True), inverting(), ["m"], on_status=lambda m: None)


def test_text_file_source_is_a_user_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n")
    with pytest.raises(UserError, match="cannot open video"):
        run_live(LiveConfig(source=str(path), headless=True), inverting(), ["m"], on_status=lambda m: None)


def test_long_text_file_source_is_a_user_error(tmp_path):
    path = tmp_path / "LICENSE.txt"  # a few kB of text: FFmpeg would play it as a video of its characters
    path.write_text("Some licence text, line by line.\n" * 100)
    with pytest.raises(UserError, match=r"not a video \(a text file\)"):
        run_live(LiveConfig(source=str(path), headless=True), inverting(), ["m"], on_status=lambda m: None)


def test_recording_over_the_source_is_refused(clip):
    with pytest.raises(UserError, match="same file"):
        run_live(LiveConfig(source=str(clip), headless=True, record=clip), inverting(), ["m"])


def test_window_without_display_is_a_user_error(clip, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(UserError, match="headless"):
        run_live(LiveConfig(source=str(clip)), inverting(), ["m"])


def test_keys_switch_models_toggle_view_save_and_quit(tmp_path, monkeypatch):
    import rtstyle.capture as capture

    loaded, messages = [], []

    def open_network(name, provider, threads, tier):
        if name == "broken.onnx":
            raise UserError("cannot load model")
        loaded.append(name)
        return lambda frame: frame // 2

    monkeypatch.setattr(capture, "open_network", open_network)
    pipeline = inverting()
    controls = LiveState(pipeline, ["a.onnx", "b.onnx", "broken.onnx"], 0, messages.append, tmp_path)
    raw = np.zeros((4, 6, 3), np.uint8)
    result = np.full((4, 6, 3), 200, np.uint8)

    assert not controls.handle(ord("n"), raw, result)
    assert controls.index == 1 and controls.name == "b"
    controls.handle(ord("n"), raw, result)  # broken: stays on b
    assert controls.index == 1 and "cannot switch" in messages[-1]
    controls.handle(ord("p"), raw, result)
    assert controls.index == 0 and loaded == ["b.onnx", "a.onnx"]
    assert (controls.stylize(result) == 100).all()  # the pipeline runs the model switched to

    assert controls.view(raw, result).shape == (4, 6, 3)
    controls.handle(ord("v"), raw, result)
    assert controls.view(raw, result).shape == (4, 12, 3)

    controls.handle(ord("s"), raw, result)
    [snapshot] = tmp_path.glob("rtstyle-snapshot-*.png")
    assert messages[-1] == f"saved {snapshot}"

    assert not controls.handle(-1, raw, result)
    assert controls.handle(ord("q"), raw, result) and controls.handle(27, raw, result)


class FakeCamera:
    """Stands in for cv2.VideoCapture(0): grants 640x480 at 30 fps whatever it is asked for, then,
    after `frames` frames, is unplugged (every read fails, as OpenCV's do)."""

    frames = 12
    opened: list["FakeCamera"] = []

    def __init__(self, index):
        self.index, self.asked, self.sent = index, {}, 0
        self.props = {cv2.CAP_PROP_FRAME_WIDTH: 640, cv2.CAP_PROP_FRAME_HEIGHT: 480, cv2.CAP_PROP_FPS: 30}
        FakeCamera.opened.append(self)

    def isOpened(self):
        return True

    def get(self, prop):
        return self.props.get(prop, 0)

    def set(self, prop, value):
        self.asked[prop] = value
        return False

    def read(self):
        time.sleep(1 / 30)
        if self.sent >= self.frames:
            return False, None
        self.sent += 1
        return True, pattern(self.sent, 640, 480)

    def release(self):
        pass


def test_camera_reports_what_it_granted_and_an_unplugged_camera_ends_with_a_playable_recording(tmp_path, monkeypatch):
    import rtstyle.capture as capture

    monkeypatch.setattr(capture.cv2, "VideoCapture", FakeCamera)
    monkeypatch.setattr(capture, "_LOST_S", 0.3)
    record, messages = tmp_path / "live.mp4", []
    config = LiveConfig(source=0, size=(1280, 720), fps=60, headless=True, record=record)
    stats = run_live(config, inverting(), ["m"], on_status=messages.append)

    camera = FakeCamera.opened[-1]
    assert camera.asked[cv2.CAP_PROP_FRAME_WIDTH] == 1280 and camera.asked[cv2.CAP_PROP_FPS] == 60
    assert "camera 0: 640x480 at 30 fps (asked for 1280x720 at 60 fps)" in messages
    assert stats.lost and [m for m in messages if "stopped sending" in m] == ["camera 0 stopped sending frames (unplugged?): stopping"]
    out = read_video(record)
    assert out["frames"] == stats.frames >= 1 and out["size"] == (640, 480)
    assert leftovers(tmp_path) == [] and live_threads() == []


def test_size_and_fps_for_a_file_are_said_to_be_ignored(clip):
    messages = []
    run_live(LiveConfig(source=str(clip), size=(320, 240), headless=True, max_frames=2), inverting(), ["m"],
             on_status=messages.append)
    assert any("--size/--fps are for cameras: 320x240 ignored" in m for m in messages)


def test_control_keys_change_the_controls_and_the_view(tmp_path):
    from rtstyle.controls import NATIVE

    messages = []
    keys = LiveState(inverting(), ["a.onnx"], 0, messages.append, tmp_path, mirror=False)
    controls = keys.pipeline.controls
    raw = np.zeros((480, 640, 3), np.uint8)
    raw[:, :10] = 255  # a bright stripe on the left
    result = raw.copy()

    for _ in range(3):
        keys.handle(ord("+"), raw, result)
    assert controls.strength == 1.0  # capped
    keys.handle(ord("-"), raw, result)
    keys.handle(ord("-"), raw, result)
    assert controls.strength == 0.8 and messages[-1] == "strength 0.8"
    keys.handle(ord("c"), raw, result)
    assert controls.preserve_color and messages[-1] == "colour: the photo's"
    keys.handle(ord("]"), raw, result)
    assert controls.stroke_scale == 1.25 and messages[-1] == "strokes x1.25 (network at 410x307)"
    for _ in range(10):
        keys.handle(ord("["), raw, result)
    assert controls.stroke_scale is NATIVE and messages[-1] == "strokes native (network at 640x480)"
    assert keys.notes() == ["strokes native (network at 640x480)"]  # the change, on screen for a while

    keys.handle(ord("h"), raw, result)
    notes = keys.notes()
    assert len(notes) > 8 and notes[0].startswith("n / p\t") and notes[-1] == controls.describe()

    assert keys.view(raw, result)[0, 0, 0] == 255
    keys.handle(ord("m"), raw, result)
    assert keys.view(raw, result)[0, 0, 0] == 0 and keys.view(raw, result)[0, -1, 0] == 255
    keys.handle(ord("v"), raw, result)
    both = keys.view(raw, result)
    assert both.shape == (480, 1280, 3) and both[0, 639, 0] == 255 and both[0, 1279, 0] == 255
