"""Reading and writing still images (OpenCV, BGR uint8), with errors a user can act on."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import UserError
from .outputs import atomic_output

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as BGR uint8 H×W×3 (alpha dropped, grey expanded)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such image file: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"cannot decode image (corrupt or not an image): {path}")
    return image


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Encode by the file extension and write atomically (temporary name, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UserError(f"unknown image type {path.suffix!r} for {path}; use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    ok, buf = cv2.imencode(suffix, image)
    if not ok:
        raise UserError(f"cannot encode image as {suffix}: {path}")
    with atomic_output(path) as tmp:
        buf.tofile(tmp)
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
