"""Bundled models: a name such as `mosaic` maps to `models/mosaic.onnx` (and `mosaic-fast.onnx`).

In a wheel the models live in `rtstyle/models/` (pyproject.toml maps the top-level `models/`
there); in a source checkout they are read from the top-level `models/` directly.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import UserError

FAST_SUFFIX = "-fast"
ANYSTYLE_MODEL, ANYSTYLE_ENCODER = "anystyle", "anystyle-encoder"  # the any-painting network (rtstyle.anystyle): not styles


def cache_dir() -> Path:
    """The user cache folder (dequantized VGG weights, TensorRT engines)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rtstyle"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MB chunks (models, paintings, checkpoints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def models_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "models", here.parent / "models"):
        if candidate.is_dir() and any(candidate.glob("*.onnx")):
            return candidate
    return here / "models"


def bundled_models() -> list[str]:
    """Names of the bundled style models, quality tier and fast tier, sorted."""
    return sorted(p.stem for p in models_dir().glob("*.onnx") if p.stem not in (ANYSTYLE_MODEL, ANYSTYLE_ENCODER))


def bundled_styles() -> list[str]:
    """Style names (quality-tier models): the list the live loop cycles through."""
    return [m for m in bundled_models() if not m.endswith(FAST_SUFFIX)]


def resolve_model(model: str | os.PathLike, tier: str = "quality") -> Path:
    """A path to an .onnx file, or a bundled name (with or without .onnx, from any folder).

    `tier` ("quality" or "fast") applies to bundled names only: `mosaic` with tier "fast"
    is `mosaic-fast.onnx` when that exists. An existing file is always used as given.
    """
    path = Path(model)
    if path.is_file():
        return path
    name = path.name.removesuffix(".onnx")
    if tier == "fast" and not name.endswith(FAST_SUFFIX) and (models_dir() / f"{name}{FAST_SUFFIX}.onnx").is_file():
        name += FAST_SUFFIX
    bundled = models_dir() / f"{name}.onnx"
    if path.parent == Path(".") and bundled.is_file():
        return bundled
    available = ", ".join(bundled_styles()) or "none installed"
    raise UserError(f"no such model file or bundled model: {model} (bundled: {available})")
