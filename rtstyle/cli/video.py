"""`rtstyle video`: stylize a video file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import MaxSideOpt, ModelOpt, PreserveColorOpt, ProviderOpt, StabilizerStrengthOpt, StrengthOpt, StrokeScaleOpt, ThreadsOpt, frame_controls, load_stylizer, say, with_stabilizer


@app.command()
def video(
    input: Path = typer.Argument(..., help="Input video (any format FFmpeg reads)."),
    model: str = ModelOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Output video (.mp4, .mkv or .mov): H.264, the input's audio kept."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    strength: float = StrengthOpt,
    preserve_color: bool = PreserveColorOpt,
    max_side: Optional[int] = MaxSideOpt,
    stroke_scale: str = StrokeScaleOpt,
    stabilize: bool = typer.Option(True, "--stabilize/--no-stabilize", help="Blend each output with the flow-warped previous one where the motion is reliable (default: on)."),
    stabilizer_strength: float = StabilizerStrengthOpt,
) -> None:
    """Stylize a video file frame by frame, keeping its frame count, rate, size and audio."""
    from ..tiling import TiledStylizer
    from ..videoio import probe_video, transform_video

    controls = frame_controls(strength, preserve_color, max_side, stroke_scale)
    probe_video(input)  # a bad input fails before the model loads
    stylizer = TiledStylizer(load_stylizer(model, provider, threads))  # memory within RTSTYLE_MAX_NETWORK_GB
    # The stabilizer works at the network's size, inside the controls: fewer pixels for the flow too.
    process = controls.wrap(with_stabilizer(stylizer, stabilize, stabilizer_strength))
    try:
        stats = transform_video(input, output, process, progress=True)
    except KeyboardInterrupt as e:
        stats = getattr(e, "stats", None)
        if stats:
            say(f"interrupted: {output} holds the first {stats.frames} frames")
        raise
    turn = {90: "90° counter-clockwise", 180: "180°", 270: "90° clockwise"}.get(stats.rotation)
    turned = f" (turned {turn} as the input's display matrix says, so it plays upright)" if turn else ""
    padded = f" (stored {stats.encoded_size[0]}x{stats.encoded_size[1]}: yuv420p needs even sides, edge pixel repeated)" if stats.encoded_size else ""
    say(
        f"wrote {output}: {stats.frames} frames, {stats.width}x{stats.height}{turned}{padded} yuv420p at {stats.fps:.2f} fps, "
        f"audio {stats.audio or 'none'}; median per frame: decode {stats.decode_ms:.1f} ms, "
        f"stylize {stats.process_ms:.1f} ms, encode {stats.encode_ms:.1f} ms; total {stats.total_s:.1f} s"
    )
