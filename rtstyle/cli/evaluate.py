"""`rtstyle evaluate`: style, palette and content distance of a model's results (or of existing ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .app import app
from .common import CONTROLS, ProviderOpt, build_pipeline, pipeline_options


@app.command()
@pipeline_options(CONTROLS)
def evaluate(
    model: Optional[str] = typer.Argument(None, help="Bundled model name or .onnx path (omit with --outputs; omitted alone: the any-painting network on --style)."),
    style: Path = typer.Option(..., "--style", "-s", help="The style image the model was trained on (without MODEL: the painting the any-painting network paints in)."),
    images: Path = typer.Option(..., "--images", help="A folder of photos (best: photos not used in training), or one photo."),
    outputs: Optional[Path] = typer.Option(None, "--outputs", help="Measure existing results instead of a model's: a folder with one image per photo, named like it (or, for one photo, the result file)."),
    size: int = typer.Option(512, "--size", help="Stylize each photo with its longer side at this many pixels (the measures are still taken at 512)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N photos."),
    as_json: bool = typer.Option(False, "--json"),
    provider: str = ProviderOpt,
    options: dict = None,
) -> None:
    """Style, palette and content distance of the model's results (protocol in rtstyle/evaluate.py)."""
    from ..extras import require_training_side

    require_training_side("evaluate")
    from ..evaluate import evaluate as run
    from ..evaluate import evaluate_outputs, pair_outputs, summarize
    from ..imageio import list_images

    if model is not None and outputs is not None:
        raise UserError("give a MODEL to stylize the photos, or --outputs with results to measure (not both)")
    if size < 16:
        raise UserError(f"--size must be at least 16 pixels, got {size}")
    photos = ([images] if images.is_file() else list_images(images))[:limit]
    if outputs is not None:
        name, controls = str(outputs), {}
        results = evaluate_outputs(style, pair_outputs(photos, outputs))
    else:
        painting = {"style": [style]} if model is None else {}  # no model: the any-painting network
        pipeline = build_pipeline(model, provider, **painting, **options)  # what image/video/webcam run, BGR in and out
        name, controls = pipeline.name, {"size": size, "controls": pipeline.controls.describe()}
        results = run(lambda rgb: pipeline(rgb[..., ::-1].copy())[..., ::-1], style, photos, size=size)
    summary = {"model": name, "style": str(style), **controls,
               **summarize(results)}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for r in results:
        print(f"{r.image:32} style_rel {r.style_rel:.3f}  style_rel_layers {r.style_rel_layers:.3f}  "
              f"palette_rel {r.palette_rel:.3f}  content_rel {r.content_rel:.3f}")
    print(f"{'mean':32} style_rel {summary['style_rel_mean']:.3f}  style_rel_layers {summary['style_rel_layers_mean']:.3f}  "
          f"palette_rel {summary['palette_rel_mean']:.3f}  content_rel {summary['content_rel_mean']:.3f}  ({len(results)} photos)")
    print(f"{'per layer (mean)':32} " + "  ".join(f"{k} {v:.3f}" for k, v in summary["style_layer_rel_mean"].items()))
