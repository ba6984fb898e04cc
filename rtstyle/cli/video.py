"""`rtstyle video`: stylize a video file."""

from __future__ import annotations

from pathlib import Path
import typer

from .app import app
from .common import CONTROLS, NETWORK, STABILIZER, build_pipeline, pipeline_options, say


@app.command()
@pipeline_options(NETWORK, CONTROLS, STABILIZER)
def video(
    input: Path = typer.Argument(..., help="Input video (any format FFmpeg reads)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output video (.mp4, .mkv or .mov): H.264, the input's audio kept."),
    strict: bool = typer.Option(False, "--strict", help="Refuse a video with frames that cannot be decoded (default: skip them and say how many)."),
    options: dict = None,
) -> None:
    """Stylize a video file frame by frame, keeping its frame count, rate, size and audio."""
    from ..videoio import check_video_output, probe_video, transform_video

    check_video_output(output)
    probe_video(input)  # a bad input fails before the model loads
    pipeline = build_pipeline(**options)
    try:
        stats = transform_video(input, output, pipeline, progress=True, strict=strict)
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
        + (f"; {stats.undecodable} frames could not be decoded and were skipped (--strict refuses such a video)" if stats.undecodable else "")
    )
