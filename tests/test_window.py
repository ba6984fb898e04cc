"""The live window for real: an X server (Xvfb), the real `rtstyle webcam` process on a clip with a
bundled model, keys typed with xdotool, the window closed the way a window manager closes it, and
screenshots of what is on the screen.

Skipped, with the reason, where Xvfb or xdotool is missing or no X server starts; `.ci/run`
installs both, so CI runs these.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import make_clip, pattern, read_video

CLIP_SIZE = (320, 240)
CLIP_FRAMES = 900  # 30 s at 30 fps: longer than any test here keeps the window open


def _grab(display: str) -> np.ndarray:
    """The whole screen as BGR uint8."""
    from PIL import ImageGrab

    return cv2.cvtColor(np.asarray(ImageGrab.grab(xdisplay=display)), cv2.COLOR_RGB2BGR)


def _no_window(reason: str):
    """Skip where no X server can start; in CI (.ci/run installs Xvfb) that is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the window tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def display():
    """An X display (":N") served by a fresh Xvfb for this module."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        _no_window(f"window tests need {' and '.join(missing)} (apt-get install xvfb xdotool)")
    # -displayfd: Xvfb picks a free display number itself and writes it once it accepts clients.
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(write_end,),
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as announced:
            number = announced.readline().strip()  # empty if Xvfb exits first
        if not number:
            server.wait(5)
            reason = server.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
            _no_window(f"Xvfb did not start: {reason[0] if reason else 'no reason given'}")
        name = f":{number}"
        _grab(name)  # it answers
        yield name
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("window") / "clip.mp4", frames=CLIP_FRAMES, size=CLIP_SIZE, fps=30, audio=False)


@pytest.fixture(scope="module")
def raw_frames() -> np.ndarray:
    """Every frame the clip was made from, to compare the screen with (the pattern repeats every 80)."""
    return np.stack([pattern(i, *CLIP_SIZE) for i in range(80)]).astype(np.int16)


class LiveWindow:
    """A running `rtstyle webcam` in a window on `display`, driven like a user drives it."""

    def __init__(self, display: str, cwd: Path, *args: str):
        self.display = display
        self.env = {**os.environ, "DISPLAY": display}
        self.env.pop("WAYLAND_DISPLAY", None)
        self.log_path = cwd / "webcam.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rtstyle.cli", "webcam", *args],
            cwd=cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.window = self._wait(self._find_window, "the window to appear")
        # It opens small and empty while the model loads; the first frame sizes it.
        self._wait(lambda: self.geometry()[2:] == CLIP_SIZE, "the first frame to size the window")
        self._wait(self._painted, "a picture in the window (not black, not flat)")

    def _painted(self) -> bool:
        picture = self.screen()
        return picture.mean() > 30 and picture[CLIP_SIZE[1] // 2:].std() > 10

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def _wait(self, check, what: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"rtstyle webcam exited ({self.process.returncode}) while waiting for {what}:\n{self.log}")
            value = check()
            if value:
                return value
            time.sleep(0.1)
        shot = self.log_path.with_name("timeout-screen.png")
        cv2.imwrite(str(shot), _grab(self.display))
        raise AssertionError(f"timed out waiting for {what} (the screen: {shot}):\n{self.log}")

    def _xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=10)
        return done.stdout

    def _find_window(self) -> int | None:
        found = self._xdotool("search", "--name", "^rtstyle$").split()
        return int(found[0]) if found else None

    def geometry(self) -> tuple[int, int, int, int]:
        values = dict(re.findall(r"(\w+)=(\d+)", self._xdotool("getwindowgeometry", "--shell", str(self.window))))
        return tuple(int(values[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))

    def screen(self) -> np.ndarray:
        """What the window shows now, from a screenshot of the whole screen."""
        x, y, width, height = self.geometry()
        return _grab(self.display)[y:y + height, x:x + width]

    def key(self, name: str, expect: str) -> None:
        """Type one key into the window and wait for the line it makes the program print."""
        before = self.log.count(expect)
        self.press(name)
        self._wait(lambda: self.log.count(expect) > before, f"{expect!r} after key {name}")

    def press(self, name: str) -> None:
        self._xdotool("windowfocus", "--sync", str(self.window), "key", name)

    def key_until(self, name: str, check, what: str):
        self.press(name)
        return self._wait(check, what)

    def close_window(self) -> None:
        """What a window manager sends when the user clicks the close button: WM_DELETE_WINDOW."""
        _send_wm_delete(self.display, self.window)

    def wait_exit(self, timeout: float = 20.0) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


class _ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int), ("data", ctypes.c_long * 5),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


def _send_wm_delete(display: str, window: int) -> None:
    """Ask `window` to close through libX11, as a window manager does (xdotool 3.2016 can only destroy it)."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_XEvent)]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    assert connection, f"cannot connect to {display}"
    event = _XEvent()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = window
    event.xclient.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(connection, window, 0, 0, ctypes.byref(event))
    x11.XFlush(connection)
    x11.XCloseDisplay(connection)


def nearest_raw_difference(picture: np.ndarray, raw_frames: np.ndarray) -> float:
    """Mean absolute difference of `picture` to the clip frame it is closest to."""
    picture = cv2.resize(picture, CLIP_SIZE, interpolation=cv2.INTER_AREA).astype(np.int16)
    body = np.s_[:, 40:]  # below the overlay box
    return min(float(np.abs(picture[body] - frame[body]).mean()) for frame in raw_frames)


@pytest.fixture
def live(display, clip, tmp_path):
    windows = []

    def start(*args: str) -> LiveWindow:
        window = LiveWindow(display, tmp_path, "--model", "mosaic", "--tier", "fast", "--source", str(clip), *args)
        windows.append(window)
        return window

    yield start
    for window in windows:
        window.stop()


def test_the_window_shows_stylized_frames_and_answers_its_keys(live, raw_frames, tmp_path):
    window = live()
    shown = window.screen()
    assert shown.shape[:2] == (CLIP_SIZE[1], CLIP_SIZE[0])
    assert shown.mean() > 30 and shown.std() > 10  # not black, not flat (waited for above)
    assert nearest_raw_difference(shown, raw_frames) > 25  # stylized: unlike any frame of the clip

    # v: camera | stylized, in a window twice as wide; the left half is the clip itself.
    window.key_until("v", lambda: window.geometry()[2] == 2 * CLIP_SIZE[0], "the side-by-side window")
    time.sleep(0.3)
    both = window.screen()
    left, right = both[:, : CLIP_SIZE[0]], both[:, CLIP_SIZE[0]:]
    assert nearest_raw_difference(left, raw_frames) < 12
    assert nearest_raw_difference(right, raw_frames) > 25

    window.key("n", "style 3/7")
    window.key("p", "style 2/7: mosaic")
    window.key("s", "saved ")
    [snapshot] = tmp_path.glob("rtstyle-snapshot-*.png")
    assert cv2.imread(str(snapshot)).shape == (CLIP_SIZE[1], 2 * CLIP_SIZE[0], 3)

    # h: the list of keys on screen, on a dark box over the picture.
    region = np.s_[60:200, 10:200]
    before = float(window.screen()[region].mean())
    window.key_until("h", lambda: window.screen()[region].mean() < 0.7 * before, "the keys list on screen")
    window.key_until("h", lambda: window.screen()[region].mean() > 0.8 * before, "the keys list gone")

    window.key("minus", "strength 0.9")
    window.key("plus", "strength 1.0")
    window.key("c", "colour: the photo's")
    window.key("c", "colour: the style's")
    window.key("bracketright", "strokes x1.25")
    window.key("bracketleft", "strokes x1")
    window.key("m", "mirror on")
    mirrored = raw_frames[:, :, ::-1]
    window._wait(lambda: nearest_raw_difference(window.screen()[:, : CLIP_SIZE[0]], mirrored) < 12, "a mirrored view")

    window.press("q")
    assert window.wait_exit() == 0
    assert "frames shown" in window.log and "Traceback" not in window.log


def test_closing_the_window_quits_and_keeps_a_playable_recording(live, tmp_path):
    record = tmp_path / "live.mp4"
    window = live("--record", str(record))
    time.sleep(1.0)  # a second of recording
    window.close_window()
    assert window.wait_exit() == 0, window.log
    assert "frames shown" in window.log and "Traceback" not in window.log
    video = read_video(record)
    assert video["frames"] >= 1 and video["size"] == CLIP_SIZE
