"""`rtstyle flicker`: temporal warping error of a stylized video."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import app


@app.command()
def flicker(
    video_in: Path = typer.Argument(..., help="The input video."),
    video_out: Path = typer.Argument(..., help="Its stylized version."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Temporal warping error of a stylized video, with the input's own as the floor."""
    from ..temporal import flicker_report

    report = flicker_report(video_in, video_out)
    if as_json:
        print(json.dumps(report))
        return
    print(f"{report['clip']}: warping error {report['warping_error']:.5f} (input floor {report['input_floor']:.5f}, {report['pairs']} frame pairs)")
