"""The stabilizer's flow settings on real clips: warping error against `--no-stabilize`, and cost.

    python bench/stabilizer.py CLIP [CLIP ...] -m mosaic [--frames 60]

Each clip is stylized once without the stabilizer; every setting then steadies the same frames,
so the columns differ only in the stabilizer. Warping error as `rtstyle flicker` measures it
(on frames not passed through a codec), as a ratio to the unsteadied output; milliseconds are
the median stabilizer call per frame, all settings interleaved frame by frame.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from rtstyle.pipeline import Pipeline
from rtstyle.temporal import Stabilizer, warping_error
from rtstyle.videoio import open_input, played_bgr

U, F = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, cv2.DISOPTICAL_FLOW_PRESET_FAST
SETTINGS = {  # the flow preset, its scale, and the grey-level change that marks a pixel unreliable
    "ultrafast, half, 0.05": dict(preset=U, scale=0.5, change_threshold=0.05),
    "fast, half, 0.05": dict(preset=F, scale=0.5, change_threshold=0.05),
    "fast, half, 0.08": dict(preset=F, scale=0.5, change_threshold=0.08),
    "fast, full, 0.08": dict(preset=F, scale=1.0, change_threshold=0.08),
}


def read_frames(path: str, count: int) -> list[np.ndarray]:
    container, stream = open_input(path)
    with container:
        return [played_bgr(f) for _, f in zip(range(count), container.decode(stream))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("-m", "--model", default="mosaic")
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    pipeline = Pipeline(model=args.model)
    print(f"{'clip':32s} " + "  ".join(f"{name:>22s}" for name in SETTINGS))
    for clip in args.clips:
        frames = read_frames(clip, args.frames)
        stylized = [pipeline(f) for f in frames]
        plain = warping_error(frames, stylized)["error"]
        stabilizers = {name: Stabilizer(**kw) for name, kw in SETTINGS.items()}
        outputs = {name: [] for name in SETTINGS}
        costs = {name: [] for name in SETTINGS}
        for frame, out in zip(frames, stylized):
            for name, stabilizer in stabilizers.items():
                start = time.perf_counter()
                outputs[name].append(stabilizer(frame, out))
                costs[name].append(time.perf_counter() - start)
        cells = [f"{warping_error(frames, outputs[name])['error'] / plain:.3f}× {np.median(costs[name][1:]) * 1000:5.1f} ms"
                 for name in SETTINGS]
        print(f"{clip[-32:]:32s} " + "  ".join(f"{c:>22s}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
