"""Style and content distance of stylized photos, by a fixed protocol that compares across tools.

Photo and style image are each resized (bicubic, antialiased as PIL does it) so the longer side
is 512. With VGG19 (ImageNet weights, see `vgg`):
- style distance: sum over relu1_1..relu5_1 of the mean squared difference of Gram matrices;
  `style_rel` is that over the same distance for the unstyled photo;
- content distance: mean squared difference of relu4_2 features of result and photo;
  `content_rel` is that over the mean square of the photo's relu4_2 features.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from PIL import Image

from .errors import UserError
from .imageio import check_image
from .vgg import CONTENT_LAYER, STYLE_LAYERS, VGG19, content_distance, style_distance, style_grams

EVAL_SIDE = 512


def load_rgb(path: str | os.PathLike, longer_side: int = EVAL_SIDE) -> np.ndarray:
    """Read an image as RGB uint8 resized (PIL bicubic) so its longer side is `longer_side`."""
    check_image(path)  # exists, decodable header, within RTSTYLE_MAX_MEGAPIXELS (no decompression bomb)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = longer_side / max(w, h)
            return np.array(im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC))
    except FileNotFoundError:
        raise UserError(f"no such image file: {path}") from None
    except OSError:
        raise UserError(f"cannot decode image (corrupt or not an image): {path}") from None


def _tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255).to(device)


@dataclass
class Quality:
    image: str
    style_distance: float
    content_distance: float
    style_rel: float
    content_rel: float


class QualityMeter:
    """Measures results against one style image."""

    def __init__(self, style: str | os.PathLike, vgg_weights: str | None = None, device: str = "cpu"):
        self.device = torch.device(device)
        self.vgg = VGG19(vgg_weights, last_layer="relu5_1").to(self.device)
        self.layers = STYLE_LAYERS + (CONTENT_LAYER,)
        self.grams = style_grams(self.vgg, _tensor(load_rgb(style), self.device))

    @torch.no_grad()
    def measure(self, photo_rgb: np.ndarray, result_rgb: np.ndarray, name: str = "") -> Quality:
        """`photo_rgb` at the protocol's size; `result_rgb` is resized to it if it differs."""
        if result_rgb.shape != photo_rgb.shape:
            im = Image.fromarray(result_rgb).resize((photo_rgb.shape[1], photo_rgb.shape[0]), Image.BICUBIC)
            result_rgb = np.asarray(im)
        fp = self.vgg(_tensor(photo_rgb, self.device), self.layers)
        fr = self.vgg(_tensor(result_rgb, self.device), self.layers)
        sd = style_distance(fr, self.grams).item()
        sp = style_distance(fp, self.grams).item()
        cd = content_distance(fr[CONTENT_LAYER], fp[CONTENT_LAYER]).item()
        cn = fp[CONTENT_LAYER].pow(2).mean().item()
        return Quality(name, sd, cd, sd / sp, cd / cn)


def evaluate(
    stylize: Callable[[np.ndarray], np.ndarray],
    style: str | os.PathLike,
    images: Iterable[str | os.PathLike],
    vgg_weights: str | None = None,
    device: str = "cpu",
) -> list[Quality]:
    """Stylize each photo (RGB uint8 in, RGB uint8 out, at the protocol's size) and measure it."""
    meter = QualityMeter(style, vgg_weights, device)
    results = []
    for path in images:
        photo = load_rgb(path)
        results.append(meter.measure(photo, stylize(photo), Path(path).name))
    if not results:
        raise UserError("no images to evaluate")
    return results


def summarize(results: list[Quality]) -> dict:
    """Means and medians of the relative distances, plus every per-image row."""
    s = np.array([r.style_rel for r in results])
    c = np.array([r.content_rel for r in results])
    return {
        "images": len(results),
        "style_rel_mean": float(s.mean()),
        "style_rel_median": float(np.median(s)),
        "content_rel_mean": float(c.mean()),
        "content_rel_median": float(np.median(c)),
        "per_image": [asdict(r) for r in results],
    }
