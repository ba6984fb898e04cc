"""Cost per frame of each control in rtstyle.controls, and the speed that fewer pixels buys.

    .venv/bin/python bench/controls.py                        # 640x480 and 1920x1080, mosaic-fast
    .venv/bin/python bench/controls.py --model mosaic --frames 10 --threads 2

Two tables, medians in ms per frame over `--frames` calls on varied texture frames:
  * overhead: each control on its own around a network that costs nothing (it returns a
    prepared frame of the working size), so the number is the control's own work: the resize
    down, the guided upsample, the chroma swap, the strength blend;
  * end to end: the real Stylizer with the default controls (stroke_scale 1.0, the network at
    512 px on the longer side) against NATIVE (the network on the full frame), and the speed-up.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from rtstyle.bench import texture_frames, time_calls
from rtstyle.controls import NATIVE, FrameControls, guided_upsample, keep_chroma, shrink
from rtstyle.stylizer import Stylizer

SIZES = ((640, 480), (1920, 1080))


def median(values: list[float]) -> float:
    return float(np.median(values))


def overhead_rows(width: int, height: int, frames: int) -> list[tuple[str, float]]:
    inputs = texture_frames(width, height, count=4)
    controls = FrameControls()
    w, h = controls.working_size(width, height)
    smalls = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in inputs]
    painted = [255 - s for s in smalls]  # stands in for the network's output
    pairs = list(zip(inputs, smalls, painted))
    free_network = lambda small: painted[0] if small.shape == painted[0].shape else 255 - small
    rows = [
        (f"shrink to {w}x{h} (area average)", lambda f: shrink(f, (w, h)), inputs),
        ("guided upsample back", lambda p: guided_upsample(p[2], p[1], p[0]), pairs),
        ("plain cubic upsample (for comparison)", lambda p: cv2.resize(p[2], (width, height), interpolation=cv2.INTER_CUBIC), pairs),
        ("preserve_color (YCrCb chroma swap)", lambda f: keep_chroma(255 - f, f), inputs),
        ("strength 0.7 (blend)", lambda f: cv2.addWeighted(255 - f, 0.7, f, 0.3, 0), inputs),
        ("all: stroke 1.0 + colour + strength, free network",
         lambda f: FrameControls(strength=0.7, preserve_color=True).apply(free_network, f), inputs),
    ]
    return [(name, median(time_calls(fn, data, frames))) for name, fn, data in rows]


def end_to_end_rows(stylizer: Stylizer, width: int, height: int, frames: int) -> list[tuple[str, float]]:
    inputs = texture_frames(width, height, count=4)
    rows = []
    for label, controls in (("native (network on the full frame)", FrameControls(stroke_scale=NATIVE)),
                            ("stroke_scale 1.0 (default)", FrameControls()),
                            ("stroke_scale 2.0", FrameControls(stroke_scale=2.0))):
        w, h = controls.working_size(width, height)
        rows.append((f"{label}: network at {w}x{h}", median(time_calls(controls.wrap(stylizer), inputs, frames, warmup=2))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mosaic-fast", help="model for the end-to-end table (default: mosaic-fast)")
    parser.add_argument("--frames", type=int, default=20, help="timed calls per row")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime CPU threads")
    args = parser.parse_args()

    print(f"controls overhead, ms per frame (median of {args.frames}; network cost excluded)")
    for width, height in SIZES:
        print(f"  {width}x{height}")
        for name, ms in overhead_rows(width, height, args.frames):
            print(f"    {name:52s} {ms:7.2f} ms")
    stylizer = Stylizer(args.model, provider="cpu", threads=args.threads)
    print(f"\nend to end with {stylizer.name} on {stylizer.provider}, ms per frame")
    for width, height in SIZES:
        print(f"  {width}x{height}")
        rows = end_to_end_rows(stylizer, width, height, max(3, args.frames // 4))
        native = rows[0][1]
        for name, ms in rows:
            print(f"    {name:52s} {ms:8.1f} ms  {1000 / ms:5.1f} fps  x{native / ms:4.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
