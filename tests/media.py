"""Small media files for tests, written with PyAV (independently of rtstyle.videoio)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TONE_RATE = 22050


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """A BGR uint8 frame: colour gradients under a checkerboard that moves with `index`."""
    y, x = np.mgrid[0:height, 0:width]
    checker = (((x + 3 * index) // 8 + y // 8) % 2) * 60
    blue = x * 180 // max(1, width - 1)
    green = y * 180 // max(1, height - 1)
    red = np.full_like(x, (index * 9) % 180)
    return (np.dstack([blue, green, red]) + checker[..., None]).astype(np.uint8)


def make_clip(
    path: str | Path,
    frames: int = 24,
    size: tuple[int, int] = (96, 64),
    fps: int = 12,
    audio: bool = True,
    audio_codec: str = "aac",
    rotation: int = 0,
    pix_fmt: str | None = None,
    times: list[float] | None = None,
    hdr: bool = False,
) -> Path:
    """Write an H.264 clip of `size` (width, height), with a 440 Hz tone unless audio=False.

    `rotation` adds a display matrix (degrees counter-clockwise, as phones store portrait clips);
    `times` gives each frame's time in seconds (a variable frame rate) instead of i / fps;
    `hdr` tags the video BT.2020 with the PQ transfer (HDR10's signalling; use a 10-bit pix_fmt).
    """
    path = Path(path)
    width, height = size
    tick = Fraction(1, 1000) if times is not None else Fraction(1, fps)
    pts = [round(t / tick) for t in times] if times is not None else list(range(frames))
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, width=width, height=height, time_base=tick)
        video.pix_fmt = pix_fmt or ("yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p")
        if rotation:
            video.set_display_rotation(rotation)
        if hdr:
            ctx = video.codec_context
            ctx.color_primaries, ctx.color_trc, ctx.colorspace = 9, 16, 9  # BT.2020, SMPTE 2084 (PQ), BT.2020 NCL
        if audio:
            _add_tone(container, audio_codec, float(pts[-1] * tick) + 1 / fps)
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="bgr24")
            frame.pts, frame.time_base = p, tick
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return path


def make_tone(path: str | Path, seconds: float = 1.0) -> Path:
    """Write an audio-only file (AAC tone)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        _add_tone(container, "aac", seconds)
    return path


def _add_tone(container, codec: str, seconds: float) -> None:
    # Encoded up front: the muxer interleaves by timestamp, and the whole tone is a few KB.
    stream = container.add_stream(codec, rate=TONE_RATE, layout="mono")
    t = np.arange(round(seconds * TONE_RATE)) / TONE_RATE
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = TONE_RATE, 0, Fraction(1, TONE_RATE)
    packets = stream.encode(frame) + stream.encode(None)
    container.mux(packets)


def read_video(path: str | Path) -> dict:
    """Decode a file completely: frame count and times, fps, size, first/last frame (BGR), durations."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames, times, rotations = [], [], set()
        for frame in container.decode(video):
            frames.append(frame.to_ndarray(format="bgr24"))
            times.append(frame.time)
            rotations.add(frame.rotation)
        return {
            "frames": len(frames),
            "times": times,
            "fps": float(video.average_rate),
            "size": (video.codec_context.width, video.codec_context.height),
            "pix_fmt": video.codec_context.pix_fmt,
            "profile": video.codec_context.profile,
            "rotations": rotations,
            "first": frames[0] if frames else None,
            "last": frames[-1] if frames else None,
            "video_s": float(video.duration * video.time_base) if video.duration else None,
            "audio_codec": audio.codec_context.name if audio else None,
            "audio_s": _audio_seconds(path, audio) if audio else None,
        }


def _audio_seconds(path, audio) -> float | None:
    if audio.duration:
        return float(audio.duration * audio.time_base)
    with av.open(str(path)) as container:  # Matroska keeps no stream duration: add up the packets
        packets = [p for p in container.demux(audio=0) if p.duration]
        return float(sum(p.duration for p in packets) * audio.time_base) if packets else None


def bomb_png(path: str | Path, width: int = 60000, height: int = 60000) -> Path:
    """A PNG of a few dozen bytes whose header claims `width` × `height` RGB (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path = Path(path)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def bomb_jpeg(path: str | Path, width: int = 60000, height: int = 60000) -> Path:
    """A JPEG of a few bytes whose start-of-frame claims `width` × `height` (a decompression bomb)."""
    import struct

    sof = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
    path = Path(path)
    path.write_bytes(b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9")
    return path


def damage_clip(source: str | Path, path: str | Path, frames: range) -> Path:
    """Copy `source` to `path` with the video packets numbered `frames` overwritten by noise
    (seeded): the container still lists every frame, the decoder refuses those packets."""
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        spans = [(p.pos, p.size) for p in container.demux(video) if p.size]
    data = bytearray(Path(source).read_bytes())
    rng = np.random.default_rng(1)
    for at, size in (spans[i] for i in frames):
        data[at : at + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    Path(path).write_bytes(bytes(data))
    return Path(path)


def make_frameless_clip(path: str | Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A Matroska file whose H.264 stream has a size in its header and one packet of zeros: no
    frame decodes from it."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=12, width=size[0], height=size[1])
        video.pix_fmt = "yuv420p"
        container.start_encoding()
        packet = av.Packet(bytes(16))
        packet.stream, packet.pts, packet.dts, packet.time_base = video, 0, 0, video.time_base
        container.mux(packet)
    return path
