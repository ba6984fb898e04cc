"""Training a style network with a VGG19 perceptual loss (Johnson et al. 2016).

The loss is the evaluation protocol of `rtstyle evaluate`, made differentiable: per photo,
    content_weight * content_rel + style_weight * style_rel + tv_weight * total variation
      (+ stability_weight * the change of the output under a small shift and noise of the input)
(or, with a `teacher`, distillation: the mean absolute difference, of pixels and of their
 gradients, to a trained model's stylization of the same crop, computed once per crop with
 onnxruntime, plus `perceptual_weight` times the loss above, whose style Grams are, with
 `style_target="teacher"`, the teacher's output's on the same crop; `input_noise` > 0 perturbs
 only the student's input, so it learns to ignore noise, which makes it steadier on video)
where content_rel is the relu4_2 feature distance over the photo's own feature energy and
style_rel the Gram distance (relu1_1..relu5_1) over the unstyled photo's Gram distance. Both
are ratios near 1, so the weights read as a trade-off and need no per-style rescaling.
With `style_balance="layer"` (the default) style_rel is the mean over the five layers of each
layer's Gram distance over the unstyled photos' distance on that layer (measured once, on a
batch of training crops, and kept in the checkpoint as `style_layer_norms`): the plain sum
("sum") is nearly all relu4_1, so the colour-carrying relu1_1 and relu2_1 barely count.
`palette_weight` > 0 adds that times the palette term of `rtstyle.palette`: the batch's pooled
Lab colours against the style image's (or the teacher's outputs'), over the unstyled photos';
with `palette_per_image`, each crop's own colours (as evaluate measures each photo), averaged.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .errors import UserError
from .imageio import list_images, read_image, resize_longer_side, write_image
from .networks import NetConfig, build_network
from .outputs import atomic_output
from .palette import PaletteDistance, lab_pixels
from .precision import autocast
from .vgg import (CONTENT_LAYER, STYLE_LAYERS, VGG19, balanced_style_distance, content_distance, style_distance,
                  style_grams, style_layer_distances, total_variation)


@dataclass
class TrainConfig:
    style: str
    data: str
    output: str
    iterations: int = 2000
    size: int = 256  # training crop side
    batch: int = 4
    lr: float = 1e-3  # Adam; decays along a cosine to lr/10 at the last iteration
    content_weight: float = 1.0
    style_weight: float = 4.0
    tv_weight: float = 0.3
    stability_weight: float = 0.0  # > 0: the network is trained to be steady on video
    arch: str = "johnson"  # "johnson" (quality tier) or "fast" (CPU real-time tier)
    channels: tuple[int, ...] | None = None  # widths from the first level down (e.g. (16, 32)); None: the arch's
    residual_blocks: int | None = None  # None: the arch's
    scale: int = 512  # photos and style image are resized so their longer side is this
    holdout_every: int = 20  # every Nth photo (sorted by name) is kept out of training
    checkpoint_every: int = 200
    seed: int = 0
    device: str = "auto"
    vgg_weights: str | None = None
    time_limit: float = 0.0  # seconds; > 0 stops early (with a checkpoint) when reached
    teacher: str | None = None  # a trained model (bundled name or .onnx): learn to reproduce its outputs;
    # "self": the --init network's own output on each crop (stability fine-tuning that keeps its look)
    edge_weight: float = 1.0  # distillation: weight of the image-gradient difference (keeps strokes sharp)
    perceptual_weight: float = 0.0  # distillation: > 0 adds this times the perceptual loss (texture a small student cannot copy exactly)
    input_noise: float = 0.0  # distillation: noise std (0-1 scale) on the student's input only
    init: str | None = None  # start from this checkpoint's weights (fine-tuning), at step 0
    teacher_crops: int = 2000  # distillation: how many crops the teacher stylizes (once; cached)
    style_target: str = "image"  # perceptual_weight > 0: "teacher" takes the style Grams from the teacher's output on the same crop
    style_balance: str = "layer"  # "layer": each style layer's term over the photos' distance on it; "sum": one sum (the old loss)
    style_layer_weights: tuple[float, ...] | None = None  # style_balance "layer": relu1_1..relu5_1 weights of the mean; None: equal
    palette_weight: float = 0.0  # > 0: adds this times the batch's Lab palette distance to the style image over the photos' (rtstyle.palette)
    palette_per_image: bool = False  # the palette term per crop (each crop the painting's whole palette), not pooled over the batch


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: PyTorch sees no CUDA GPU here")
    return torch.device(name)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 RGB → 1×3×H×W float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255)


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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

    def photo(self, i: int) -> np.ndarray:
        if i not in self.cache:
            img = resize_longer_side(read_image(self.paths[i]), self.scale, cv2.INTER_AREA)
            if min(img.shape[:2]) < self.size:
                f = self.size / min(img.shape[:2])
                img = cv2.resize(img, (math.ceil(img.shape[1] * f), math.ceil(img.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
            self.cache[i] = img[..., ::-1].copy()
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


SHIFT = 4  # stability fine-tuning: how far (pixels) the student's crop moves within the teacher's


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


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a training checkpoint safely (tensors and plain data only: no code can run)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such checkpoint: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot load checkpoint {path} (not a safe rtstyle checkpoint): {str(e).splitlines()[0][:120]}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "net" not in ckpt:
        raise UserError(f"{path} is not an rtstyle checkpoint (no 'model'/'net' entries)")
    return ckpt


class PerceptualLoss(torch.nn.Module):
    """The training loss of the module docstring, for one style image."""

    def __init__(self, config: TrainConfig, style_rgb: np.ndarray, device: torch.device):
        super().__init__()
        self.config = config
        self.vgg = VGG19(config.vgg_weights, last_layer="relu5_1").to(device)
        self.layers = STYLE_LAYERS + (CONTENT_LAYER,)
        self.grams = style_grams(self.vgg, to_tensor(style_rgb).to(device))
        self.layer_norms: dict[str, torch.Tensor] | None = None  # style_balance "layer": set by `calibrate`
        self.palette = PaletteDistance(per_image=config.palette_per_image)
        self.style_lab = lab_pixels(to_tensor(style_rgb).to(device))

    @torch.no_grad()
    def calibrate(self, photos: torch.Tensor) -> dict[str, float]:
        """Per style layer, the mean Gram distance of unstyled `photos` to the style image: the
        scale that `style_balance="layer"` divides that layer's term by."""
        parts = style_layer_distances(self.vgg(photos, STYLE_LAYERS), self.grams)
        self.layer_norms = {k: v.float().mean().clamp_min(1e-12) for k, v in parts.items()}
        return {k: v.item() for k, v in self.layer_norms.items()}

    def forward(self, photos: torch.Tensor, outputs: torch.Tensor, style_targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`style_targets`: images whose Grams replace the style image's, one per photo (the
        teacher's stylization of it). A crop of sky then need not hold all of the style's
        colours: a small student pushed towards the whole style image's Grams paints dark blots."""
        c = self.config
        with torch.no_grad():
            fx = self.vgg(photos, self.layers)
            content_norm = fx[CONTENT_LAYER].float().pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-8)
            grams = self.grams if style_targets is None else style_grams(self.vgg, style_targets)
            if c.style_balance == "sum":
                style_norm = style_distance(fx, self.grams).clamp_min(1e-8)
            elif style_targets is None and self.layer_norms is not None:
                style_norm, layer_norms = 1.0, self.layer_norms
            else:  # per-crop targets (or not calibrated): the batch's own photo distances on each layer
                style_norm = 1.0
                layer_norms = {k: v.float().mean().clamp_min(1e-12) for k, v in style_layer_distances(fx, grams).items()}
        fy = self.vgg(outputs, self.layers)
        weights = dict(zip(STYLE_LAYERS, c.style_layer_weights)) if c.style_layer_weights else None
        style = style_distance(fy, grams) if c.style_balance == "sum" else balanced_style_distance(fy, grams, layer_norms, weights)
        terms = {
            "content": (content_distance(fy[CONTENT_LAYER], fx[CONTENT_LAYER]) / content_norm).mean(),
            "style": (style / style_norm).mean(),
            "tv": total_variation(outputs.float()).mean(),
        }
        terms["loss"] = c.content_weight * terms["content"] + c.style_weight * terms["style"] + c.tv_weight * terms["tv"]
        if c.palette_weight > 0:
            target = self.style_lab if style_targets is None else lab_pixels(style_targets)
            terms["palette"] = self.palette(outputs, target, reference=photos)
            terms["loss"] = terms["loss"] + c.palette_weight * terms["palette"]
        return terms


def distillation_loss(outputs: torch.Tensor, targets: torch.Tensor, edge_weight: float) -> dict[str, torch.Tensor]:
    """Mean absolute difference of pixels, plus of horizontal and vertical differences (edges)."""
    diff = outputs.float() - targets
    pixels = diff.abs().mean()
    edges = (diff[..., 1:, :] - diff[..., :-1, :]).abs().mean() + (diff[..., :, 1:] - diff[..., :, :-1]).abs().mean()
    return {"pixels": pixels, "edges": edges, "loss": pixels + edge_weight * edges}


def add_input_noise(photos: torch.Tensor, strength: float, rng: np.random.Generator) -> torch.Tensor:
    """Gaussian noise of std strength·U(0, 1), drawn per image, clamped to [0, 1]."""
    sigma = strength * rng.random((len(photos), 1, 1, 1), np.float32)
    noise = torch.from_numpy(sigma * rng.standard_normal(photos.shape, np.float32)).to(photos.device)
    return (photos + noise).clamp_(0, 1)


def stability_term(net: torch.nn.Module, photos: torch.Tensor, outputs: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """How much the output changes beyond the input's own change under a small shift plus noise."""
    dy, dx = (int(v) for v in rng.integers(-2, 3, size=2))
    moved = torch.roll(photos, shifts=(dy, dx), dims=(2, 3))
    moved = (moved + 0.02 * torch.randn_like(moved)).clamp(0, 1)
    expected = torch.roll(outputs, shifts=(dy, dx), dims=(2, 3))
    m = 4  # rolled borders wrap around: compare the interior only
    return (net(moved) - expected).float()[..., m:-m, m:-m].pow(2).mean()


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job: rank 0 of 1 when run alone."""

    rank: int = 0
    world: int = 1

    @classmethod
    def from_env(cls) -> Ranks:
        """From torchrun's RANK and WORLD_SIZE."""
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def start_distributed(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the torchrun job described by the environment (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPU.

    Each process on a GPU machine takes the GPU of its LOCAL_RANK.
    """
    ranks = Ranks.from_env()
    if ranks.world <= 1:
        return ranks, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ranks, device


def data_parallel(net: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """`net` itself when alone; in a torchrun job, wrapped so its gradients are averaged over the ranks."""
    if ranks.world == 1:
        return net
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


@contextlib.contextmanager
def rank_zero_first(ranks: Ranks) -> Iterator[None]:
    """Run the block on rank 0, then on the others (which find what rank 0 cached)."""
    if ranks.rank:
        torch.distributed.barrier()
    yield
    if ranks.world > 1 and not ranks.rank:
        torch.distributed.barrier()


def stop_distributed() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def local_rows(batch: int, ranks: Ranks) -> slice:
    """This rank's share of a global batch of `batch` crops."""
    if batch % ranks.world:
        raise UserError(f"--batch {batch} is the global batch: it must split evenly over the {ranks.world} processes")
    share = batch // ranks.world
    return slice(ranks.rank * share, (ranks.rank + 1) * share)


def mean_over_ranks(terms: dict[str, torch.Tensor], ranks: Ranks) -> dict[str, torch.Tensor]:
    """The loss terms of the global batch: each rank's (equal-sized) share averaged."""
    if ranks.world == 1:
        return terms
    values = torch.stack([v.detach().float() for v in terms.values()])
    torch.distributed.all_reduce(values)
    return dict(zip(terms, values / ranks.world))


def any_rank(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """True on every rank when it is true on one (so all of them stop at the same step)."""
    if ranks.world == 1:
        return flag
    value = torch.tensor([float(flag)], device=device)
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
    return bool(value.item())


def train(config: TrainConfig, resume: bool = False, log=print) -> Path:
    """Train (or resume) and return the checkpoint path. Ctrl-C saves a checkpoint and re-raises."""
    out = Path(config.output)
    if not out.parent.is_dir():
        raise UserError(f"output folder {out.parent} does not exist")
    distill, self_teacher = config.teacher is not None, config.teacher == "self"
    if self_teacher and not config.init:
        raise UserError("--teacher self fine-tunes a trained network: give it with --init")
    if config.perceptual_weight > 0 and not distill:
        raise UserError("--perceptual-weight adds the VGG loss to a teacher's: give --teacher too")
    if config.palette_weight < 0 or (config.palette_weight > 0 and distill and config.perceptual_weight <= 0):
        raise UserError("--palette-weight must be >= 0, and with --teacher it needs --perceptual-weight above 0")
    if config.style_target not in ("image", "teacher"):
        raise UserError(f"--style-target must be image or teacher, got {config.style_target!r}")
    if config.style_target == "teacher" and config.perceptual_weight <= 0:
        raise UserError("--style-target teacher needs --teacher and --perceptual-weight above 0")
    if config.style_balance not in ("layer", "sum"):
        raise UserError(f"--style-balance must be layer or sum, got {config.style_balance!r}")
    if config.style_layer_weights is not None and (
            len(config.style_layer_weights) != len(STYLE_LAYERS) or min(config.style_layer_weights) < 0 or sum(config.style_layer_weights) <= 0):
        raise UserError(f"--style-layer-weights: give {len(STYLE_LAYERS)} weights >= 0 (relu1_1..relu5_1), not all 0, got {config.style_layer_weights}")
    if config.style_layer_weights is not None and config.style_balance != "layer":
        raise UserError("--style-layer-weights weighs the layers of --style-balance layer")
    if distill and config.teacher_crops < 1:
        raise UserError(f"--teacher-crops must be at least 1, got {config.teacher_crops}")
    try:
        net_config = NetConfig.for_arch(config.arch).reshaped(config.channels, config.residual_blocks)
    except ValueError as e:
        raise UserError(str(e)) from None
    init = load_checkpoint(config.init) if config.init else None
    if init is not None:  # fine-tuning keeps the initial network's exact shape
        if init["net"]["arch"] != config.arch:
            raise UserError(f"--init: {config.init} is a {init['net']['arch']} network, not {config.arch}")
        if config.channels is not None or config.residual_blocks is not None:
            raise UserError("--channels and --residual-blocks shape a new network; with --init the shape is the checkpoint's")
        net_config = NetConfig.from_dict(init["net"])

    style_hash = file_sha256(config.style)
    ckpt = load_checkpoint(out) if resume and out.exists() else None
    if ckpt is not None and ckpt.get("style_sha256") != style_hash:
        raise UserError(f"--resume: {out} was trained on another style image; give a new output name")
    if ckpt is not None and NetConfig.from_dict(ckpt["net"]) != net_config:
        raise UserError(f"--resume: {out} is a network of another shape ({ckpt['net']}); give a new output name")
    if ckpt is not None and ckpt.get("config", {}).get("style_balance", "sum") != config.style_balance:
        raise UserError(f"--resume: {out} was trained with --style-balance {ckpt.get('config', {}).get('style_balance', 'sum')}; give a new output name")

    ranks, device = start_distributed(pick_device(config.device))
    rows = local_rows(config.batch, ranks)  # every rank draws the same global batch and trains on these rows
    if ranks.rank:
        log = lambda *args, **kwargs: None  # rank 0 speaks for the job
    torch.manual_seed(config.seed)
    style_bgr = read_image(config.style)
    style_rgb = resize_longer_side(style_bgr, config.scale, cv2.INTER_AREA)[..., ::-1]
    train_paths, held_out = split_photos(config.data, config.holdout_every)
    if distill and not self_teacher:
        with rank_zero_first(ranks):  # the others then read the teacher's crops from its cache
            crops = TeacherCrops(train_paths, config.scale, config.size, config.teacher, config.teacher_crops, config.seed, log)
    else:  # the self teacher sees a slightly larger crop, so the student's crop can sit anywhere in it
        crops = PhotoCrops(train_paths, config.scale, config.size + 2 * SHIFT if self_teacher else config.size)
    net = build_network(net_config).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    criterion = PerceptualLoss(config, style_rgb, device) if not distill or config.perceptual_weight > 0 else None
    start, elapsed = 0, 0.0
    if criterion is not None and config.style_balance == "layer":
        if ckpt is not None and "style_layer_norms" in ckpt:
            criterion.layer_norms = {k: torch.tensor(v, device=device) for k, v in ckpt["style_layer_norms"].items()}
        else:
            sample = crops.batch(16, np.random.default_rng([config.seed, 1 << 30]))
            sample = sample[0] if isinstance(sample, tuple) else sample  # teacher crops: (photos, targets)
            norms = criterion.calibrate(sample[..., : config.size, : config.size].to(device))
            log("style layer scales (unstyled crops' Gram distance): " + " ".join(f"{k} {v:.3g}" for k, v in norms.items()))

    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        if "optimizer" in ckpt:  # shipped checkpoints keep the weights only
            optimizer.load_state_dict(ckpt["optimizer"])
        start, elapsed = int(ckpt["step"]), float(ckpt.get("elapsed", 0.0))
        log(f"resuming {out} at step {start}")
    elif resume:
        log(f"--resume: no checkpoint at {out} yet, starting from scratch")
    if init is not None and start == 0:
        net.load_state_dict(init["model"])
        log(f"starting from the weights of {config.init}")
    if self_teacher:
        anchor = build_network(net_config).to(device).eval().requires_grad_(False)
        anchor.load_state_dict(init["model"])
    model = data_parallel(net, ranks, device)

    preview_photo = read_image(held_out[0] if held_out else train_paths[0])
    preview = to_tensor(resize_longer_side(preview_photo, config.scale, cv2.INTER_AREA)[..., ::-1].copy()).to(device)

    def checkpoint(step: int) -> None:
        if ranks.rank:
            return  # rank 0 writes the checkpoint and preview for the job
        save_checkpoint(out, {
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed": elapsed,
            "net": net_config.to_dict(),
            "config": asdict(config),
            "style_sha256": style_hash,
            "held_out": [p.name for p in held_out],
            **({"style_layer_norms": {k: v.item() for k, v in criterion.layer_norms.items()}}
               if criterion is not None and criterion.layer_norms is not None else {}),
        })
        net.eval()
        with torch.no_grad(), autocast(device):
            img = net(preview).float().clamp(0, 1)
        net.train()
        rgb = (img[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        write_image(out.with_name(f"{out.stem}.preview.jpg"), rgb[..., ::-1])

    show_bar = sys.stderr.isatty() and not ranks.rank
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), disable=not show_bar)
    task = progress.add_task("training", total=config.iterations, completed=start)
    step = start
    t0 = time.perf_counter() - elapsed
    try:
        with progress:
            while step < config.iterations:
                rng = np.random.default_rng([config.seed, step])
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * (0.55 + 0.45 * math.cos(math.pi * step / config.iterations))
                if self_teacher:
                    # The student sees the crop moved by up to SHIFT pixels (plus noise, below) and
                    # must give the anchor's output at the same place: steady under small motion.
                    wide = crops.batch(config.batch, rng)
                    with torch.no_grad(), autocast(device):
                        wide_targets = anchor(wide[rows].to(device)).float().clamp(0, 1)
                    y, x = (int(v) for v in rng.integers(0, 2 * SHIFT + 1, size=2))
                    window = (..., slice(y, y + config.size), slice(x, x + config.size))
                    photos, targets = wide[window], wide_targets[window]
                elif distill:
                    photos, targets = crops.batch(config.batch, rng)
                    targets = targets[rows].to(device)
                else:
                    photos, targets = crops.batch(config.batch, rng), None
                if distill and config.input_noise > 0:
                    photos = add_input_noise(photos, config.input_noise, rng)
                photos = photos[rows].to(device).contiguous(memory_format=torch.channels_last)
                with autocast(device):
                    outputs = model(photos)
                    if not distill:
                        terms = criterion(photos, outputs)
                    else:
                        terms = distillation_loss(outputs, targets, config.edge_weight)
                        if criterion is not None:
                            perceptual = criterion(photos, outputs, targets if config.style_target == "teacher" else None)
                            terms.update({k: v for k, v in perceptual.items() if k in ("style", "content", "palette")},
                                         loss=terms["loss"] + config.perceptual_weight * perceptual["loss"])
                    loss = terms["loss"]
                    if config.stability_weight > 0:
                        terms["stable"] = stability_term(net, photos, outputs, rng)  # net: DDP allows one forward per backward
                        loss = loss + config.stability_weight * terms["stable"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                elapsed = time.perf_counter() - t0
                if step % 10 == 0 or step == config.iterations:
                    text = " ".join(f"{k} {v.item():.3f}" for k, v in mean_over_ranks(terms, ranks).items())
                    progress.update(task, completed=step, description=text)
                    if not show_bar and (step % 100 == 0 or step == config.iterations):
                        log(f"step {step}/{config.iterations} {text} ({step - start} steps in {elapsed:.0f} s)", flush=True)
                if step % config.checkpoint_every == 0:
                    checkpoint(step)
                if config.time_limit and any_rank(elapsed > config.time_limit, ranks, device):
                    log(f"time limit reached at step {step}")
                    break
    except KeyboardInterrupt:
        checkpoint(step)
        log(f"interrupted: checkpoint saved at step {step} ({out}); continue with --resume")
        raise
    checkpoint(step)
    stop_distributed()
    return out
