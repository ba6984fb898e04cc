"""`rtstyle image`: stylize still images."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app
from .common import MaxSideOpt, ModelOpt, PreserveColorOpt, ProviderOpt, StrengthOpt, StrokeScaleOpt, ThreadsOpt, frame_controls, load_stylizer, say


@app.command()
def image(
    inputs: List[Path] = typer.Argument(..., help="One or more image files."),
    model: str = ModelOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Output image, or a folder when several inputs are given."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    strength: float = StrengthOpt,
    preserve_color: bool = PreserveColorOpt,
    max_side: Optional[int] = MaxSideOpt,
    stroke_scale: str = StrokeScaleOpt,
) -> None:
    """Stylize still images with a fast style network."""
    from ..errors import UserError
    from ..imageio import check_image, read_image, write_image
    from ..outputs import check_output
    from ..tiling import TiledStylizer

    controls = frame_controls(strength, preserve_color, max_side, stroke_scale)
    for path in inputs:  # every input is checked (from its header) before any work
        check_image(path)
    if len(inputs) > 1 or output.is_dir():
        output.mkdir(parents=True, exist_ok=True)
        targets = [output / p.name for p in inputs]
    else:
        targets = [output]
    for target in targets:
        check_output(target, *inputs)
    if len(set(targets)) < len(targets):
        raise UserError(f"two inputs have the same file name, so they would both be written to one file in {output}")
    stylizer = TiledStylizer(load_stylizer(model, provider, threads))  # memory within RTSTYLE_MAX_NETWORK_GB
    for path, target in zip(inputs, targets):  # one picture in memory at a time
        write_image(target, controls.apply(stylizer, read_image(path)))
        tiled = f" (in {stylizer.last_tiles} tiles with whole-picture statistics, to stay within {stylizer.budget / 1e9:g} GB)"
        say(f"wrote {target}" + (tiled if stylizer.last_tiles else ""))
