"""rtstyle: real-time neural style transfer.

The runtime API is `Stylizer` (onnxruntime, no torch import); training, export, stills and
evaluation live in their own modules and import torch when used. The names below load on
first use, so `import rtstyle` (and `rtstyle --help`) loads neither onnxruntime nor torch.
"""

from __future__ import annotations

import importlib

# public name → the module that defines it (imported on first access)
_EXPORTS = {
    "Pipeline": "pipeline",
    "Stylizer": "stylizer",
    "UserError": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib import metadata

        return metadata.distribution("rtstyle").version  # one place: pyproject.toml, through the package metadata
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
