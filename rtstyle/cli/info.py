"""`rtstyle info`: versions, providers, models."""

from __future__ import annotations

import json

import typer

from .app import app


@app.command()
def info(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Versions, onnxruntime providers (listed and actually usable), bundled models."""
    import platform

    import cv2
    import numpy as np
    import onnxruntime as ort

    from ..registry import bundled_models, models_dir
    from ..stylizer import Stylizer

    report = {
        "rtstyle": __import__("rtstyle").__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "providers_listed": ort.get_available_providers(),
        "models_dir": str(models_dir()),
        "models": bundled_models(),
    }
    if report["models"]:
        probe = Stylizer(report["models"][0], provider="auto")
        report["providers_in_use"] = probe.providers
        report["fallback"] = probe.fallback
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key:17} {', '.join(value) if isinstance(value, list) else value}")
