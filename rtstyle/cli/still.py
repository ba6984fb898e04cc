"""`rtstyle still`: Gatys optimization for the best still."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UserError
from .app import app
from .common import say


@app.command()
def still(
    content: Path = typer.Argument(..., help="The content photo."),
    style: List[Path] = typer.Option(..., "--style", "-s", help="Style image; repeat for a blend."),
    output: Path = typer.Option(..., "--output", "-o"),
    style_weights: Optional[str] = typer.Option(None, "--style-weights", help="Blend weights, e.g. 0.7,0.3."),
    size: int = typer.Option(512, "--size", help="Longer side of the result (coarse-to-fine above 512)."),
    iterations: int = typer.Option(500, "--iterations"),
    optimizer: str = typer.Option("lbfgs", "--optimizer", help="lbfgs or adam."),
    content_weight: Optional[float] = typer.Option(None, "--content-weight"),
    style_weight: Optional[float] = typer.Option(None, "--style-weight"),
    tv_weight: Optional[float] = typer.Option(None, "--tv-weight"),
    init: str = typer.Option("content", "--init", help="content or random."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the photo's colours."),
    style_scale: float = typer.Option(1.0, "--style-scale", help="Style image size relative to the output: bigger means bigger strokes."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed"),
    save_every: int = typer.Option(0, "--save-every", help="Write an intermediate image every K iterations."),
) -> None:
    """Full Gatys optimization over the pixels: the best still, in minutes."""
    from ..extras import require_training_side

    require_training_side("still")
    from ..still import StillConfig, stylize_still

    weights = None
    if style_weights:
        try:
            weights = [float(w) for w in style_weights.split(",")]
        except ValueError:
            raise UserError(f"--style-weights must be numbers separated by commas, got {style_weights!r}") from None
    overrides = {k: v for k, v in dict(content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight).items() if v is not None}
    config = StillConfig(
        content=str(content), styles=[str(s) for s in style], style_weights=weights, output=str(output), size=size,
        iterations=iterations, optimizer=optimizer, init=init, preserve_color=preserve_color, style_scale=style_scale,
        device=device, seed=seed, save_every=save_every, **overrides,
    )
    stylize_still(config)
    say(f"wrote {output}")
