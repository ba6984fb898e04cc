"""The live loop behind `rtstyle webcam`: capture, stylize and show/record on overlapping threads.

Capture keeps only the newest frame, and so does the hand-over from inference to display: when
inference is slower than the source, frames are dropped (and counted) instead of queued, so the
picture stays current rather than falling further and further behind. A video file used as the
source is played at its own frame rate, like a camera, so with a slow model it too is shown and
recorded with frames missing: that is the point of a live loop (use transform_video for every frame).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .errors import UserError
from .imageio import write_image
from .outputs import check_output
from .videoio import VideoWriter, median_ms

Stylize = Callable[[np.ndarray], np.ndarray]

_POLL_S = 0.05  # how often waiting threads look at the stop flag, and the window at its keys
_QUIT_KEYS = {ord("q"), 27}  # 27: Esc
_KEYS_HELP = "keys: n/p next/previous model, v side by side, s snapshot, q quit"


@dataclass
class LiveConfig:
    """What the live loop runs on.

    `source` is a camera index (a string of digits counts as one) or a video file; `size` is the
    capture (width, height) to ask the camera for; `max_frames` stops after that many frames.
    """

    source: int | str = 0
    size: tuple[int, int] | None = None
    record: str | os.PathLike | None = None
    headless: bool = False
    max_frames: int | None = None
    title: str = "rtstyle"


@dataclass
class LiveStats:
    """`frames` went all the way through (shown/recorded); `dropped` were replaced by newer ones
    before their turn. The *_ms fields are per-frame medians; capture_ms for a camera is mostly
    waiting for the next frame."""

    frames: int
    dropped: int
    fps: float
    capture_ms: float
    inference_ms: float
    display_ms: float


def run_live(
    config: LiveConfig,
    models: list[str],
    load: Callable[[str], Stylize],
    start_index: int = 0,
    on_status: Callable[[str], object] = print,
) -> LiveStats:
    """Stylize a camera (or a video file played like one) live with `load(models[i])`.

    Shows a window with an FPS overlay unless headless, records the stylized frames to
    `config.record` if set, and returns when the user quits, the source ends or max_frames
    frames are done. Ctrl-C stops the threads, closes the recording (playable) and re-raises.
    """
    if not models:
        raise UserError("no style models to run")
    source = _parse_source(config.source)
    if config.record is not None:
        check_output(config.record, *([] if isinstance(source, int) else [source]))
    if not config.headless and sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):  # without one, OpenCV's Qt aborts the whole process
        raise UserError("no display to show the live window on; run headless (and record)")

    with contextlib.ExitStack() as stack:
        cap, label = _open_source(source, config.size)
        stack.callback(cap.release)
        source_fps = cap.get(cv2.CAP_PROP_FPS)
        source_fps = source_fps if source_fps > 0 else 30.0  # cameras may say 0
        on_status(
            f"{label}: {cap.get(cv2.CAP_PROP_FRAME_WIDTH):.0f}x{cap.get(cv2.CAP_PROP_FRAME_HEIGHT):.0f}"
            f" at {source_fps:g} fps"
        )
        snapshots = Path(config.record).parent if config.record else Path.cwd()
        controls = _Controls(models, load, start_index, on_status, snapshots)
        workers = _Workers(cap, None if isinstance(source, int) else source_fps, lambda: controls.stylize)
        stack.callback(workers.stop)
        if not config.headless:
            _use_system_fonts()
            stack.callback(cv2.destroyAllWindows)
            on_status(_KEYS_HELP)
        workers.start()

        writer: VideoWriter | None = None
        display_s: list[float] = []
        raw = result = None
        rate = _Rate()
        while config.max_frames is None or len(display_s) < config.max_frames:
            item = workers.results.get(_POLL_S)
            if workers.error is not None:
                raise workers.error
            if item is None:
                if workers.results.finished:
                    on_status(f"end of {label}")
                    break
                if not config.headless and _quit(controls, config.title, raw, result):
                    break
                continue
            stamp, raw, result = item
            start = time.perf_counter()
            if config.record is not None:
                if writer is None:
                    height, width = result.shape[:2]
                    writer = stack.enter_context(VideoWriter(config.record, source_fps, width, height))
                    origin = stamp
                writer.write(result, stamp - origin)  # capture times: plays at real speed despite drops
            rate.tick(start)
            done = False
            if not config.headless:
                text = f"{rate.smoothed:4.1f} fps  {controls.name} ({controls.index + 1}/{len(models)})"
                text += f"  dropped {workers.frames.dropped + workers.results.dropped}"
                cv2.imshow(config.title, _overlay(controls.view(raw, result), [text]))
                done = _quit(controls, config.title, raw, result)
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
        )
    return stats


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
    """The capture and inference threads; the main thread reads `results` and `error`."""

    def __init__(self, cap: cv2.VideoCapture, pace_fps: float | None, stylize: Callable[[], Stylize]):
        self._cap = cap
        self._period = 1 / pace_fps if pace_fps else 0.0
        self._stylize = stylize  # read per frame, so a model switch takes effect on the next one
        self.frames = _Latest()  # (capture time, frame)
        self.results = _Latest()  # (capture time, frame, stylized)
        self.error: BaseException | None = None
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
        deadline = time.perf_counter()
        while not self._stopping.is_set():
            start = time.perf_counter()
            ok, frame = self._cap.read()
            if not ok:
                return  # end of file, or the camera is gone
            now = time.perf_counter()
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
            result = self._stylize()(frame)
            self.inference_s.append(time.perf_counter() - start)
            self.results.put((stamp, frame, result))


class _Controls:
    """The window's keys: n/p switch model, v toggles side by side, s saves a snapshot, q/Esc quit."""

    def __init__(self, models: list[str], load: Callable[[str], Stylize], index: int,
                 on_status: Callable[[str], object], snapshots: Path):
        self.models, self._load, self._on_status, self._snapshots = models, load, on_status, snapshots
        self.side_by_side = False
        self.index = index % len(models)
        self.stylize = load(models[self.index])
        on_status(f"style {self.index + 1}/{len(models)}: {self.name}")

    @property
    def name(self) -> str:
        return Path(self.models[self.index]).stem

    def handle(self, key: int, raw: np.ndarray | None, result: np.ndarray | None) -> bool:
        """Act on a key code from cv2.waitKey (-1: none); True means quit."""
        key &= 0xFF
        if key in _QUIT_KEYS:
            return True
        if key in (ord("n"), ord("p")):
            self._switch(1 if key == ord("n") else -1)
        elif key == ord("v"):
            self.side_by_side = not self.side_by_side
        elif key == ord("s") and result is not None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
            path = write_image(self._snapshots / f"rtstyle-snapshot-{stamp}.png", self.view(raw, result))
            self._on_status(f"saved {path}")
        return False

    def view(self, raw: np.ndarray, result: np.ndarray) -> np.ndarray:
        """A new image of what to show: the stylized frame, or raw | stylized."""
        if not self.side_by_side:
            return result.copy()
        if raw.shape != result.shape:
            raw = cv2.resize(raw, (result.shape[1], result.shape[0]), interpolation=cv2.INTER_AREA)
        return np.hstack((raw, result))

    def _switch(self, step: int) -> None:
        index = (self.index + step) % len(self.models)
        try:
            self.stylize = self._load(self.models[index])
        except UserError as err:  # keep running with the model we have
            self._on_status(f"cannot switch to {self.models[index]}: {err}")
            return
        self.index = index
        self._on_status(f"style {index + 1}/{len(self.models)}: {self.name}")


def _parse_source(source: int | str | os.PathLike) -> int | str:
    """A camera index (also given as a string of digits) or a file path as a string."""
    if isinstance(source, int):
        return source
    source = os.fspath(source)
    return int(source) if source.isdigit() else source


def _open_source(source: int | str, size: tuple[int, int] | None) -> tuple[cv2.VideoCapture, str]:
    label = f"camera {source}" if isinstance(source, int) else f"video {source}"
    if not isinstance(source, int) and "://" not in source and not Path(source).is_file():
        raise UserError(f"cannot open {label}: no such file")
    # OpenCV logs a warning for each backend it tries; the UserError below says it once.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        cap = cv2.VideoCapture(source)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not cap.isOpened():
        cap.release()
        raise UserError(f"cannot open {label}")
    if int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"ansi":  # FFmpeg plays text files
        cap.release()
        raise UserError(f"cannot open {label}: not a video (a text file)")
    if isinstance(source, int):
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where supported: no backlog of old frames in the driver
        if size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
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


def _quit(controls: _Controls, title: str, raw, result) -> bool:
    """Pump the window's events and act on a key; True when the user quits or closed the window.

    The window exists only once a frame was shown (raw is set): before that, OpenCV's Qt backend
    raises 'NULL guiReceiver' for any property asked of it.
    """
    if controls.handle(cv2.waitKey(1), raw, result):
        return True
    if raw is None:
        return False
    try:
        return cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1
    except cv2.error:  # closed, and already gone from the backend
        return True


def _overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Draw `lines` top left, white on a darkened box so they read on any picture (in place).

    One pass per line: OpenCV 5 spaces glyphs by thickness, so the old outline-then-fill pair
    drew two misaligned copies of the text (the 'smear').
    """
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    sizes = [cv2.getTextSize(line, font, scale, 1) for line in lines]
    step = max(((h + base) for (_, h), base in sizes), default=0) + 6
    width = max((w for (w, _), _ in sizes), default=0)
    box = image[: min(image.shape[0], 8 + step * len(lines)), : min(image.shape[1], width + 16)]
    box //= 3  # in place: a dark, see-through background
    for row, line in enumerate(lines):
        y = 6 + step * row + sizes[row][0][1] + 2
        cv2.putText(image, line, (8, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image
