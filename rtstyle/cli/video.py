"""`rtstyle video`: stylize a video file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import (
    ModelOpt,
    ProviderOpt,
    ThreadsOpt,
    load_stylizer,
    say,
    with_stabilizer,
)


@app.command()
def video(
    input: Path = typer.Argument(..., help="Input video (any format FFmpeg reads)."),
    model: str = ModelOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Output video (.mp4, .mkv or .mov): H.264, the input's audio kept."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    max_side: Optional[int] = typer.Option(None, "--max-side", help="Stylize at most this many pixels on the longer side (output keeps the input size)."),
    stabilize: bool = typer.Option(True, "--stabilize/--no-stabilize", help="Blend each output with the flow-warped previous one where the motion is reliable (default: on)."),
    strength: float = typer.Option(0.6, "--strength", min=0.0, max=0.95, help="Stabilizer strength: the weight of the previous output on steady pixels."),
) -> None:
    """Stylize a video file frame by frame, keeping its frame count, rate, size and audio."""
    from ..videoio import probe_video, transform_video

    probe_video(input)  # a bad input fails before the model loads
    stylizer = load_stylizer(model, provider, threads)
    try:
        stats = transform_video(input, output, with_stabilizer(stylizer, stabilize, strength), max_side=max_side, progress=True)
    except KeyboardInterrupt as e:
        stats = getattr(e, "stats", None)
        if stats:
            say(f"interrupted: {output} holds the first {stats.frames} frames")
        raise
    say(
        f"wrote {output}: {stats.frames} frames, {stats.width}x{stats.height} at {stats.fps:.2f} fps, "
        f"audio {'kept' if stats.has_audio else 'none'}; median per frame: decode {stats.decode_ms:.1f} ms, "
        f"stylize {stats.process_ms:.1f} ms, encode {stats.encode_ms:.1f} ms; total {stats.total_s:.1f} s"
    )
