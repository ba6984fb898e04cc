"""Rebuild the README's pictures from the bundled models, by running the commands the README shows.

    pip install scikit-image                                  # the photos (only for this script)
    python docs/make_figures.py --still-style starry_night.jpg           # all four pictures
    python docs/make_figures.py gallery tiers video                      # some of them

The photos are scikit-image's CC0 sample data (`chelsea`, `coffee`, `rocket`). The still needs
an image of van Gogh's *The Starry Night* (public domain; the developers' data has one as
styles/starry_night.jpg); without --still-style that picture is skipped. What each picture runs:

    gallery-quality.jpg       rtstyle image chelsea.png coffee.png -m NAME -o DIR/   (every quality model)
    gallery-tiers.jpg         the same for coffee.png with -m NAME and -m NAME-fast  (both tiers)
    video-mosaic.jpg          rtstyle video demo.mp4 -m mosaic -o out.mp4            (a pan over rocket)
    still-chelsea-starry.jpg  rtstyle still chelsea.png -s starry_night.jpg -o still.png --size 512 --iterations 200

Photos are scaled to 640 px on the longer side (a webcam frame) before `rtstyle image`; the demo
clip is 480x360. On a 2-core CPU the first three take about a minute, the still a few more.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rtstyle.imageio import read_image, resize_longer_side, write_image
from rtstyle.registry import FAST_SUFFIX, bundled_models, bundled_styles
from rtstyle.videoio import VideoWriter, open_input

DOCS = Path(__file__).resolve().parent
FIGURES = ("gallery", "tiers", "video", "still")
WEBCAM_SIDE = 640
THUMB = 240  # longer side of a cell in the contact sheets


def rtstyle(*args: str) -> None:
    """Run the command line exactly as a user would (`rtstyle ARGS`), from this checkout."""
    command = [sys.executable, "-m", "rtstyle.cli", *args]
    print("$ rtstyle " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)


def sample_photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as BGR uint8."""
    try:
        from skimage import data
    except ImportError:
        sys.exit("make_figures: needs scikit-image for its sample photos: pip install scikit-image")
    return np.ascontiguousarray(getattr(data, name)()[..., ::-1])


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def sheet(rows: list[list[tuple[str, np.ndarray]]]) -> np.ndarray:
    """Labelled thumbnails, one row per list, rows left-aligned and padded to the widest."""
    strips = [np.hstack([label(resize_longer_side(img, THUMB, cv2.INTER_AREA), text) for text, img in row]) for row in rows]
    width = max(s.shape[1] for s in strips)
    return np.vstack([cv2.copyMakeBorder(s, 0, 4, 0, width - s.shape[1], cv2.BORDER_CONSTANT) for s in strips])


def stylize_photos(work: Path, photos: list[Path], model: str) -> list[np.ndarray]:
    """`rtstyle image PHOTOS -m MODEL -o DIR/`, and the results read back."""
    folder = work / model
    folder.mkdir()  # `-o DIR/` names a folder only with several inputs or when it exists
    rtstyle("image", *map(str, photos), "-m", model, "-o", f"{folder}/")
    return [read_image(folder / p.name) for p in photos]


def webcam_sized(work: Path, name: str) -> Path:
    path = work / f"{name}.png"
    write_image(path, resize_longer_side(sample_photo(name), WEBCAM_SIDE, cv2.INTER_CUBIC))
    return path


def gallery(work: Path) -> None:
    photos = [webcam_sized(work, name) for name in ("chelsea", "coffee")]
    styles = bundled_styles()
    results = {model: stylize_photos(work, photos, model) for model in styles}
    rows = [[("photo", read_image(p))] + [(m, results[m][i]) for m in styles] for i, p in enumerate(photos)]
    write_image(DOCS / "gallery-quality.jpg", sheet(rows))


def tiers(work: Path) -> None:
    photo = webcam_sized(work, "coffee")
    styles = [s for s in bundled_styles() if s + FAST_SUFFIX in bundled_models()]
    rows = []
    for suffix in ("", FAST_SUFFIX):
        rows.append([("photo", read_image(photo))] + [(s + suffix, stylize_photos(work, [photo], s + suffix)[0]) for s in styles])
    write_image(DOCS / "gallery-tiers.jpg", sheet(rows))


def video(work: Path) -> None:
    """A 480x360 pan across `rocket` at its own resolution (24 frames, 24 fps); three frames before and after."""
    scene = sample_photo("rocket")  # 640x427
    width, height, frames = 480, 360, 24
    top = (scene.shape[0] - height) // 2
    demo, out = work / "demo.mp4", work / "out.mp4"
    with VideoWriter(demo, 24, width, height) as writer:
        for i in range(frames):
            x = round(i * (scene.shape[1] - width) / (frames - 1))
            writer.write(np.ascontiguousarray(scene[top:top + height, x:x + width]))
    rtstyle("video", str(demo), "-m", "mosaic", "-o", str(out))
    picks = (0, frames // 2, frames - 1)
    rows = [[frame for i, frame in enumerate(decode(path)) if i in picks] for path in (demo, out)]
    figure = np.vstack([np.hstack([cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in row]) for row in rows])
    write_image(DOCS / "video-mosaic.jpg", figure)


def decode(path: Path) -> list[np.ndarray]:
    container, stream = open_input(path)
    with container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]


def still(work: Path, style: Path | None) -> None:
    if style is None:
        print("skip still: give --still-style (an image of The Starry Night)", file=sys.stderr)
        return
    photo = work / "chelsea.png"
    write_image(photo, sample_photo("chelsea"))
    result = work / "still.png"
    rtstyle("still", str(photo), "-s", str(style), "-o", str(result), "--size", "512", "--iterations", "200")
    left = read_image(photo)
    right = cv2.resize(read_image(result), (left.shape[1], left.shape[0]), interpolation=cv2.INTER_AREA)
    write_image(DOCS / "still-chelsea-starry.jpg", np.hstack([left, np.zeros((left.shape[0], 2, 3), np.uint8), right]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", nargs="*", help=f"which pictures (default: all): {', '.join(FIGURES)}")
    parser.add_argument("--still-style", type=Path, help="an image of The Starry Night, for the still")
    args = parser.parse_args()
    unknown = set(args.figures) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure {', '.join(sorted(unknown))}: choose from {', '.join(FIGURES)}")
    makers = {"gallery": gallery, "tiers": tiers, "video": video, "still": lambda work: still(work, args.still_style)}
    with tempfile.TemporaryDirectory(prefix="rtstyle-figures-") as tmp:
        for name in args.figures or FIGURES:
            start = time.perf_counter()
            work = Path(tmp) / name
            work.mkdir()
            makers[name](work)
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
