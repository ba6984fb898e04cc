"""Rebuild the pictures in docs/: a contact sheet of every bundled style on photos.

    python docs/make_figures.py PHOTO [PHOTO ...] --tier quality -o docs/contact-quality.jpg
"""

import argparse

import cv2
import numpy as np

from rtstyle import Stylizer
from rtstyle.imageio import read_image, resize_longer_side, write_image
from rtstyle.registry import bundled_styles


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--tier", default="quality")
    parser.add_argument("--width", type=int, default=640, help="stylize at this longer side (a webcam frame)")
    parser.add_argument("--thumb", type=int, default=300)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    stylizers = [Stylizer(name, provider="cpu", tier=args.tier) for name in bundled_styles()]
    rows = []
    for path in args.photos:
        photo = resize_longer_side(read_image(path), args.width, cv2.INTER_AREA)
        cells = [("photo", photo)] + [(s.name, s(photo)) for s in stylizers]
        rows.append(np.hstack([label(resize_longer_side(img, args.thumb, cv2.INTER_AREA), name) for name, img in cells]))
    width = max(r.shape[1] for r in rows)
    rows = [cv2.copyMakeBorder(r, 0, 4, 0, width - r.shape[1], cv2.BORDER_CONSTANT) for r in rows]
    write_image(args.output, np.vstack(rows))


if __name__ == "__main__":
    main()
