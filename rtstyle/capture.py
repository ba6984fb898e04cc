"""The live loop behind `rtstyle webcam`: capture, stylize and show/record on overlapping threads.

Capture keeps only the newest frame, and so does the hand-over from inference to display: when
inference is slower than the source, frames are dropped (and counted) instead of queued, so the
picture stays current rather than falling further and further behind. A video file used as the
source is played at its own frame rate, like a camera, so with a slow model it too is shown and
recorded with frames missing: that is the point of a live loop (use transform_video for every frame).

Each frame goes through one rtstyle.pipeline.Pipeline, as in `rtstyle video`; its controls
(strength, colour, stroke size) and its model can be changed from the window's keys while it
runs (`h` lists the keys on screen; `LiveState` holds what they change). The stylized frames go
to the outputs (`FrameOutput`: a recording, a virtual camera; the window gets the view). The mirror (selfie) view applies
to the window only: the outputs get the camera's own view, as a video call shows you to the others.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .controls import NATIVE
from .errors import UserError, redacted_address
from .imageio import write_image
from .limits import STREAM_TIMEOUT_VAR, check_pixels, stream_timeout_s
from .outputs import check_output
from .pipeline import Pipeline, open_network
from .videoio import VideoWriter, median_ms

_POLL_S = 0.05  # how often waiting threads look at the stop flag, and the window at its keys
_LOST_S = 2.0  # a camera that delivers nothing for this long is taken as unplugged
_NOTICE_S = 2.5  # how long a changed setting stays on screen
_QUIT_KEYS = {ord("q"), 27}  # 27: Esc
_STRENGTH_STEP = 0.1
_STROKE_STEPS = (NATIVE, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)  # '[' and ']' walk these
_BLEND_STEP = 0.1  # '<' and '>' move a blend of paintings by this much
KEYS = (
    ("n / p", "next / previous style"),
    ("v", "side by side with the camera"),
    ("+ / -", "strength up / down"),
    ("c", "colour: the style's / the photo's"),
    ("] / [", "bigger / smaller strokes"),
    ("< / >", "blend of two --style paintings: towards the first / the second"),
    ("m", "mirror"),
    ("s", "snapshot"),
    ("h", "this help"),
    ("q, Esc", "quit (or close the window)"),
)
_KEYS_LINE = "keys: n/p style, v side by side, +/- strength, c colour, ]/[ stroke size, </> blend, m mirror, s snapshot, h help, q quit"


@dataclass
class LiveConfig:
    """What the live loop runs on.

    `source` is a camera index (a string of digits counts as one) or a video file; `size` and
    `fps` are what to ask the camera for (it may grant something else: the loop reports what it
    got); `max_frames` stops after that many frames; `mirror` flips the window's view (None: on
    for cameras, off for files).
    `virtual_camera` also sends the stylized stream to a virtual webcam (rtstyle.virtualcam),
    through pyvirtualcam's `virtual_camera_backend` (None: the platform's) and
    `virtual_camera_device` (None: the first free one).
    """

    source: int | str = 0
    size: tuple[int, int] | None = None
    fps: float | None = None
    record: str | os.PathLike | None = None
    headless: bool = False
    max_frames: int | None = None
    title: str = "rtstyle"
    mirror: bool | None = None
    virtual_camera: bool = False
    virtual_camera_backend: str | None = None
    virtual_camera_device: str | None = None
    blend: float | None = None  # two paintings blended (the models): the second's weight, moved by '<' / '>'


@dataclass
class LiveStats:
    """`frames` went all the way through (shown/recorded); `dropped` were replaced by newer ones
    before their turn. The *_ms fields are per-frame medians; capture_ms for a camera is mostly
    waiting for the next frame. `lost` is set when a camera stopped delivering (unplugged)."""

    frames: int
    dropped: int
    fps: float
    capture_ms: float
    inference_ms: float
    display_ms: float
    lost: bool = False


class FrameOutput(Protocol):
    """Where the live loop sends each stylized frame, with its capture time in seconds; closed at the end."""

    def send(self, frame: np.ndarray, stamp: float) -> None: ...

    def close(self) -> None: ...


class Recording:
    """A FrameOutput to an H.264 file (videoio.VideoWriter), opened at the first frame's size and
    time-stamped from its capture time, so the file plays at real speed despite dropped frames.
    As a context manager it closes like the VideoWriter: an error removes the file, Ctrl-C keeps it."""

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path, self.fps = path, fps
        self._writer: VideoWriter | None = None
        self._origin = 0.0

    def send(self, frame: np.ndarray, stamp: float) -> None:
        if self._writer is None:
            self._writer = VideoWriter(self.path, self.fps, frame.shape[1], frame.shape[0])
            self._origin = stamp
        self._writer.write(frame, stamp - self._origin)

    def close(self) -> None:
        self.__exit__(None, None, None)

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._writer is not None:
            self._writer.__exit__(*exc_info)


class Window:
    """A FrameOutput on screen: an OpenCV window that shows each frame sent (the loop draws the view)."""

    def __init__(self, title: str):
        _use_system_fonts()
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        self.title = title

    def send(self, frame: np.ndarray, stamp: float | None = None) -> None:
        cv2.imshow(self.title, frame)

    def close(self) -> None:
        cv2.destroyAllWindows()

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def run_live(
    config: LiveConfig,
    pipeline: Pipeline,
    models: list[str],
    start_index: int = 0,
    on_status: Callable[[str], object] = print,
) -> LiveStats:
    """Stylize a camera (or a video file played like one) live with `pipeline`, which holds
    `models[start_index]`; the `n`/`p` state open the others of `models` in it.

    Shows a window with an FPS overlay unless headless, sends the stylized frames to the outputs
    (`config.record`, the virtual camera) and returns when the user quits or closes the window,
    the source ends, the camera is lost or max_frames frames are done. Ctrl-C stops the threads,
    closes the recording (playable) and re-raises.
    """
    if not models:
        raise UserError("no style models to run")
    source = _parse_source(config.source)
    camera = isinstance(source, int)
    if config.record is not None:
        check_output(config.record, *([] if camera else [source]))
    if not config.headless and sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):  # without one, OpenCV's Qt aborts the whole process
        raise UserError("no display to show the live window on; run headless (and record)")

    with contextlib.ExitStack() as stack:
        cap, label = _open_source(source, config.size, config.fps)
        stack.callback(cap.release)
        width, height = round(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), round(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        source_fps = cap.get(cv2.CAP_PROP_FPS)
        source_fps = source_fps if source_fps > 0 else (config.fps or 30.0)  # cameras may say 0
        on_status(f"{label}: {width}x{height} at {source_fps:g} fps{_asked(config, camera)}")
        on_status(f"model: {pipeline.describe()}")
        outputs: list[FrameOutput] = []
        if config.record is not None:
            outputs.append(stack.enter_context(Recording(config.record, source_fps)))
        if config.virtual_camera:
            from .virtualcam import VirtualCamera

            virtual = stack.enter_context(VirtualCamera(
                width, height, source_fps, config.virtual_camera_backend, config.virtual_camera_device
            ))
            outputs.append(virtual)
            on_status(f"virtual camera: {virtual.name}, {width}x{height} (pick it in the video call or in OBS)")
        snapshots = Path(config.record).parent if config.record else Path.cwd()
        mirror = camera if config.mirror is None else config.mirror
        state = LiveState(pipeline, models, start_index, on_status, snapshots, mirror)
        if config.blend is not None and len(models) == 2:
            state.blend = [models[0], models[1], config.blend]
        workers = _Workers(cap, None if camera else source_fps, state.stylize)
        stack.callback(workers.stop)
        window = None
        if not config.headless:
            window = stack.enter_context(Window(config.title))
            on_status(_KEYS_LINE)
        workers.start()

        display_s: list[float] = []
        raw = result = None
        rate = _Rate()
        while config.max_frames is None or len(display_s) < config.max_frames:
            item = workers.results.get(_POLL_S)
            if workers.error is not None:
                raise workers.error
            if item is None:
                if workers.results.finished:
                    on_status(f"{label} stopped sending frames (unplugged?): stopping" if workers.lost else f"end of {label}")
                    break
                if window is not None and _quit(state, window, raw, result):
                    break
                continue
            stamp, raw, result = item
            start = time.perf_counter()
            for output in outputs:
                output.send(result, stamp)
            rate.tick(start)
            done = False
            if window is not None:
                text = f"{rate.smoothed:4.1f} fps  {state.name} ({state.index + 1}/{len(models)})"
                text += f"  dropped {workers.frames.dropped + workers.results.dropped}"
                window.send(_overlay(state.view(raw, result), [text, *state.notes()]), stamp)
                done = _quit(state, window, raw, result)
            display_s.append(time.perf_counter() - start)
            if done:
                break

        stats = LiveStats(
            frames=len(display_s),
            dropped=workers.frames.dropped + workers.results.dropped,
            fps=rate.mean,
            capture_ms=median_ms(workers.capture_s),
            inference_ms=median_ms(workers.inference_s),
            display_ms=median_ms(display_s),
            lost=workers.lost,
        )
    return stats


def _asked(config: LiveConfig, camera: bool) -> str:
    """What was asked of the camera, when it was, for the line that says what it granted."""
    if config.size is None and config.fps is None:
        return ""
    asked = " at ".join(
        part for part in (
            f"{config.size[0]}x{config.size[1]}" if config.size else "",
            f"{config.fps:g} fps" if config.fps else "",
        ) if part
    )
    return f" (asked for {asked})" if camera else f" (--size/--fps are for cameras: {asked} ignored)"


class _Rate:
    """Frames per second: smoothed (readable in the overlay), and the mean over the run."""

    def __init__(self) -> None:
        self.smoothed = 0.0
        self._count = 0
        self._first = self._last = 0.0

    def tick(self, now: float) -> None:
        if self._count:
            rate = 1 / max(now - self._last, 1e-6)
            self.smoothed = 0.9 * self.smoothed + 0.1 * rate if self.smoothed else rate
        else:
            self._first = now
        self._last = now
        self._count += 1

    @property
    def mean(self) -> float:
        elapsed = self._last - self._first
        return (self._count - 1) / elapsed if elapsed > 0 else 0.0


class _Latest:
    """A one-slot mailbox: put() replaces an unread item, which counts as dropped."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._item = None
        self._full = False
        self._closed = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._changed:
            self.dropped += self._full
            self._item, self._full = item, True
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def get(self, timeout: float):
        """The unread item, or None after `timeout` seconds or when closed and empty."""
        with self._changed:
            self._changed.wait_for(lambda: self._full or self._closed, timeout)
            item, self._item, self._full = self._item, None, False
            return item

    @property
    def finished(self) -> bool:
        return self._closed and not self._full


class _Workers:
    """The capture and inference threads; the main thread reads `results`, `error` and `lost`."""

    def __init__(self, cap: cv2.VideoCapture, pace_fps: float | None, process: Callable[[np.ndarray], np.ndarray]):
        self._cap = cap
        self._camera = pace_fps is None
        self._period = 1 / pace_fps if pace_fps else 0.0
        self._process = process  # reads the current model and controls per frame
        self.frames = _Latest()  # (capture time, frame)
        self.results = _Latest()  # (capture time, frame, stylized)
        self.error: BaseException | None = None
        self.lost = False
        self.capture_s: list[float] = []
        self.inference_s: list[float] = []
        self._stopping = threading.Event()
        jobs = (("capture", self._capture, self.frames), ("inference", self._infer, self.results))
        self._threads = [
            threading.Thread(target=self._guard, args=(work, outbox), name=f"rtstyle-{name}", daemon=True)
            for name, work, outbox in jobs
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)  # a camera read or a model call finishes first

    def _guard(self, work: Callable[[], None], outbox: _Latest) -> None:
        try:
            work()
        except BaseException as err:  # handed to the main thread, which raises it
            self.error = err
            self._stopping.set()
        finally:
            outbox.close()

    def _capture(self) -> None:
        deadline = last_frame = time.perf_counter()
        while not self._stopping.is_set():
            start = time.perf_counter()
            ok, frame = self._cap.read()
            now = time.perf_counter()
            if not ok:
                if not self._camera:
                    return  # end of file
                if now - last_frame > _LOST_S:  # a camera hiccups; one gone for seconds is unplugged
                    self.lost = True
                    return
                self._stopping.wait(_POLL_S)
                continue
            last_frame = now
            self.capture_s.append(now - start)
            self.frames.put((now, frame))
            if self._period:  # a file plays at its own rate, like a camera
                deadline += self._period
                if deadline > now:
                    self._stopping.wait(deadline - now)
                else:
                    deadline = now  # behind: carry on from here rather than catch up in a burst

    def _infer(self) -> None:
        while not self._stopping.is_set():
            item = self.frames.get(_POLL_S)
            if item is None:
                if self.frames.finished:
                    return
                continue
            stamp, frame = item
            start = time.perf_counter()
            result = self._process(frame)
            self.inference_s.append(time.perf_counter() - start)
            self.results.put((stamp, frame, result))


class LiveState:
    """What the live loop runs and shows, and the window's keys that change it (see KEYS): the
    pipeline (its model among `models`, its controls), the views, snapshots, quitting.

    `stylize` is the inference thread's per-frame function; a model switch opens the new model
    first, then swaps it in between two frames.
    """

    def __init__(self, pipeline: Pipeline, models: list[str], index: int,
                 on_status: Callable[[str], object], snapshots: Path, mirror: bool = False):
        self.pipeline, self.models, self._on_status, self._snapshots = pipeline, models, on_status, snapshots
        self.controls = pipeline.controls
        self.mirror = mirror
        self.side_by_side = False
        self.help = False
        self._notice, self._notice_until = "", 0.0
        self._swap = threading.Lock()
        self.index = index % len(models)
        self.blend: list | None = None  # [painting, painting, weight of the second] when two are blended
        on_status(f"style {self.index + 1}/{len(models)}: {self.name}")

    def stylize(self, frame: np.ndarray) -> np.ndarray:
        with self._swap:
            return self.pipeline(frame)

    @property
    def name(self) -> str:
        return Path(self.models[self.index]).stem

    def handle(self, key: int, raw: np.ndarray | None, result: np.ndarray | None) -> bool:
        """Act on a key code from cv2.waitKey (-1: none); True means quit."""
        key &= 0xFF
        char = chr(key) if key != 0xFF else ""
        controls = self.controls
        if key in _QUIT_KEYS:
            return True
        if char in ("n", "p"):
            self._switch(1 if char == "n" else -1)
        elif char == "v":
            self.side_by_side = not self.side_by_side
        elif char == "h":
            self.help = not self.help
        elif char == "m":
            self.mirror = not self.mirror
            self._say(f"mirror {'on' if self.mirror else 'off'}")
        elif char in ("+", "=", "-", "_"):
            step = _STRENGTH_STEP if char in ("+", "=") else -_STRENGTH_STEP
            controls.strength = round(min(1.0, max(0.0, controls.strength + step)), 2)
            self._say(f"strength {controls.strength:.1f}")
        elif char == "c":
            controls.preserve_color = not controls.preserve_color
            self._say("colour: the photo's" if controls.preserve_color else "colour: the style's")
        elif char in ("[", "]"):
            self._stroke(1 if char == "]" else -1, raw)
        elif char in ("<", ",", ">", ".") and self.blend is not None:
            self._blend(_BLEND_STEP if char in (">", ".") else -_BLEND_STEP)
        elif char == "s" and result is not None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
            path = write_image(self._snapshots / f"rtstyle-snapshot-{stamp}.png", self.view(raw, result))
            self._on_status(f"saved {path}")
        return False

    def view(self, raw: np.ndarray, result: np.ndarray) -> np.ndarray:
        """A new image of what to show: the stylized frame, or camera | stylized; mirrored if set."""
        if self.side_by_side and raw.shape != result.shape:
            raw = cv2.resize(raw, (result.shape[1], result.shape[0]), interpolation=cv2.INTER_AREA)
        if self.mirror:
            result = cv2.flip(result, 1)
            raw = cv2.flip(raw, 1) if self.side_by_side else raw
        elif not self.side_by_side:
            return result.copy()
        return np.hstack((raw, result)) if self.side_by_side else result

    def notes(self) -> list[str]:
        """Lines for the overlay under the FPS line: the key list (h), or a setting just changed."""
        if self.help:
            return [f"{keys}\t{what}" for keys, what in KEYS] + [self.controls.describe()]
        if time.perf_counter() < self._notice_until:
            return [self._notice]
        return []

    def _say(self, text: str) -> None:
        self._notice, self._notice_until = text, time.perf_counter() + _NOTICE_S
        self._on_status(text)

    def _stroke(self, step: int, raw: np.ndarray | None) -> None:
        controls = self.controls
        current = controls.stroke_scale
        if current in _STROKE_STEPS:
            index = _STROKE_STEPS.index(current)
        else:  # a value given on the command line: the nearest stop
            index = min(range(1, len(_STROKE_STEPS)), key=lambda i: abs(_STROKE_STEPS[i] - current))
        controls.stroke_scale = _STROKE_STEPS[min(len(_STROKE_STEPS) - 1, max(0, index + step))]
        text = "strokes native" if controls.stroke_scale is None else f"strokes x{controls.stroke_scale:g}"
        if raw is not None:
            text += " (network at {}x{})".format(*controls.working_size(raw.shape[1], raw.shape[0]))
        self._say(text)

    def _blend(self, step: float) -> None:
        first, second, weight = self.blend
        self.blend[2] = weight = round(min(1.0, max(0.0, weight + step)), 2)
        with self._swap:
            self.pipeline.use_paintings([first, second], [1 - weight, weight])
        self._say(f"blend: {1 - weight:.0%} {Path(first).name}, {weight:.0%} {Path(second).name}")

    def _switch(self, step: int) -> None:
        index = (self.index + step) % len(self.models)
        pipeline = self.pipeline
        try:
            if pipeline.paints_any:  # a painting: its code (cached once encoded), the same network
                pipeline.stylizer.painting_encoder(self.models[index])
            else:
                network = open_network(self.models[index], pipeline.provider, pipeline.threads, pipeline.tier)
        except UserError as err:  # keep running with the model we have
            self._on_status(f"cannot switch to {self.models[index]}: {err}")
            return
        with self._swap:
            if pipeline.paints_any:
                pipeline.use_paintings([self.models[index]])
            else:
                pipeline.open(network)
        self.index = index
        self._on_status(f"model: {pipeline.describe()}")
        self._on_status(f"style {index + 1}/{len(self.models)}: {self.name}")


def _parse_source(source: int | str | os.PathLike) -> int | str:
    """A camera index (also given as a string of digits) or a file path as a string."""
    if isinstance(source, int):
        return source
    source = os.fspath(source)
    return int(source) if source.isdigit() else source


def _open_source(source: int | str, size: tuple[int, int] | None, fps: float | None = None) -> tuple[cv2.VideoCapture, str]:
    label = f"camera {source}" if isinstance(source, int) else f"video {redacted_address(source)}"
    stream = isinstance(source, str) and "://" in source
    if not isinstance(source, int) and not stream and not Path(source).is_file():
        raise UserError(f"cannot open {label}: no such file")
    # OpenCV logs a warning for each backend it tries; the UserError below says it once.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        if stream:  # a silent server: an error after the timeout, not OpenCV's 30 s
            ms = round(stream_timeout_s() * 1000)
            cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        else:
            cap = cv2.VideoCapture(source)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not cap.isOpened():
        cap.release()
        waited = f" (nothing came within {ms / 1000:g} s; {STREAM_TIMEOUT_VAR} sets how long to wait)" if stream else ""
        raise UserError(f"cannot open {label}{waited}")
    if int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"ansi":  # FFmpeg plays text files
        cap.release()
        raise UserError(f"cannot open {label}: not a video (a text file)")
    if isinstance(source, int):
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where supported: no backlog of old frames in the driver
        if size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
    try:  # the pixel limit of every frame rtstyle reads, from what the source says before a frame
        check_pixels(label, round(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), round(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    except UserError:
        cap.release()
        raise
    return cap, label


def _use_system_fonts() -> None:
    """Point OpenCV's Qt at the system fonts where its wheel ships none.

    cv2 sets QT_QPA_FONTDIR to its own qt/fonts folder on import; opencv-python 5 wheels lack it,
    and Qt then prints a warning pair per window. Read when the first window opens, so this works.
    """
    bundled = os.environ.get("QT_QPA_FONTDIR")
    system = Path("/usr/share/fonts")
    if bundled and not Path(bundled).is_dir() and system.is_dir():
        os.environ["QT_QPA_FONTDIR"] = str(system)


def _quit(state: LiveState, window: Window, raw, result) -> bool:
    """Pump the window's events and act on a key; True when the user quits or closed the window."""
    if state.handle(cv2.waitKey(1), raw, result):
        return True
    try:
        return cv2.getWindowProperty(window.title, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error:  # OpenCV's Qt: the window is gone ('NULL guiReceiver')
        return True


def _overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Draw `lines` top left, white on a darkened box so they read on any picture (in place).

    A tab splits a line into two columns (the keys list). One pass per line: OpenCV 5 spaces
    glyphs by thickness, so the old outline-then-fill pair drew two misaligned copies (a smear).
    """
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    rows = [line.split("\t", 1) for line in lines]
    (_, text_h), base = cv2.getTextSize("Ag", font, scale, 1)
    step = text_h + base + 6

    def width(text: str) -> int:
        return cv2.getTextSize(text, font, scale, 1)[0][0]

    tab = max((width(row[0]) for row in rows if len(row) == 2), default=0) + 16
    right = max(width(row[0]) if len(row) == 1 else tab + width(row[1]) for row in rows)
    box = image[: min(image.shape[0], 8 + step * len(rows)), : min(image.shape[1], right + 16)]
    box //= 3  # in place: a dark, see-through background
    for index, row in enumerate(rows):
        y = 6 + step * index + text_h + 2
        for x, text in zip((8, 8 + tab), row):
            cv2.putText(image, text, (x, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image
