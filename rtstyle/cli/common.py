"""Options and helpers shared by the commands."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from ..errors import UserError
from .app import say

ModelOpt = typer.Option(None, "--model", "-m", help="Bundled model name (mosaic, candy, ...) or path to an .onnx file (or use --style).")
StyleOpt = typer.Option(None, "--style", help="Paint in the style of any painting (an image file), no training: the any-painting network (see `rtstyle info`). Repeat to blend several.")
StyleWeightsOpt = typer.Option(None, "--style-weights", help="Blend weights for several --style paintings, e.g. 0.7,0.3 (default: equal).")
ProviderOpt = typer.Option("auto", "--provider", help="auto (TensorRT, then CUDA, then CPU), tensorrt, cuda or cpu.")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads for onnxruntime (default: all cores; batch: each worker's share).")

# The options of rtstyle.pipeline.Pipeline, by group: parameter name -> (type, typer option).
PAINTING = {"style": (Optional[List[Path]], StyleOpt), "style_weights": (Optional[str], StyleWeightsOpt)}
NETWORK = {"model": (Optional[str], ModelOpt), **PAINTING, "provider": (str, ProviderOpt), "threads": (Optional[int], ThreadsOpt)}
CONTROLS = {
    "strength": (float, typer.Option(1.0, "--strength", min=0.0, max=1.0, help="How much of the style: 1 all of it, 0.5 half blended with the input, 0 none.")),
    "preserve_color": (bool, typer.Option(False, "--preserve-color", help="Keep the input's colours: only the luminance comes from the style.")),
    "max_side": (Optional[int], typer.Option(None, "--max-side", min=32, help="Run the network at most this many pixels on the longer side (faster on big inputs; the output keeps the input's size).")),
    "stroke_scale": (str, typer.Option("1", "--stroke-scale", help="Stroke size: 1 as trained (the network runs at 512 px on the longer side, edge-aware upsampled back), 2 twice as big, 0.5 half (never above the input's own size); 'native' runs at the input's own size.")),
}
STABILIZER = {
    "stabilize": (bool, typer.Option(True, "--stabilize/--no-stabilize", help="Blend each output with the flow-warped previous one where the motion is reliable (default: on).")),
    "stabilizer_strength": (float, typer.Option(0.6, "--stabilizer-strength", min=0.0, max=0.95, help="Stabilizer strength: the weight of the previous output on steady pixels.")),
}


def pipeline_options(*groups: dict[str, tuple[Any, Any]]) -> Callable:
    """Give a command the options of these groups (NETWORK, CONTROLS, STABILIZER) after its own.

    The command takes a parameter `options` instead: a dict of their values, checked (the stroke
    scale parsed), ready for `build_pipeline(..., **options)` or rtstyle.pipeline.Pipeline.
    """
    shared = {name: spec for group in groups for name, spec in group.items()}

    def decorate(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command).parameters.values() if p.name != "options"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
                 for name, (kind, option) in shared.items()]

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            from ..pipeline import parse_stroke_scale

            options = {name: values.pop(name) for name in shared}
            if "stroke_scale" in options:
                options["stroke_scale"] = parse_stroke_scale(options["stroke_scale"])
            if "style" in options:
                options["style"] = [p.resolve() for p in options["style"] or []] or None  # absolute: batch workers run elsewhere
                options["style_weights"] = parse_weights(options["style_weights"])
            return command(**values, options=options)

        run.__signature__ = inspect.Signature([*own, *added])
        hints = {k: v for k, v in command.__annotations__.items() if k != "options"}
        run.__annotations__ = {**hints, **{name: kind for name, (kind, _) in shared.items()}}
        return run

    return decorate


def parse_weights(text: Optional[str]) -> Optional[list[float]]:
    if not text:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise UserError(f"--style-weights must be numbers separated by commas, got {text!r}") from None


def check_model_or_style(model: Optional[str], style: Optional[list], folders: bool = False) -> None:
    """Exactly one of -m and --style; painting folders only where a command steps through them."""
    if model is None and not style:
        raise UserError("give a model (-m mosaic, or an .onnx file) or a painting (--style PAINTING)")
    if model is not None and style:
        raise UserError("give either -m MODEL or --style PAINTING, not both")
    for entry in style or []:
        if not folders and Path(entry).is_dir():
            raise UserError(f"--style {entry} is a folder: give painting files here (the webcam and sheet step through a folder)")


def build_pipeline(model=None, provider: str = "auto", threads: Optional[int] = None, tier: str = "quality", **options: Any):
    """The command's Pipeline from its options; a provider fallback is said as a note."""
    from ..pipeline import Pipeline

    check_model_or_style(model, options.get("style"))
    pipeline = Pipeline(model, provider=provider, threads=threads, tier=tier, **options)
    if pipeline.fallback:
        say(f"note: {pipeline.fallback}")
    return pipeline


def parse_size(size: Optional[str]) -> Optional[tuple[int, int]]:
    if not size:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        assert w > 0 and h > 0
    except (ValueError, AssertionError):
        raise UserError(f"--size must look like 640x480, got {size!r}") from None
    return w, h
