"""Media benchmarks: video decode/encode overlap, memory over a long video, big photos.

    python bench/media.py overlap --model mosaic-fast --size 640x360 --seconds 10 --rounds 3
    python bench/media.py long --minutes 10 --size 160x96 --model mosaic-fast
    python bench/media.py photo --size 4000x3000 --model mosaic      # also: --model mosaic-fast
    python bench/media.py photo --model mosaic -- --stroke-scale native   # the network at 12 MP

`overlap` times `transform_video` on one generated clip (textured, moving, with an AAC tone),
alternating overlap off (decode, model and encode in one thread, as before) and on (decode and
encode in threads), and prints the FPS of each round and their medians.
`long` stylizes a generated clip of `--minutes` and prints the resident memory (RSS) after the
first frames, at every tenth of the clip and at the end: it must stay flat.
`photo` runs `rtstyle image` on a generated photo in a child process and prints its wall time
and peak RSS (ru_maxrss of the child); options after `--` go to `rtstyle image` (by default the
network runs at 512 px on the longer side; `--stroke-scale native` at the photo's own size,
in tiles once over RTSTYLE_MAX_NETWORK_GB).
Generated media go to --work (default: a temporary folder).
Run with `nice -n 10` on a shared machine; numbers from a loaded machine vary by tens of percent.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtstyle.bench import texture_frames
from rtstyle.stylizer import Stylizer
from rtstyle.videoio import transform_video

TONE_RATE = 44100


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def make_clip(path: Path, width: int, height: int, seconds: float, fps: int = 30) -> Path:
    """A textured clip that pans (so the encoder has real work) with a 440 Hz AAC tone."""
    if path.exists():
        return path
    textures = texture_frames(width * 2, height, count=2)
    tmp = path.with_name("." + path.name)
    with av.open(str(tmp), "w") as container:
        video = container.add_stream("libx264", rate=fps, width=width, height=height, options={"preset": "veryfast"})
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=TONE_RATE, layout="mono")
        samples = 0
        for i in range(round(seconds * fps)):
            x = (4 * i) % width
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(textures[(i // fps) % 2][:, x : x + width]), format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
            if i % fps == 0:  # one second of tone
                t = (samples + np.arange(TONE_RATE)) / TONE_RATE
                tone = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp", layout="mono")
                tone.sample_rate, tone.pts, tone.time_base = TONE_RATE, samples, Fraction(1, TONE_RATE)
                container.mux(audio.encode(tone))
                samples += TONE_RATE
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    tmp.rename(path)
    return path


def size_arg(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def overlap(args, work: Path) -> None:
    w, h = args.size
    clip = make_clip(work / f"overlap-{w}x{h}-{args.seconds}s.mp4", w, h, args.seconds)
    stylizer = Stylizer(args.model, provider="cpu", threads=args.threads)
    fps = {False: [], True: []}
    for r in range(args.rounds):
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            stats = transform_video(clip, work / "out.mp4", stylizer, progress=False, overlap=on)
            fps[on].append(stats.frames / stats.total_s)
            print(f"round {r + 1} overlap {'on ' if on else 'off'}: {fps[on][-1]:6.2f} fps "
                  f"(decode {stats.decode_ms:.1f} ms, stylize {stats.process_ms:.1f} ms, encode {stats.encode_ms:.1f} ms per frame)", flush=True)
    off, on = statistics.median(fps[False]), statistics.median(fps[True])
    print(f"{args.model} {w}x{h}, {stats.frames} frames, {os.cpu_count()} cores: overlap off {off:.2f} fps, on {on:.2f} fps ({on / off:.2f}x)")


def long(args, work: Path) -> None:
    w, h = args.size
    clip = make_clip(work / f"long-{w}x{h}-{args.minutes}min.mp4", w, h, args.minutes * 60)
    stylizer = Stylizer(args.model, provider="cpu", threads=args.threads)
    total = round(args.minutes * 60 * 30)
    marks = {20, *(total * k // 10 for k in range(1, 11))}
    samples = []
    count = 0

    def process(frame):
        nonlocal count
        count += 1
        if count in marks:
            samples.append((count, rss_mb()))
            print(f"frame {count:6d}: RSS {samples[-1][1]:7.1f} MB", flush=True)
        return stylizer(frame)

    print(f"before: RSS {rss_mb():.1f} MB", flush=True)
    stats = transform_video(clip, work / "long-out.mp4", process, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"{args.model} {w}x{h}, {stats.frames} frames ({args.minutes} min) in {stats.total_s:.0f} s: "
          f"RSS {samples[0][1]:.1f} MB at frame {samples[0][0]}, {samples[-1][1]:.1f} MB at frame {samples[-1][0]}, "
          f"peak {peak:.1f} MB")


def photo(args, work: Path) -> None:
    w, h = args.size
    path = work / f"photo-{w}x{h}.jpg"
    if not path.exists():
        cv2.imwrite(str(path), texture_frames(w, h, count=1)[0], [cv2.IMWRITE_JPEG_QUALITY, 92])
    command = [sys.executable, "-m", "rtstyle.cli", "image", str(path), "-m", args.model, "-o", str(work / "photo-out.jpg"), *args.extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3
    if result.returncode != 0:
        sys.exit(f"rtstyle image failed: {result.stderr.strip()}")
    print(f"{args.model} {w}x{h} ({w * h / 1e6:.0f} MP) {' '.join(args.extra) or 'defaults'}: {seconds:.1f} s, "
          f"peak RSS {peak:.0f} MB; {result.stderr.strip().splitlines()[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="Folder for the generated media (kept between runs).")
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("overlap")
    p.add_argument("--model", default="mosaic-fast")
    p.add_argument("--size", type=size_arg, default=(640, 360))
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int)
    p = sub.add_parser("long")
    p.add_argument("--model", default="mosaic-fast")
    p.add_argument("--size", type=size_arg, default=(160, 96))
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--threads", type=int)
    p = sub.add_parser("photo")
    p.add_argument("--model", default="mosaic")
    p.add_argument("--size", type=size_arg, default=(4000, 3000))
    p.add_argument("extra", nargs="*", help="More `rtstyle image` options (after --).")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rtstyle-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    {"overlap": overlap, "long": long, "photo": photo}[args.bench](args, work)


if __name__ == "__main__":
    main()
