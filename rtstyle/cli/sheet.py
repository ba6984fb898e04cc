"""`rtstyle sheet`: one photo in every bundled style, in a labelled grid."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UserError
from .app import app
from .common import CONTROLS, ProviderOpt, ThreadsOpt, build_pipeline, check_model_or_style, pipeline_options, say


@app.command()
@pipeline_options(CONTROLS)
def sheet(
    photo: Path = typer.Argument(..., help="The photo to paint."),
    output: Path = typer.Option(..., "--output", "-o", help="The sheet image (.jpg, .png, ...)."),
    models: Optional[str] = typer.Option(None, "--models", help="Comma-separated model names or .onnx files (default: every bundled style)."),
    style: Optional[List[Path]] = typer.Option(None, "--style", help="Paintings instead of models (files, or a folder: every painting in it), each painted by the any-painting network."),
    tier: str = typer.Option("quality", "--tier", help="For bundled names: quality or fast."),
    tile: int = typer.Option(320, "--tile", min=32, help="Longer side of each tile, in pixels."),
    columns: Optional[int] = typer.Option(None, "--columns", min=1, help="Tiles per row (default: a near-square grid)."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    options: dict = None,
) -> None:
    """Every bundled style on one photo, labelled, so you can choose by looking."""
    from ..imageio import read_image, write_image
    from ..outputs import check_output
    from ..registry import bundled_styles
    from ..sheet import contact_sheet

    if tier not in ("quality", "fast"):
        raise UserError(f"--tier must be quality or fast, got {tier!r}")
    image = read_image(photo)
    check_output(output, photo)
    styles = [m.strip() for m in models.split(",") if m.strip()] if models else bundled_styles()
    if style:
        from ..anystyle import painting_paths

        check_model_or_style(models, style, folders=True)
        styles = [str(p) for p in painting_paths(style)]
        painter = build_pipeline(None, provider, threads, style=[styles[0]], **options)

    def load(name: str):
        if style:
            painter.use_paintings([name])
            return painter
        return build_pipeline(name, provider, threads, tier, **options)

    def report(style: str, reason: str) -> None:
        say(f"rtstyle: error: {style}: {reason}")

    grid, stats = contact_sheet(image, styles, load, tile_side=tile, columns=columns, on_error=report)
    write_image(output, grid)
    say(f"wrote {output}: {len(stats.drawn)} styles and the original, {grid.shape[1]}x{grid.shape[0]}")
    if stats.failed:
        raise typer.Exit(2)
