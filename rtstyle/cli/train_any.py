"""`rtstyle train-any`: train the any-painting network (the network behind --style)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app
from .common import say

# AnyStyleConfig's defaults (rtstyle/anystyle_train.py imports torch, so the CLI cannot read them
# at start-up; tests/test_anystyle.py checks that these match).
DEFAULTS = {"iterations": 4000, "size": 256, "batch": 4, "lr": 1e-3, "base_lr_scale": 0.25, "style_weight": 5.0,
            "checker_weight": 200.0, "painting_crops": 0, "style_layer_weights": (1.0, 1.0, 1.0, 1.0, 0.5), "checkpoint_every": 50}


@app.command("train-any")
def train_any(
    paintings: List[Path] = typer.Argument(..., help="Style images to learn from: files or folders."),
    data: Path = typer.Option(..., "--data", help="A folder of photos (every 20th by name is held out)."),
    output: Path = typer.Option(..., "--output", "-o", help="The checkpoint to write (export it with `rtstyle export`)."),
    held_out: Optional[str] = typer.Option(None, "--held-out", help="Painting file names kept out of training, comma-separated: the works to test it on."),
    init: Optional[Path] = typer.Option(None, "--init", help="A fast-tier checkpoint to start the network from (its strokes at a zero code)."),
    init_encoder: Optional[Path] = typer.Option(None, "--init-encoder", help="An any-painting checkpoint to start the painting encoder from (a new --init then learns faster)."),
    iterations: int = typer.Option(DEFAULTS["iterations"], "--iterations", min=1),
    size: int = typer.Option(DEFAULTS["size"], "--size", min=32, help="Training crop side."),
    batch: int = typer.Option(DEFAULTS["batch"], "--batch", min=1, help="Crops per step, each with its own painting."),
    lr: float = typer.Option(DEFAULTS["lr"], "--lr", help="Adam's rate for the new parts, cosine to a tenth."),
    base_lr_scale: float = typer.Option(DEFAULTS["base_lr_scale"], "--base-lr-scale", min=0.0, help="The initialized network's rate as a fraction of --lr."),
    style_weight: float = typer.Option(DEFAULTS["style_weight"], "--style-weight", help="Weight of the per-layer style term against the content term (1)."),
    style_layer_weights: str = typer.Option(",".join(f"{w:g}" for w in DEFAULTS["style_layer_weights"]), "--style-layer-weights", help="Weights of relu1_1..relu5_1 in the style term."),
    checker_weight: float = typer.Option(DEFAULTS["checker_weight"], "--checker-weight", min=0.0, help="Weight of the penalty on a 2-pixel checker in the output."),
    painting_crops: int = typer.Option(DEFAULTS["painting_crops"], "--painting-crops", min=0, help="Per painting and size, this many more style variants cut from random parts of it."),
    checkpoint_every: int = typer.Option(DEFAULTS["checkpoint_every"], "--checkpoint-every", min=1, help="Steps between checkpoints."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint at --output."),
) -> None:
    """Train the any-painting network: a fast-tier network whose norms come from a painting's
    code, on many paintings and photos (steps are seconds each on a CPU: see models/README.md)."""
    from ..extras import require_training_side

    require_training_side("train-any")
    from ..anystyle_train import AnyStyleConfig, train_anystyle
    from ..outputs import check_output
    from ..trainconfig import parse_list

    check_output(output, *paintings, *[p for p in (init, init_encoder) if p])
    config = AnyStyleConfig(paintings=[str(p) for p in paintings], data=str(data), output=str(output),
                            held_out=[h.strip() for h in (held_out or "").split(",") if h.strip()],
                            init=str(init) if init else None, init_encoder=str(init_encoder) if init_encoder else None,
                            iterations=iterations, size=size, batch=batch, lr=lr, base_lr_scale=base_lr_scale,
                            style_weight=style_weight, checker_weight=checker_weight, painting_crops=painting_crops,
                            checkpoint_every=checkpoint_every,
                            style_layer_weights=parse_list("style_layer_weights", style_layer_weights, float))
    path = train_anystyle(config, resume=resume, log=say)
    say(f"wrote {path}; export it with: rtstyle export {path} -o anystyle.onnx")
