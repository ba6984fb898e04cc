"""Options and helpers shared by the commands."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import UserError
from .app import say

ModelOpt = typer.Option(..., "--model", "-m", help="Bundled model name (mosaic, candy, ...) or path to an .onnx file.")
ProviderOpt = typer.Option("auto", "--provider", help="auto (TensorRT, then CUDA, then CPU), tensorrt, cuda or cpu.")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads for onnxruntime (default: all cores).")


def load_stylizer(model: str, provider: str, threads: Optional[int] = None, tier: str = "quality"):
    from ..stylizer import Stylizer

    stylizer = Stylizer(model, provider=provider, threads=threads, tier=tier)
    if stylizer.fallback:
        say(f"note: {stylizer.fallback}")
    return stylizer


def parse_size(size: Optional[str]) -> Optional[tuple[int, int]]:
    if not size:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        assert w > 0 and h > 0
    except (ValueError, AssertionError):
        raise UserError(f"--size must look like 640x480, got {size!r}") from None
    return w, h


def with_stabilizer(stylizer, stabilize: bool, strength: float):
    """The per-frame function: stylize, then (optionally) blend with the flow-warped previous output."""
    if not stabilize:
        return stylizer
    from ..temporal import Stabilizer

    stabilizer = Stabilizer(strength=strength)
    return lambda frame: stabilizer(frame, stylizer(frame))


StrengthOpt = typer.Option(1.0, "--strength", min=0.0, max=1.0, help="How much of the style: 1 all of it, 0.5 half blended with the input, 0 none.")
PreserveColorOpt = typer.Option(False, "--preserve-color", help="Keep the input's colours: only the luminance comes from the style.")
MaxSideOpt = typer.Option(None, "--max-side", min=32, help="Run the network at most this many pixels on the longer side (faster on big inputs; the output keeps the input's size).")
StrokeScaleOpt = typer.Option("1", "--stroke-scale", help="Stroke size: 1 as trained (the network runs at 512 px on the longer side, edge-aware upsampled back), 2 twice as big, 0.5 half (never above the input's own size); 'native' runs at the input's own size.")
StabilizerStrengthOpt = typer.Option(0.6, "--stabilizer-strength", min=0.0, max=0.95, help="Stabilizer strength: the weight of the previous output on steady pixels.")


def frame_controls(strength: float, preserve_color: bool, max_side: Optional[int], stroke_scale: str):
    """The per-frame controls from the command line options (rtstyle.controls.FrameControls)."""
    from ..controls import NATIVE, FrameControls

    if stroke_scale.strip().lower() == "native":
        scale = NATIVE
    else:
        try:
            scale = float(stroke_scale)
            assert 0.05 <= scale <= 20
        except (ValueError, AssertionError):
            raise UserError(f"--stroke-scale must be a number from 0.05 to 20 or 'native', got {stroke_scale!r}") from None
    return FrameControls(strength=strength, preserve_color=preserve_color, max_side=max_side, stroke_scale=scale)
