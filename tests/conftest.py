"""Shared fixtures: a tiny style network exported through the real export path, training photos.

Its weights are random: it exists only to exercise the runtime, never shown as a style.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import the media helpers as `media`

# A runner may start the tests with SIGINT ignored (a background job does): then the Ctrl-C tests
# could interrupt neither this process nor the commands they start (an ignored signal stays
# ignored across exec, a handled one does not). Handle it as Python does by default.
signal.signal(signal.SIGINT, signal.default_int_handler)


def make_checkpoint(path: Path, arch: str = "johnson", channels: tuple[int, ...] | None = None) -> Path:
    import torch

    from rtstyle.networks import NetConfig, build_network

    torch.manual_seed(0)
    channels = channels or ((4, 8, 8) if arch == "johnson" else (4, 8, 8, 8))
    config = NetConfig(arch=arch, channels=channels, residual_blocks=1)
    net = build_network(config)
    torch.save({"model": net.state_dict(), "net": config.to_dict(), "config": {"style": "tiny-test.png"}, "step": 0}, path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_checkpoint) -> Path:
    """Path of a tiny exported rtstyle ONNX model (uint8 BGR N×H×W×3 in and out)."""
    from rtstyle.export import export_onnx

    out = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export_onnx(tiny_checkpoint, out)
    return out


@pytest.fixture
def photos(tmp_path) -> tuple[Path, Path]:
    """(a folder of 5 small photos, a style image): enough to train a few steps."""
    import cv2
    import numpy as np

    from media import pattern

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"p{i}.jpg"), pattern(i * 5, 80, 60))
    style = tmp_path / "style.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(style), cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (64, 64), interpolation=cv2.INTER_NEAREST))
    return folder, style
