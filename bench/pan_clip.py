"""A panning clip from a photo, for `rtstyle flicker` (the stabilizer's warping error).

    python bench/pan_clip.py PHOTO -o pan.mp4 [--frames 60 --step 6 --size 640x480 --noise 0]

The photo is scaled so its height is the clip's and a window of the clip's size moves `--step`
pixels right per frame (30 fps, H.264): real image content under a steady, known motion. A
fractional step resamples every frame (as a real camera's pan does), and `--noise` adds a
camera's grain (Gaussian, standard deviation in 0-255 levels, new every frame).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from rtstyle.imageio import read_image
from rtstyle.videoio import VideoWriter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--step", type=float, default=6)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    image = read_image(args.photo)
    scale = max(height / image.shape[0], (width + args.step * args.frames + 1) / image.shape[1])
    image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    top = (image.shape[0] - height) // 2
    rng = np.random.default_rng(args.seed)
    with VideoWriter(args.output, 30, width, height) as writer:
        for i in range(args.frames):
            shift = np.float32([[1, 0, -i * args.step], [0, 1, -top]])
            frame = cv2.warpAffine(image, shift, (width, height), flags=cv2.INTER_LINEAR)
            if args.noise:
                grain = rng.normal(0, args.noise, frame.shape).astype(np.float32)
                frame = np.clip(frame + grain, 0, 255).astype(np.uint8)
            writer.write(frame)
    print(f"wrote {args.output}: {args.frames} frames of {width}x{height}, {args.step} px a frame")


if __name__ == "__main__":
    main()
