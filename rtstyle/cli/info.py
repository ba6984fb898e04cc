"""`rtstyle info`: versions, providers, where the nodes run, what the GPU path is missing."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .app import app


@app.command()
def info(
    model: Optional[str] = typer.Argument(None, help="A model (.onnx file or bundled name): show its card instead."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Versions, onnxruntime providers (listed, in use, and where one frame's nodes ran), the
    NVIDIA libraries onnxruntime needs and which are missing, bundled models, the any-painting
    network (--style) and its limits. With MODEL: that model's card."""
    if model is not None:
        return show_card(model, as_json)
    import platform

    import cv2
    import numpy as np
    import onnxruntime as ort

    from .. import gpuenv
    from ..registry import bundled_models, models_dir
    from ..stylizer import Stylizer, format_placement, gpu_present, placement_warning

    build = gpuenv.onnxruntime_build()
    report = {
        "rtstyle": __import__("rtstyle").__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "onnxruntime": f"{ort.__version__} ({build['package']})",
        "onnxruntime_installed": [f"{name} {version}" for name, version in gpuenv.onnxruntime_distributions().items()],
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "nvidia_driver": gpu_present(),
        "gpu_libraries": gpuenv.gpu_libraries_line(build=build),
        "providers_listed": ort.get_available_providers(),
        "providers": gpuenv.provider_status(build=build),
        "models_dir": str(models_dir()),
        "models": bundled_models(),
        "any_painting": any_painting_line(),
    }
    conflict = gpuenv.conflicting_onnxruntimes()
    if conflict:
        report["onnxruntime_conflict"] = conflict
    if report["models"]:
        # a fast-tier model: on TensorRT its first engine builds quickest (then it is cached)
        probe_model = next((m for m in report["models"] if m.endswith("-fast")), report["models"][0])
        probe = Stylizer(probe_model, provider="auto", profile_nodes=True)
        report["probe_model"] = probe.name
        placement = probe.node_placement()
        report["providers_in_use"] = probe.providers
        report["nodes_ran_on"] = format_placement(placement)
        report["placement"] = placement["counts"]
        report["placement_warning"] = placement_warning(placement, probe.providers)
        report["fallback"] = probe.fallback
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if value is None or key == "placement":
            continue
        if isinstance(value, dict):  # providers: one line each
            for name, state in value.items():
                print(f"{key[:-1] + ' ' + name:21} {state}")
            continue
        print(f"{key:21} {', '.join(value) if isinstance(value, list) else value}")


def any_painting_line() -> str:
    from ..anystyle import LIMITS
    from ..registry import ANYSTYLE_MODEL, models_dir

    path = models_dir() / f"{ANYSTYLE_MODEL}.onnx"
    if not path.is_file():
        return "not installed"
    meta = model_metadata(path)
    held = [h for h in meta.get("rtstyle.held_out", "").split(",") if h]
    return (f"--style PAINTING: {path.name}, trained {meta.get('rtstyle.steps', '?')} steps on "
            f"{meta.get('rtstyle.paintings', '?')} works ({len(held)} more held out to test it); {LIMITS}")


def model_metadata(path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def show_card(model: str, as_json: bool) -> None:
    from ..errors import UserError
    from ..registry import resolve_model

    path = resolve_model(model)
    try:
        card = {"model": str(path), **model_metadata(path)}
    except Exception:
        raise UserError(f"{path} is not an ONNX model") from None
    if as_json:
        print(json.dumps(card, indent=2))
        return
    for key, value in card.items():
        print(f"{key.removeprefix('rtstyle.'):21} {value}")
