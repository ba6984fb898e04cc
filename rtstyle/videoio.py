"""Video files frame by frame with PyAV: probe, transform with a per-frame function, write H.264.

Frames are BGR uint8 H×W×3 arrays, as everywhere else in rtstyle (OpenCV order).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import cv2
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .errors import UserError
from .imageio import resize_longer_side
from .limits import check_pixels, max_pixels
from .outputs import atomic_output, check_output, write_error
from .stages import Consumer, Producer, deferred_interrupt

Process = Callable[[np.ndarray], np.ndarray]

# The MPEG clock: exact for 24, 25, 30, 12.5 and 30000/1001 fps, and fine enough for variable rates.
_TIME_BASE = Fraction(1, 90000)
_X264_OPTIONS = {"crf": "18", "preset": "fast"}
_H264_SUFFIXES = ".mp4, .mkv or .mov"
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".mkv", ".mov")  # the containers the H.264 writer makes


@dataclass
class VideoStats:
    """What transform_video did; the *_ms fields are per-frame medians."""

    frames: int
    fps: float
    width: int
    height: int
    has_audio: bool
    interrupted: bool = False
    audio: str = ""  # what became of the audio: "aac copied", "pcm_s16le re-encoded to aac"
    rotation: int = 0  # degrees the input's frames were turned (counter-clockwise) to play upright
    encoded_size: tuple[int, int] | None = None  # (width, height) in the file, where it differs (odd sizes)
    decode_ms: float = 0.0  # demuxing, decoding and conversion to BGR
    process_ms: float = 0.0  # the `process` function, resizing for max_side included
    encode_ms: float = 0.0  # conversion to YUV, H.264 encoding and muxing
    total_s: float = 0.0
    undecodable: int = 0  # frames the file lists that could not be decoded (skipped; strict=True refuses)


def median_ms(seconds: list[float]) -> float:
    """Median of durations in seconds, in milliseconds (0 for none)."""
    return 1000 * statistics.median(seconds) if seconds else 0.0


def probe_video(path: str | os.PathLike) -> dict:
    """Describe a video file: frames, fps, width, height, rotation, has_audio, codec, duration (s).

    `width` × `height` is the size as played: a phone clip stored 640×480 with a display matrix
    that turns it 90° is 480×640, rotation 90 (counter-clockwise, FFmpeg's convention). `frames`
    is estimated from duration × fps where the container does not store it (Matroska).
    """
    container, video = open_input(path)
    with container:
        info = _describe(container, video)
        info["rotation"] = _first_frame_rotation(container, video, path)
    if info["rotation"] in (90, 270):
        info["width"], info["height"] = info["height"], info["width"]
    return info


def transform_video(
    input: str | os.PathLike,
    output: str | os.PathLike,
    process: Process,
    *,
    max_side: int | None = None,
    progress: bool = True,
    overlap: bool = True,
    strict: bool = False,
) -> VideoStats:
    """Apply `process` to every frame of `input` and write H.264 to `output`, keeping the audio.

    The output has the input's frame count, timestamps (a variable frame rate stays variable, so
    the audio stays in sync) and size as played: frames of a clip with a display matrix (phones)
    are turned upright before `process`, so the network sees people upright and the output needs
    no matrix. An odd size is padded by one pixel (edge copied) to fit 4:2:0 chroma (see
    VideoWriter). With `max_side`, larger frames are shrunk before `process` and its result scaled
    back up. Decoding and encoding run in threads beside `process` (`overlap=False`: all in this
    thread, to measure what the overlap gains). Ctrl-C keeps a playable file with the frames done
    so far under the final name and re-raises KeyboardInterrupt, which then carries `.stats` (a
    VideoStats with interrupted=True); SIGTERM and SIGHUP do the same (`errors.Terminated`).
    A frame that cannot be decoded is skipped and counted in `undecodable` (with `strict`, it
    is a UserError); a video of which no frame decodes is a UserError, and nothing is written.
    """
    check_video_output(output)
    info = probe_video(input)
    upright = _upright(info["rotation"])
    container, video = open_input(input)
    with container:
        output = check_output(output, input)
        audio = container.streams.audio[0] if container.streams.audio else None
        video.thread_type = "AUTO"  # frame-threaded decoding
        process = _fit(process, max_side)
        decode_s: list[float] = []
        process_s: list[float] = []
        encode_s: list[float] = []
        damage = _Damage(input, strict)
        start = time.perf_counter()

        def decoded() -> Iterator[tuple[np.ndarray | None, av.Packet | float]]:
            """(frame, time) for video, (None, packet) for audio, in file order."""
            tick = time.perf_counter()
            for packet, frames in _demux(container, video, audio, input, damage):
                if packet.stream_index != video.index:
                    yield None, packet
                for frame in frames:
                    image = upright(frame.to_ndarray(format="bgr24"))
                    decode_s.append(time.perf_counter() - tick)
                    yield image, frame.time
                    tick = time.perf_counter()

        def encode(item: tuple[np.ndarray | None, av.Packet | float]) -> None:
            image, when = item
            if image is None:
                track.push(when)
                return
            t = time.perf_counter()
            writer.write(image, when)
            encode_s.append(time.perf_counter() - t)

        def stats(interrupted: bool = False) -> VideoStats:
            padded = writer.encoded_size if writer.encoded_size != (writer.width, writer.height) else None
            return VideoStats(
                len(encode_s), info["fps"], info["width"], info["height"], audio is not None, interrupted,
                track.description if track else "", info["rotation"], padded,
                median_ms(decode_s), median_ms(process_s), median_ms(encode_s), time.perf_counter() - start,
                damage.count(video.frames, len(decode_s)),
            )

        with (
            deferred_interrupt() as ctrl_c,  # the first Ctrl-C stops the loop between frames
            VideoWriter(output, _rate(video), info["width"], info["height"]) as writer,
            _progress_bar(progress, info["frames"], Path(input).name) as advance,
        ):
            track = writer._add_audio(audio) if audio else None
            try:
                with (
                    Producer(decoded(), name="decode") if overlap else contextlib.nullcontext(decoded()) as items,
                    Consumer(encode, name="encode") if overlap else contextlib.nullcontext(_Inline(encode)) as sink,
                ):
                    for image, when in items:
                        ctrl_c.check()
                        if image is not None:
                            t = time.perf_counter()
                            image = process(image)
                            process_s.append(time.perf_counter() - t)
                        sink.put((image, when))
                        if image is not None:
                            advance()
                    ctrl_c.check()
            except KeyboardInterrupt as interrupt:
                interrupt.stats = stats(interrupted=True)
                raise  # the writer flushes and keeps the file; the CLI exits 130 (143, 129)
            result = stats()
            if not result.frames:  # raised inside the writer, which then removes its file
                raise UserError(f"no frame of {input} could be decoded; nothing written")
            damage.check_total(result.undecodable)
        return result


class _Inline:
    """A Consumer without a thread (`transform_video(overlap=False)`)."""

    def __init__(self, consume: Callable):
        self.put = consume


class VideoWriter:
    """Write BGR frames to an H.264 file (libx264, crf 18, yuv420p), atomically.

    4:2:0 chroma, which every player decodes, needs even sides: an odd width or height is padded
    by one pixel, a copy of the edge (`encoded_size` says what the file holds; 641×479 becomes
    642×480). The file is written under a temporary name in the same folder and renamed by close().
    As a context manager, an exception removes the partial file, except KeyboardInterrupt,
    which keeps what was written (playable).
    """

    def __init__(self, path: str | os.PathLike, fps: float | Fraction, width: int, height: int):
        self.path = check_output(check_video_output(path))
        self.fps = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(30)
        self.width, self.height = width, height
        self.encoded_size = (width + width % 2, height + height % 2)
        self.frames = 0
        self._next_pts = None
        self._tracks: list[_AudioTrack] = []
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_output(self.path, keep_partial=True))
            self._container = stack.enter_context(_open_output(tmp))
            self._video = _add_h264(self._container, self.fps, *self.encoded_size)
            self._stack = stack.pop_all()

    def write(self, frame: np.ndarray, time: float | None = None) -> None:
        """Encode one BGR uint8 frame of the writer's size, shown at `time` seconds (default frames/fps)."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame is {frame.shape} {frame.dtype}, expected ({self.height}, {self.width}, 3) uint8"
            )
        if time is None:
            time = self.frames / self.fps
        pts = round(time / _TIME_BASE)
        if self._next_pts is not None:
            pts = max(pts, self._next_pts)  # the encoder refuses repeated or decreasing timestamps
        if self.encoded_size != (self.width, self.height):
            frame = cv2.copyMakeBorder(
                frame, 0, self.encoded_size[1] - self.height, 0, self.encoded_size[0] - self.width, cv2.BORDER_REPLICATE
            )
        elif frame.strides[1:] != (3, 1):
            frame = np.ascontiguousarray(frame)
        # No copy here: the encoder converts to YUV into its own frame before returning.
        picture = av.VideoFrame.from_numpy_buffer(frame, format="bgr24")
        picture.pts, picture.time_base = pts, _TIME_BASE
        self._mux(self._video.encode(picture))
        self._next_pts = pts + 1
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and move the file to its final name."""
        self._finish(None, None, None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._finish(*exc_info)

    def _add_audio(self, source: av.audio.AudioStream) -> _AudioTrack:
        """Add a track for `source`'s audio, flushed on close; call before the first write."""
        track = _AudioTrack(self._container, source, self._mux)
        self._tracks.append(track)
        return track

    def _mux(self, packets: list[av.Packet]) -> None:
        try:
            self._container.mux(packets)
        except OSError as err:  # a full disk, a file size limit: FFmpeg reports it at the next write
            raise write_error(self.path, err) from None

    def _finish(self, exc_type, exc, tb) -> None:
        if self._stack is None:
            return
        stack, self._stack = self._stack, None
        failed = None
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt) and not self.frames:
            exc_type, exc, tb = RuntimeError, RuntimeError("stopped before a frame"), None  # nothing playable: removed
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            try:
                self._mux(self._video.encode(None))
                for track in self._tracks:
                    track.flush()
            except UserError as err:  # even a Ctrl-C's partial file is unplayable now: removed
                failed = err
                exc_type, exc, tb = UserError, err, err.__traceback__
        try:
            # Closes the container (the trailer), then atomic_output renames (done, Ctrl-C) or removes.
            stack.__exit__(exc_type, exc, tb)
        except OSError as err:
            if exc_type is None:
                raise write_error(self.path, err) from None
            # Already failing (the partial file is removed): that first error is the one to report.
        if failed is not None:
            raise failed


# What an .mp4 holds that browsers, QuickTime and phones play; FFmpeg muxes PCM or FLAC into
# .mp4 too, but few players play that. .mov and .mkv keep any codec their muxer takes.
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac"}


class _AudioTrack:
    """The input's audio in the output: packets copied unchanged, or re-encoded to AAC where the
    output container cannot hold the codec (pcm_mulaw in .mp4) or players would not play it
    (PCM in .mp4). `description` says which, for the summary line."""

    def __init__(self, container: av.container.OutputContainer, source: av.audio.AudioStream, mux: Callable):
        self._mux = mux
        codec = source.codec_context.name
        self._decoder = None
        if container.format.name != "mp4" or codec in _MP4_AUDIO:
            try:
                self._stream = container.add_stream_from_template(source)
                self.description = f"{codec} copied"
                return
            except ValueError:  # the muxer cannot hold it
                pass
        self._stream = container.add_stream("aac", rate=source.sample_rate, layout=source.layout)
        self._decoder = source.codec_context
        self.description = f"{codec} re-encoded to aac"

    def push(self, packet: av.Packet) -> None:
        if self._decoder is not None:
            for frame in self._decoder.decode(packet):
                self._mux(self._stream.encode(frame))
        elif packet.dts is not None:  # demux ends with empty packets that only flush decoders
            packet.stream = self._stream
            self._mux(packet)

    def flush(self) -> None:
        if self._decoder is not None:
            self._mux(self._stream.encode(None))


def open_input(path: str | os.PathLike) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    """Open a video file and its first video stream; anything unreadable is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such video file: {path}")
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise UserError(f"cannot open video (corrupt or not a video): {path}") from err
    if container.format.name == "tty":  # FFmpeg renders any text file as a video of its characters
        container.close()
        raise UserError(f"not a video (a text file): {path}")
    if not container.streams.video or not container.streams.video[0].codec_context.width:
        container.close()
        raise UserError(f"no video stream in {path}")
    video = container.streams.video[0]
    try:  # from the stream's header, before a frame is decoded
        check_pixels(f"video {path}", video.codec_context.width, video.codec_context.height)
    except UserError:
        container.close()
        raise
    # ...and in the decoder, for a stream whose frames grow past its header (FFmpeg's -max_pixels).
    video.codec_context.options = {"max_pixels": str(min(max_pixels(), 2**31 - 1))}
    return container, video


def check_video_output(path: str | os.PathLike) -> Path:
    """Refuse an output name the H.264 writer cannot make (.avi, .webm, no extension), before any work."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES:
        raise UserError(f"unknown video type {path.suffix or '(none)'!r} for {path}; use {_H264_SUFFIXES}")
    return path


def _first_frame_rotation(container, video, path) -> int:
    """0, 90, 180 or 270: how far the display matrix turns the frames counter-clockwise.

    FFmpeg hands the matrix to each decoded frame; reading it takes decoding the first one.
    """
    try:
        for frame in container.decode(video):
            return round(frame.rotation / 90) % 4 * 90
    except av.FFmpegError as err:
        raise UserError(f"cannot decode video {path}: {err}") from err
    return 0


def played_size(frame: av.VideoFrame) -> tuple[int, int]:
    """(height, width) of a decoded frame as players show it (its display matrix applied)."""
    return (frame.width, frame.height) if round(frame.rotation / 90) % 2 else (frame.height, frame.width)


def played_bgr(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as BGR uint8, turned upright as its display matrix says."""
    return _upright(round(frame.rotation / 90) % 4 * 90)(frame.to_ndarray(format="bgr24"))


_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def _upright(rotation: int) -> Callable[[np.ndarray], np.ndarray]:
    """The function that turns a decoded frame as its display matrix says (identity for 0)."""
    if rotation not in _ROTATE:
        return lambda frame: frame
    code = _ROTATE[rotation]
    return lambda frame: cv2.rotate(frame, code)


def _rate(video: av.video.VideoStream) -> Fraction:
    return video.average_rate or video.guessed_rate or video.base_rate or Fraction(30)


def _describe(container: av.container.InputContainer, video: av.video.VideoStream) -> dict:
    if video.duration is not None:
        duration = float(video.duration * video.time_base)
    else:
        duration = (container.duration or 0) / av.time_base
    fps = _rate(video)
    return {
        "frames": video.frames or round(duration * fps),
        "fps": float(fps),
        "width": video.codec_context.width,
        "height": video.codec_context.height,
        "has_audio": bool(container.streams.audio),
        "codec": video.codec_context.name,
        "duration": duration,
    }


class _Damage:
    """Frames of one input that could not be decoded: packets the decoder refused (skipped, as
    ffmpeg does; with `strict` a UserError), and frames the file lists but never yielded."""

    def __init__(self, path, strict: bool):
        self.path, self.strict, self.refused = path, strict, 0

    def refuse(self, err: av.FFmpegError) -> None:
        if self.strict or isinstance(err, av.ArgumentError):  # an argument error: the decoder cannot open (max_pixels)
            raise UserError(f"cannot decode video {self.path}: {err}") from err
        self.refused += 1

    def count(self, listed: int, decoded: int) -> int:
        """Refused packets, or the frames missing from the count the container lists if more."""
        return max(self.refused, listed - decoded) if listed else self.refused

    def check_total(self, undecodable: int) -> None:
        if self.strict and undecodable:
            raise UserError(f"{undecodable} frames of {self.path} could not be decoded (--strict); nothing written")


def _demux(container, video, audio, path, damage: _Damage) -> Iterator[tuple[av.Packet, list[av.VideoFrame]]]:
    """Packets of both streams in file order, with the decoded frames of video packets.

    Errors reading the input become UserError; a packet the decoder refuses goes to `damage`;
    errors writing the output pass through.
    """
    packets = container.demux(*(s for s in (video, audio) if s is not None))
    while True:
        try:
            packet = next(packets, None)
        except av.FFmpegError as err:
            raise UserError(f"cannot read video {path}: {err}") from err
        if packet is None:
            return
        frames = []
        if packet.stream_index == video.index:
            try:
                frames = packet.decode()
            except av.FFmpegError as err:
                damage.refuse(err)
        yield packet, frames


def _fit(process: Process, max_side: int | None) -> Process:
    """Wrap `process` so it sees frames no longer than `max_side`, its results scaled back up."""
    if not max_side:
        return process
    upscaled: dict[tuple[int, int], np.ndarray] = {}  # reused: the writer copies each frame

    def fitted(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if max(h, w) <= max_side:
            return process(frame)
        result = process(resize_longer_side(frame, max_side, cv2.INTER_AREA))
        out = upscaled.setdefault((h, w), np.empty((h, w, 3), np.uint8))
        return cv2.resize(result, (w, h), dst=out, interpolation=cv2.INTER_CUBIC)

    return fitted


@contextlib.contextmanager
def _open_output(path: Path) -> Iterator[av.container.OutputContainer]:
    try:
        container = av.open(str(path), "w")
    except ValueError as err:  # no muxer for the extension
        raise UserError(f"unknown video type {path.suffix!r}; use {_H264_SUFFIXES}") from err
    with container:
        yield container


def _add_h264(container, fps: Fraction, width: int, height: int) -> av.video.VideoStream:
    if "libx264" not in container.supported_codecs:
        raise UserError(f"{container.format.name} files cannot hold H.264 video; use {_H264_SUFFIXES}")
    # yuv420p (High profile) plays in browsers, QuickTime and phones; 4:4:4 does not.
    stream = container.add_stream(
        "libx264", rate=fps, options=dict(_X264_OPTIONS),
        width=width, height=height, pix_fmt="yuv420p", time_base=_TIME_BASE,
    )
    stream.codec_context.thread_count = 0  # as many as x264 likes; libavcodec's default is 1
    return stream


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[], None]]:
    """Yield a function to call once per frame; it drives a rich progress bar on stderr."""
    if not enabled:
        yield lambda: None
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:5.1f} fps"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total or None, fps=0.0)
        start, done = time.perf_counter(), 0

        def advance() -> None:
            nonlocal done
            done += 1
            bar.update(task, completed=done, fps=done / (time.perf_counter() - start))

        yield advance
        bar.update(task, total=done)  # the frame count was an estimate for some containers
