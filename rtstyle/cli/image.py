"""`rtstyle image`: stylize still images."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from .app import app
from .common import CONTROLS, NETWORK, build_pipeline, pipeline_options, say


@app.command()
@pipeline_options(NETWORK, CONTROLS)
def image(
    inputs: List[Path] = typer.Argument(..., help="One or more image files."),
    output: Path = typer.Option(..., "--output", "-o", help="Output image, or a folder when several inputs are given."),
    options: dict = None,
) -> None:
    """Stylize still images with a fast style network."""
    from ..errors import UserError
    from ..imageio import check_image, read_image, write_image
    from ..outputs import check_output

    for path in inputs:  # every input is checked (from its header) before any work
        check_image(path)
    if len(inputs) > 1 and output.exists() and not output.is_dir():
        raise UserError(f"output {output} is a file; for {len(inputs)} inputs give a folder")
    if len(inputs) > 1 or output.is_dir():
        output.mkdir(parents=True, exist_ok=True)
        targets = [output / p.name for p in inputs]
    else:
        targets = [output]
    for target in targets:
        check_output(target, *inputs)
    if len(set(targets)) < len(targets):
        raise UserError(f"two inputs have the same file name, so they would both be written to one file in {output}")
    pipeline = build_pipeline(**options)  # network memory within RTSTYLE_MAX_NETWORK_GB
    for path, target in zip(inputs, targets):  # one picture in memory at a time
        write_image(target, pipeline(read_image(path)))
        tiled = f" (in {pipeline.last_tiles} tiles with whole-picture statistics, to stay within {pipeline.budget / 1e9:g} GB)"
        say(f"wrote {target}" + (tiled if pipeline.last_tiles else ""))
