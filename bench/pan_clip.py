"""A panning clip from a photo, for `rtstyle flicker` (the stabilizer's warping error).

    python bench/pan_clip.py PHOTO -o pan.mp4 [--frames 60 --step 6 --size 640x480]

The photo is scaled so its height is the clip's and a window of the clip's size moves `--step`
pixels right per frame (30 fps, H.264): real image content under a steady, known motion.
"""

from __future__ import annotations

import argparse

import cv2

from rtstyle.imageio import read_image
from rtstyle.videoio import VideoWriter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--step", type=int, default=6)
    ap.add_argument("--size", default="640x480")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    image = read_image(args.photo)
    scale = max(height / image.shape[0], (width + args.step * args.frames) / image.shape[1])
    image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    top = (image.shape[0] - height) // 2
    with VideoWriter(args.output, 30, width, height) as writer:
        for i in range(args.frames):
            writer.write(image[top : top + height, i * args.step : i * args.step + width].copy())
    print(f"wrote {args.output}: {args.frames} frames of {width}x{height}, {args.step} px a frame")


if __name__ == "__main__":
    main()
