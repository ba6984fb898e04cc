"""`rtstyle bench`: speed of the real hot path."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .app import app
from .common import ProviderOpt, ThreadsOpt, parse_size


@app.command()
def bench(
    model: str = typer.Option("mosaic", "--model", "-m", help="Bundled model name or .onnx path."),
    size: str = typer.Option("640x480", "--size"),
    provider: str = ProviderOpt,
    frames: int = typer.Option(50, "--frames"),
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Frames per second and latency of the real hot path (uint8 frame in, uint8 frame out)."""
    from ..bench import bench as run
    from ..bench import format_report

    result = run(model, size=parse_size(size), provider=provider, frames=frames, threads=threads)
    print(json.dumps(result) if as_json else format_report(result))
