"""`rtstyle bench`: speed of the real hot path."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .app import app
from ..errors import UserError
from .common import CONTROLS, PAINTING, STABILIZER, ProviderOpt, ThreadsOpt, build_pipeline, parse_size, pipeline_options


@app.command()
@pipeline_options(PAINTING, CONTROLS, STABILIZER)
def bench(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Bundled model name or .onnx path (default mosaic; or --style PAINTING)."),
    size: str = typer.Option("640x480", "--size"),
    provider: str = ProviderOpt,
    frames: int = typer.Option(50, "--frames"),
    threads: Optional[int] = ThreadsOpt,
    tier: str = typer.Option("quality", "--tier", help="For bundled names: quality or fast (the tier `rtstyle webcam` picks on a CPU)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    options: dict = None,
) -> None:
    """Frames per second and latency of the pipeline `rtstyle video` and `webcam` run with these
    options (uint8 frame in, uint8 frame out), the network's own share, FLOPs."""
    from ..bench import bench as run
    from ..bench import format_report

    if tier not in ("quality", "fast"):
        raise UserError(f"--tier must be quality or fast, got {tier!r}")
    if options["style"]:  # the any-painting network, opened as the commands open it
        model = build_pipeline(model, provider, threads, **options)
        options = {}
    else:
        options.pop("style"), options.pop("style_weights")
    result = run(model or "mosaic", size=parse_size(size), provider=provider, frames=frames, threads=threads, tier=tier, **options)
    print(json.dumps(result) if as_json else format_report(result))
