"""Style and content distance of stylized photos, by a fixed protocol that compares across tools.

Photo and style image are each resized (bicubic, antialiased as PIL does it) so the longer side
is 512. With VGG19 (ImageNet weights, see `vgg`):
- style distance: sum over relu1_1..relu5_1 of the mean squared difference of Gram matrices;
  `style_rel` is that over the same distance for the unstyled photo;
- per-layer style distance: `style_layer_rel[layer]` is that layer's Gram distance over the
  unstyled photo's on the same layer, `style_rel_layers` their mean (the sum above is nearly all
  relu4_1; relu1_1, the layer that carries colour, is three orders of magnitude smaller);
- content distance: mean squared difference of relu4_2 features of result and photo;
  `content_rel` is that over the mean square of the photo's relu4_2 features;
- palette: `palette_rel` is the sliced Wasserstein distance (`PALETTE_PROJECTIONS` random
  directions, 1-Wasserstein along each) between the CIE Lab colours of the result and of the
  style image, each at `PALETTE_SIDE` px on the longer side with `PALETTE_SAMPLES` pixels drawn
  by a fixed seed, over the same distance for the unstyled photo: 1 is the photo's palette, 0
  the painting's. Gram distances miss a washed-out palette; this does not.
A model may stylize at another size than the protocol's (`evaluate(size=...)`, e.g. 1080 px);
its result is then resized to the protocol's size to be measured.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
import torch
from PIL import Image

from . import palette
from .errors import UserError
from .imageio import IMAGE_SUFFIXES, check_image
from .vgg import CONTENT_LAYER, STYLE_LAYERS, VGG19, content_distance, style_grams, style_layer_distances

EVAL_SIDE = 512
PALETTE_SIDE = 256
PALETTE_SAMPLES = 20_000
PALETTE_PROJECTIONS = 128


def _resized(im: Image.Image, longer_side: int) -> np.ndarray:
    w, h = im.size
    s = longer_side / max(w, h)
    return np.array(im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC))


def load_rgb(path: str | os.PathLike, longer_side: int = EVAL_SIDE) -> np.ndarray:
    """Read an image as RGB uint8 resized (PIL bicubic) so its longer side is `longer_side`."""
    check_image(path)  # exists, decodable header, within RTSTYLE_MAX_MEGAPIXELS (no decompression bomb)
    try:
        with Image.open(path) as im:
            return _resized(im.convert("RGB"), longer_side)
    except FileNotFoundError:
        raise UserError(f"no such image file: {path}") from None
    except OSError:
        raise UserError(f"cannot decode image (corrupt or not an image): {path}") from None


def resize_rgb(rgb: np.ndarray, longer_side: int) -> np.ndarray:
    """An RGB uint8 array resized (PIL bicubic) so its longer side is `longer_side`."""
    return rgb if max(rgb.shape[:2]) == longer_side else _resized(Image.fromarray(rgb), longer_side)


def lab_samples(rgb: np.ndarray, count: int = PALETTE_SAMPLES, seed: int = 0) -> np.ndarray:
    """`count` CIE Lab colours (L 0-100, a and b about ±100) drawn by a fixed seed from the
    image at `PALETTE_SIDE` px on its longer side, count×3 float32."""
    small = resize_rgb(rgb, PALETTE_SIDE)
    lab = cv2.cvtColor(small.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    pick = np.random.default_rng(seed).choice(len(lab), count, replace=len(lab) < count)
    return lab[pick]


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = PALETTE_PROJECTIONS, seed: int = 0) -> float:
    """Mean over random unit directions of the 1-Wasserstein distance between the projections
    of two equally sized point sets (N×D)."""
    directions = np.random.default_rng(seed).standard_normal((a.shape[1], projections)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=0)
    a, b = (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in (a, b))
    return float(palette.sliced_wasserstein(a, b, torch.from_numpy(directions)))


def _tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255).to(device)


@dataclass
class Quality:
    image: str
    style_distance: float
    content_distance: float
    style_rel: float
    content_rel: float
    style_rel_layers: float  # mean of style_layer_rel
    palette_rel: float
    style_layer_rel: dict[str, float]


class QualityMeter:
    """Measures results against one style image."""

    def __init__(self, style: str | os.PathLike, vgg_weights: str | None = None, device: str = "cpu"):
        self.device = torch.device(device)
        self.vgg = VGG19(vgg_weights, last_layer="relu5_1").to(self.device)
        self.layers = STYLE_LAYERS + (CONTENT_LAYER,)
        self.grams = style_grams(self.vgg, _tensor(load_rgb(style), self.device))
        with Image.open(style) as im:
            self.style_colours = lab_samples(_resized(im.convert("RGB"), PALETTE_SIDE))

    def palette_rel(self, photo_rgb: np.ndarray, result_rgb: np.ndarray) -> float:
        """The result's palette distance to the style image over the photo's (1: the photo's, 0: the painting's)."""
        photo = sliced_wasserstein(lab_samples(photo_rgb), self.style_colours)
        return sliced_wasserstein(lab_samples(result_rgb), self.style_colours) / max(photo, 1e-8)

    @torch.no_grad()
    def measure(self, photo_rgb: np.ndarray, result_rgb: np.ndarray, name: str = "") -> Quality:
        """`photo_rgb` at the protocol's size; `result_rgb` is resized to it if it differs."""
        if result_rgb.shape != photo_rgb.shape:
            im = Image.fromarray(result_rgb).resize((photo_rgb.shape[1], photo_rgb.shape[0]), Image.BICUBIC)
            result_rgb = np.array(im)
        fp = self.vgg(_tensor(photo_rgb, self.device), self.layers)
        fr = self.vgg(_tensor(result_rgb, self.device), self.layers)
        lr = {k: v.item() for k, v in style_layer_distances(fr, self.grams).items()}
        lp = {k: v.item() for k, v in style_layer_distances(fp, self.grams).items()}
        layer_rel = {k: lr[k] / max(lp[k], 1e-30) for k in lr}
        sd, sp = sum(lr.values()), sum(lp.values())
        cd = content_distance(fr[CONTENT_LAYER], fp[CONTENT_LAYER]).item()
        cn = fp[CONTENT_LAYER].pow(2).mean().item()
        return Quality(name, sd, cd, sd / sp, cd / cn, float(np.mean(list(layer_rel.values()))),
                       self.palette_rel(photo_rgb, result_rgb), layer_rel)


def evaluate(
    stylize: Callable[[np.ndarray], np.ndarray],
    style: str | os.PathLike,
    images: Iterable[str | os.PathLike],
    vgg_weights: str | None = None,
    device: str = "cpu",
    size: int = EVAL_SIDE,
) -> list[Quality]:
    """Stylize each photo (RGB uint8 in, RGB uint8 out) with its longer side at `size` and
    measure the result at the protocol's size."""
    meter = QualityMeter(style, vgg_weights, device)
    results = []
    for path in images:
        photo = load_rgb(path)
        result = stylize(photo if size == EVAL_SIDE else load_rgb(path, size))
        results.append(meter.measure(photo, resize_rgb(result, EVAL_SIDE), Path(path).name))
    if not results:
        raise UserError("no images to evaluate")
    return results


def evaluate_outputs(
    style: str | os.PathLike,
    pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]],
    vgg_weights: str | None = None,
    device: str = "cpu",
) -> list[Quality]:
    """Measure existing results (any size: another tool's, say) against their photos: (photo, result) paths."""
    meter = QualityMeter(style, vgg_weights, device)
    results = [meter.measure(load_rgb(photo), load_rgb(result), Path(result).name) for photo, result in pairs]
    if not results:
        raise UserError("no images to evaluate")
    return results


def pair_outputs(photos: list[Path], outputs: Path) -> list[tuple[Path, Path]]:
    """Each photo with the image of the same stem in the folder `outputs` (or, for a single
    photo, with the file `outputs`)."""
    if outputs.is_file():
        if len(photos) != 1:
            raise UserError(f"--outputs {outputs} is one image: give one photo with --images")
        return [(photos[0], outputs)]
    if not outputs.is_dir():
        raise UserError(f"no such image file or folder: {outputs}")
    by_stem = {p.stem: p for p in sorted(outputs.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    missing = [p.name for p in photos if p.stem not in by_stem]
    if missing:
        raise UserError(f"--outputs {outputs}: no result named like {missing[0]} ({len(missing)} photos without one)")
    return [(p, by_stem[p.stem]) for p in photos]


def summarize(results: list[Quality]) -> dict:
    """Means and medians of the relative distances, plus every per-image row."""
    summary: dict = {"images": len(results)}
    for key in ("style_rel", "style_rel_layers", "palette_rel", "content_rel"):
        values = np.array([getattr(r, key) for r in results])
        summary[f"{key}_mean"] = float(values.mean())
        summary[f"{key}_median"] = float(np.median(values))
    summary["style_layer_rel_mean"] = {k: float(np.mean([r.style_layer_rel[k] for r in results])) for k in STYLE_LAYERS}
    summary["per_image"] = [asdict(r) for r in results]
    return summary
