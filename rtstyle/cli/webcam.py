"""`rtstyle webcam`: the live loop."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .app import app
from .common import (
    ProviderOpt,
    ThreadsOpt,
    load_stylizer,
    parse_size,
    say,
    with_stabilizer,
)


@app.command()
def webcam(
    model: str = typer.Option("mosaic", "--model", "-m", help="Bundled model name or path to an .onnx file."),
    source: str = typer.Option("0", "--source", help="Camera index, or a video file played as if it were a camera."),
    size: Optional[str] = typer.Option(None, "--size", help="Capture size WxH, e.g. 640x480 (cameras only)."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    tier: str = typer.Option("auto", "--tier", help="For bundled names: auto (fast tier on CPU, quality tier on GPU), fast or quality."),
    record: Optional[Path] = typer.Option(None, "--record", help="Also record the stylized stream to this .mp4."),
    headless: bool = typer.Option(False, "--headless", help="No window (servers, tests)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many frames."),
    stabilize: bool = typer.Option(True, "--stabilize/--no-stabilize", help="Steadier output (optical-flow blending, a few ms a frame); default: on."),
    strength: float = typer.Option(0.6, "--strength", min=0.0, max=0.95, help="Stabilizer strength."),
) -> None:
    """The live loop: keys n/p next/previous style, v side-by-side, s snapshot, q or Esc quit."""
    from ..capture import LiveConfig, run_live
    from ..registry import FAST_SUFFIX, bundled_models, bundled_styles

    if tier not in ("auto", "fast", "quality"):
        raise UserError(f"--tier must be auto, fast or quality, got {tier!r}")
    if tier == "auto" and Path(model).is_file():
        tier = "quality"  # an explicit file is used as given
    elif tier == "auto":
        # The provider decides the tier: probe with the quality model, which always exists.
        probe = load_stylizer(model, provider, threads)
        tier = "quality" if probe.provider != "CPUExecutionProvider" else "fast"
        if tier == "fast" and f"{probe.name}{FAST_SUFFIX}" not in bundled_models():
            say(f"running on {probe.provider}: no fast tier is bundled for {probe.name}, using the quality tier (expect a few FPS on a CPU)")
            tier = "quality"
        else:
            say(f"running on {probe.provider}: using the {tier} tier (--tier to choose)")

    def load(name: str):
        stylizer = load_stylizer(name, provider, threads, tier)
        say(f"model: {stylizer.name} ({stylizer.tier} tier) on {stylizer.provider}")
        return with_stabilizer(stylizer, stabilize, strength)

    styles = bundled_styles()
    name = Path(model).name.removesuffix(".onnx").removesuffix("-fast")
    models = styles if name in styles and not Path(model).is_file() else [model]
    config = LiveConfig(
        source=int(source) if source.isdigit() else source,
        size=parse_size(size), record=record, headless=headless, max_frames=max_frames,
    )
    stats = run_live(config, models, load, start_index=models.index(name) if name in models else 0, on_status=say)
    say(
        f"{stats.frames} frames shown, {stats.dropped} dropped, {stats.fps:.1f} fps; median per frame: "
        f"capture {stats.capture_ms:.1f} ms, inference {stats.inference_ms:.1f} ms, display/write {stats.display_ms:.1f} ms"
    )
