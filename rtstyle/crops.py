"""Training data: photos split into training and held-out sets, random crops of them, and a
trained model's stylization of a fixed set of crops (the targets of distillation)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from .registry import file_sha256
from .errors import UserError
from .imageio import list_images, read_image, resize_longer_side
from .outputs import atomic_output


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 RGB → 1×3×H×W float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255)


def split_photos(folder: str, holdout_every: int) -> tuple[list[Path], list[Path]]:
    """(training photos, held-out photos): every Nth photo by sorted name is held out."""
    photos = list_images(folder)
    if not photos:
        raise UserError(f"no images found in {folder}")
    if holdout_every <= 1 or len(photos) < 2:
        return photos, []
    held = photos[holdout_every - 1 :: holdout_every]
    held_set = set(held)
    return [p for p in photos if p not in held_set], held


class PhotoCrops:
    """Random crops with scale jitter and flips from a folder of photos, kept in memory (RGB uint8)."""

    def __init__(self, paths: list[Path], scale: int, size: int):
        self.paths, self.scale, self.size = paths, scale, size
        self.cache: dict[int, np.ndarray] = {}

    @classmethod
    def from_images(cls, images: list[np.ndarray], scale: int, size: int) -> PhotoCrops:
        """Crops of images already in memory (BGR uint8), such as a video's frames."""
        crops = cls([Path(f"image-{i}") for i in range(len(images))], scale, size)
        for i, image in enumerate(images):
            crops.cache[i] = crops.fitted(image)
        return crops

    def fitted(self, bgr: np.ndarray) -> np.ndarray:
        """An image at `scale` px on its longer side (at least `size` on its shorter), RGB."""
        img = resize_longer_side(bgr, self.scale, cv2.INTER_AREA)
        if min(img.shape[:2]) < self.size:
            f = self.size / min(img.shape[:2])
            img = cv2.resize(img, (math.ceil(img.shape[1] * f), math.ceil(img.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
        return img[..., ::-1].copy()

    def photo(self, i: int) -> np.ndarray:
        if i not in self.cache:
            self.cache[i] = self.fitted(read_image(self.paths[i]))
        return self.cache[i]

    def crops(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n random crops, N×size×size×3 uint8 RGB."""
        out = np.empty((n, self.size, self.size, 3), np.uint8)
        for k in range(n):
            img = self.photo(int(rng.integers(len(self.paths))))
            h, w = img.shape[:2]
            side = min(h, w, round(self.size / rng.uniform(0.8, 1.25)))
            y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
            crop = img[y : y + side, x : x + side]
            if side != self.size:
                interp = cv2.INTER_AREA if side > self.size else cv2.INTER_CUBIC
                crop = cv2.resize(crop, (self.size, self.size), interpolation=interp)
            out[k] = crop[:, ::-1] if rng.random() < 0.5 else crop
        return out

    def batch(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return to_batch(self.crops(n, rng))


def to_batch(rgb: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 RGB → N×3×H×W float in [0, 1]."""
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div_(255)


class TeacherCrops:
    """A fixed set of random photo crops and a trained model's stylization of each crop.

    The teacher stylizes exactly the crop the student sees, so instance norm normalizes both
    over the same pixels. (Targets cut out of whole-photo stylizations are not a function of
    the crop: a student trained on them washed the style out.) The teacher runs once per crop
    with onnxruntime; the set is saved in the user cache folder, keyed by teacher, photos,
    sizes and seed, so a resumed or repeated run does not pay for it again.
    """

    def __init__(self, paths: list[Path], scale: int, size: int, teacher: str, count: int, seed: int = 0, log=print):
        from .registry import cache_dir
        from .stylizer import Stylizer

        stylizer = Stylizer(teacher, threads=torch.get_num_threads())
        recipe = [file_sha256(stylizer.path), sorted(str(p.resolve()) for p in paths), scale, size, count, seed]
        self.file = cache_dir() / "distill" / f"{hashlib.sha256(repr(recipe).encode()).hexdigest()[:16]}.npz"
        if self.file.is_file():
            with np.load(self.file) as saved:
                self.photos, self.targets = saved["photos"], saved["targets"]
            return
        log(f"teacher {stylizer.name}: stylizing {count} crops of {size}² once (cached in {self.file.parent})")
        self.photos = PhotoCrops(paths, scale, size).crops(count, np.random.default_rng([seed, count]))
        self.targets = np.empty_like(self.photos)
        for i in range(0, count, 16):  # onnxruntime takes and returns BGR
            self.targets[i : i + 16] = stylizer(np.ascontiguousarray(self.photos[i : i + 16, ..., ::-1]))[..., ::-1]
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.file) as tmp:
            np.savez(tmp, photos=self.photos, targets=self.targets)

    def batch(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        pick = rng.integers(len(self.photos), size=n)
        return to_batch(self.photos[pick]), to_batch(self.targets[pick])
