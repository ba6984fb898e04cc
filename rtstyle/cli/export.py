"""`rtstyle export`: a checkpoint to ONNX."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app
from .common import say


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `rtstyle train`."),
    output: Path = typer.Option(..., "--output", "-o", help="The .onnx file to write."),
    fp16: bool = typer.Option(False, "--fp16", help="Half-precision weights for GPUs (instance norm stays fp32)."),
) -> None:
    """Export a checkpoint to ONNX (uint8 BGR frames in and out, any size), checked against PyTorch."""
    from ..extras import require_training_side

    require_training_side("export", ("torch",))
    from ..export import export_onnx

    report = export_onnx(checkpoint, output, fp16=fp16)
    say(f"wrote {report['output']} ({report['size_bytes'] / 1e6:.1f} MB, {report['rtstyle.tier']} tier, {report['rtstyle.precision']}); "
        f"max difference from PyTorch on a {report['shape_checked'][2]}x{report['shape_checked'][1]} frame: {report['max_abs_diff']:.5f} (0-1 scale)")
