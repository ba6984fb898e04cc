"""Training checkpoints: written atomically, read safely (tensors and plain data only)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import UserError
from .outputs import atomic_output


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
    if "encoder" not in ckpt and ckpt.get("kind") != "learn":  # those two are checked where they are built
        check_weights(path, ckpt)
    return ckpt


def check_weights(path: str | os.PathLike, ckpt: dict) -> None:
    """The weights in `ckpt["model"]` fit the network `ckpt["net"]` describes: no missing or extra
    names, no wrong shapes (a UserError naming the first, not a traceback from load_state_dict)."""
    from .networks import build_network

    try:
        expected = build_network(ckpt["net"]).state_dict()
    except Exception as e:
        raise UserError(f"{path} describes no network rtstyle can build: {(str(e).splitlines() or ['?'])[0][:120]}") from None
    weights = ckpt["model"] if isinstance(ckpt["model"], dict) else {}
    shapes = {name: tuple(getattr(value, "shape", ())) for name, value in weights.items()}
    for what, names in (
        ("missing", sorted(expected.keys() - shapes.keys())),
        ("unexpected", sorted(shapes.keys() - expected.keys())),
        ("wrongly shaped", sorted(n for n in expected.keys() & shapes.keys() if shapes[n] != tuple(expected[n].shape))),
    ):
        if names:
            raise UserError(f"{path} does not fit its own network: {len(names)} {what} weights ({', '.join(names[:3])}); not an intact rtstyle checkpoint")
