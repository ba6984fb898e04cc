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
