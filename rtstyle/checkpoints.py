"""Training checkpoints: written atomically, read safely (tensors and plain data only)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from .errors import UserError
from .outputs import atomic_output


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a training checkpoint safely (tensors and plain data only: no code can run)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such checkpoint: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot load checkpoint {path} (not a safe rtstyle checkpoint): {str(e).splitlines()[0][:120]}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "net" not in ckpt:
        raise UserError(f"{path} is not an rtstyle checkpoint (no 'model'/'net' entries)")
    return ckpt
