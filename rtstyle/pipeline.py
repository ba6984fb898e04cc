"""`Pipeline`: the per-frame path of every command and of the Python API, built once from the options.

    from rtstyle import Pipeline
    pipeline = Pipeline("mosaic", strength=0.8, stroke_scale=1.5)   # bundled name or .onnx path
    out = pipeline(frame)            # uint8 BGR H×W×3 in, the same size out
    pipeline.reset()                 # between clips: the stabilizer forgets the previous frame

Per frame (rtstyle.controls for the steps around the network):
1. shrink to the working size (512 px on the longer side / `stroke_scale`, at most `max_side`);
2. the network (`open_network`): whole, or in tiles with whole-picture statistics when a whole
   run would take more than the memory budget (rtstyle.tiling);
3. the stabilizer, if on: the flow-warped previous output blended in, at the working size
   (rtstyle.temporal);
4. edge-aware upsampling back to the frame's size, colour preservation, strength.

`rtstyle image`, `video`, `webcam`, `batch`, `sheet`, `bench` and `evaluate` all run this object,
so the same options give the same pixels everywhere. No torch here (the run side).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .controls import NATIVE, FrameControls
from .errors import UserError

if TYPE_CHECKING:
    from .stylizer import Stylizer

Network = Callable[[np.ndarray], np.ndarray]
STROKE_SCALE_RANGE = (0.05, 20.0)


def open_network(
    model: str | os.PathLike,
    provider: str = "auto",
    threads: int | None = None,
    tier: str = "quality",
    *,
    profile_nodes: bool = False,
) -> Stylizer:
    """The style network for a bundled model name or an .onnx path: the one place a model is opened."""
    from .stylizer import Stylizer

    return Stylizer(model, provider=provider, threads=threads, tier=tier, profile_nodes=profile_nodes)


def parse_stroke_scale(value: float | str | None) -> float | None:
    """A stroke scale from a number, a numeric string or 'native' (NATIVE: the frame's own size)."""
    if value is NATIVE or (isinstance(value, str) and value.strip().lower() == "native"):
        return NATIVE
    low, high = STROKE_SCALE_RANGE
    try:
        scale = float(value)
        assert low <= scale <= high
    except (TypeError, ValueError, AssertionError):
        raise UserError(f"--stroke-scale must be a number from {low:g} to {high:g} or 'native', got {value!r}") from None
    return scale


class Pipeline:
    """A style model and everything around it, called once per frame (see the module docstring).

    Args:
        model: a bundled model name, an .onnx path, or an opened network (a `Stylizer`, or any
            function from a uint8 BGR frame to one of the same size).
        style: a painting (image file) to paint in, or several to blend, instead of `model`: the
            any-painting network (rtstyle.anystyle), no training; `style_weights` the blend.
        provider, threads, tier: how the model is opened (`open_network`; also for `open`).
        strength, preserve_color, stroke_scale, max_side: the controls (rtstyle.controls);
            `stroke_scale` is a number or 'native'.
        network_budget: bytes a whole-picture network run may take before it goes in tiles
            (None: RTSTYLE_MAX_NETWORK_GB, default 3 GB).
        stabilize, stabilizer_strength: blend each output with the flow-warped previous one.
    """

    def __init__(
        self,
        model: str | os.PathLike | Network = "mosaic",
        *,
        style: str | os.PathLike | list[str | os.PathLike] | None = None,
        style_weights: list[float] | None = None,
        provider: str = "auto",
        threads: int | None = None,
        tier: str = "quality",
        strength: float = 1.0,
        preserve_color: bool = False,
        stroke_scale: float | str | None = 1.0,
        max_side: int | None = None,
        network_budget: int | None = None,
        stabilize: bool = False,
        stabilizer_strength: float = 0.6,
    ):
        self.provider, self.threads, self.tier = provider, threads, tier
        self.network_budget = network_budget
        self.controls = FrameControls(strength=strength, preserve_color=preserve_color, max_side=max_side,
                                      stroke_scale=parse_stroke_scale(stroke_scale))
        self.stabilizer = None
        if stabilize:
            from .temporal import Stabilizer

            self.stabilizer = Stabilizer(strength=stabilizer_strength)
        if style is not None:
            from .anystyle import open_painting_stylizer

            model = open_painting_stylizer(style if isinstance(style, (list, tuple)) else [style], style_weights, provider, threads)
        self.open(model)

    @property
    def paints_any(self) -> bool:
        """True when this pipeline runs the any-painting network (`style=`)."""
        return getattr(self.stylizer, "painting_encoder", None) is not None

    def use_paintings(self, paintings: list[str | os.PathLike], weights: list[float] | None = None) -> None:
        """Paint in other paintings (or another blend) with the any-painting network already open."""
        from .anystyle import painting_paths, use_paintings

        encoder = getattr(self.stylizer, "painting_encoder", None)
        if encoder is None:
            raise UserError("this pipeline runs a bundled model, not the any-painting network: build it with style=")
        use_paintings(self.stylizer, encoder, painting_paths(paintings), weights)
        self.reset()

    def open(self, model: str | os.PathLike | Network) -> None:
        """Switch to another model (opened with this pipeline's provider, threads and tier); the controls stay."""
        from .stylizer import Stylizer

        if isinstance(model, (str, os.PathLike)):
            model = open_network(model, self.provider, self.threads, self.tier)
        self.stylizer = model
        self._tiled = None
        if isinstance(model, Stylizer):
            from .tiling import TiledStylizer

            self._tiled = TiledStylizer(model, budget=self.network_budget)
        self.network: Network = self._tiled or model  # what runs on the working frame
        self.reset()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The stylized frame: uint8 BGR H×W×3 in, a new array of the same size out."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected a uint8 H×W×3 BGR frame, got {frame.dtype} {frame.shape}")
        return self.controls.apply(self._at_working_size, frame)

    def _at_working_size(self, frame: np.ndarray) -> np.ndarray:
        out = self.network(frame)
        return out if self.stabilizer is None else self.stabilizer(frame, out)

    def reset(self) -> None:
        """Start a new clip: the stabilizer forgets the previous frame."""
        if self.stabilizer is not None:
            self.stabilizer.reset()

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) the network runs at for a frame of this size."""
        return self.controls.working_size(width, height)

    @property
    def name(self) -> str:
        return getattr(self.stylizer, "name", None) or getattr(self.stylizer, "__name__", type(self.stylizer).__name__)

    @property
    def fallback(self) -> str | None:
        """The Stylizer's sentence when onnxruntime runs the model on another provider than asked."""
        return getattr(self.stylizer, "fallback", None)

    @property
    def last_tiles(self) -> int:
        """How many tiles the last frame's network run took (0: it ran whole)."""
        return self._tiled.last_tiles if self._tiled is not None else 0

    @property
    def budget(self) -> int | None:
        """The memory budget of a whole-picture network run, in bytes (None: no tiling)."""
        return self._tiled.budget if self._tiled is not None else None

    def stages(self, width: int, height: int) -> list[str]:
        """What one frame of this size goes through, in order, e.g. ['shrink 1920x1080 to 512x288', ...]."""
        controls = self.controls
        if controls.strength == 0:
            return ["strength 0: the frame as it is"]
        work = self.working_size(width, height)
        resized = work != (width, height)
        stages = [f"{'shrink' if work[0] < width else 'enlarge'} {width}x{height} to {work[0]}x{work[1]}"] if resized else []
        tiling = f" (in tiles above {self._tiled.budget / 1e9:g} GB)" if self._tiled is not None else ""
        stages.append(f"network at {work[0]}x{work[1]}{tiling}")
        if self.stabilizer is not None:
            stages.append(f"stabilizer {self.stabilizer.strength:g}")
        if resized:
            stages.append(f"guided upsample to {width}x{height}")
        if controls.preserve_color:
            stages.append("colour kept")
        if controls.strength < 1:
            stages.append(f"strength {controls.strength:g}")
        return stages

    def describe(self) -> str:
        """One status line, e.g. 'mosaic (quality tier) on CPU: strength 1.00, style colours, strokes x1; stabilizer 0.6'."""
        provider = getattr(self.stylizer, "provider", None)
        where = f" ({self.stylizer.tier} tier) on {provider.removesuffix('ExecutionProvider')}" if provider else ""
        stabilizer = f"; stabilizer {self.stabilizer.strength:g}" if self.stabilizer is not None else ""
        return f"{self.name}{where}: {self.controls.describe()}{stabilizer}"
