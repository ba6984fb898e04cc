"""`rtstyle evaluate`: style and content distance of a model's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import ProviderOpt, load_stylizer


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="Bundled model name or .onnx path."),
    style: Path = typer.Option(..., "--style", "-s", help="The style image the model was trained on."),
    images: Path = typer.Option(..., "--images", help="A folder of photos (best: photos not used in training)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N photos."),
    as_json: bool = typer.Option(False, "--json"),
    provider: str = ProviderOpt,
) -> None:
    """Style and content distance of the model's results (protocol in rtstyle/evaluate.py)."""
    from ..evaluate import evaluate as run
    from ..evaluate import summarize
    from ..imageio import list_images

    stylizer = load_stylizer(model, provider)
    photos = list_images(images)[:limit]
    results = run(lambda rgb: stylizer(rgb[..., ::-1].copy())[..., ::-1], style, photos)
    summary = {"model": stylizer.name, "style": str(style), **summarize(results)}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for r in results:
        print(f"{r.image:32} style_rel {r.style_rel:.3f}  content_rel {r.content_rel:.3f}")
    print(f"{'mean':32} style_rel {summary['style_rel_mean']:.3f}  content_rel {summary['content_rel_mean']:.3f}  ({len(results)} photos)")
