"""Reading and writing still images (OpenCV, BGR uint8), with errors a user can act on.

Every image rtstyle reads goes through `read_image`, which checks the header first
(`check_image`): a file whose header claims more than RTSTYLE_MAX_MEGAPIXELS (default 100)
is refused before any pixel is decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import UserError
from .limits import check_pixels
from .outputs import atomic_output, write_error

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
def check_image(path: str | os.PathLike) -> tuple[int, int]:
    """Check from its header alone that `path` is a readable image within max_pixels(); return (width, height)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such image file: {path}")
    try:
        with _no_pillow_limit(), Image.open(path) as im:
            width, height = im.size
    except PermissionError:
        raise UserError(f"cannot read image (permission denied): {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # SyntaxError: Pillow's word for a bad header
        raise UserError(f"cannot decode image (corrupt or not an image): {path}") from None
    check_pixels(f"image {path}", width, height)
    return width, height


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as BGR uint8 H×W×3 (alpha dropped, grey expanded, EXIF orientation applied)."""
    path = Path(path)
    check_image(path)
    data = np.fromfile(path, dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:  # OpenCV's own pixel limit (OPENCV_IO_MAX_IMAGE_PIXELS), above ours if raised
        image = None
    if image is None:
        raise UserError(f"cannot decode image (corrupt or not an image): {path}")
    return image


@contextlib.contextmanager
def _no_pillow_limit():
    """Pillow refuses over 2 × its own MAX_IMAGE_PIXELS at open; rtstyle's limit applies instead."""
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Encode by the file extension and write atomically (temporary name, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UserError(f"unknown image type {path.suffix!r} for {path}; use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    ok, buf = cv2.imencode(suffix, image)
    if not ok:
        raise UserError(f"cannot encode image as {suffix}: {path}")
    try:
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            f.write(buf)
    except OSError as err:  # the partial file is gone; an older file under `path` is untouched
        raise write_error(path, err) from None
    return path


def resize_longer_side(image: np.ndarray, side: int, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Resize so the longer side is `side` pixels, keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=interpolation)


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
