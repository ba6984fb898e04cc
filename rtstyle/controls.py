"""Per-frame controls around a style network: stroke size, a cap on the working size, colour, strength.

    from rtstyle import Stylizer
    from rtstyle.controls import FrameControls
    controls = FrameControls(strength=0.8, preserve_color=True, stroke_scale=1.5)
    out = controls.apply(Stylizer("mosaic"), frame)      # or: process = controls.wrap(stylizer)

Per frame, in this order:
1. The frame is shrunk (INTER_AREA) to the working size: its longer side becomes
   512 / `stroke_scale` (512 px is the scale the bundled models were trained at, so 1.0 gives the
   strokes they were trained to paint; 2.0 paints strokes twice as big, 0.5 half as big), at most
   `max_side`, and never more than the frame's own side unless `upscale` is set.
   `stroke_scale=NATIVE` (None) runs the network on the frame as it is.
2. The network runs there; fewer pixels is also what makes a big frame fast.
3. The result is brought back to the frame's size by `guided_upsample`: edge-aware, so the
   output's edges follow the full-resolution frame rather than a blurred copy.
4. `preserve_color`: the stylized luminance with the frame's own chroma (YCrCb).
5. `strength` < 1 blends with the frame (0 returns the frame and skips the network).

All of it is whole-array OpenCV/numpy work in uint8 or float32; `bench/controls.py` prints the
cost per frame of each step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

Stylize = Callable[[np.ndarray], np.ndarray]

TRAINED_SIDE = 512  # longer side of the training crops: the scale the strokes were learned at
NATIVE = None  # stroke_scale: run the network at the frame's own size
MIN_SIDE = 32  # smaller working sizes leave the networks (3 strided convolutions deep) nothing to paint


@dataclass
class FrameControls:
    """What to do around the network on each frame (see the module docstring for the order).

    strength: 0..1, the share of the stylized frame in the output (1: all of it).
    preserve_color: keep the frame's colours, take only the luminance from the style.
    max_side: at most this many pixels on the working frame's longer side (None: no cap).
    stroke_scale: stroke size relative to training (1.0); NATIVE (None) runs at the frame's size.
    upscale: let a frame smaller than the working size be enlarged for the network.
    """

    strength: float = 1.0
    preserve_color: bool = False
    max_side: int | None = None
    stroke_scale: float | None = 1.0
    upscale: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.strength <= 1:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")
        if self.max_side is not None and self.max_side < MIN_SIDE:
            raise ValueError(f"max_side must be at least {MIN_SIDE}, got {self.max_side}")
        if self.stroke_scale is not None and not self.stroke_scale > 0:
            raise ValueError(f"stroke_scale must be positive (or NATIVE), got {self.stroke_scale}")

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) the network runs at for a frame of this size."""
        side = max(width, height)
        target = side if self.stroke_scale is None else TRAINED_SIDE / self.stroke_scale
        if self.max_side:
            target = min(target, self.max_side)
        if not self.upscale:
            target = min(target, side)
        target = max(target, min(MIN_SIDE, side))
        if round(target) == side:
            return width, height
        scale = target / side
        return max(1, round(width * scale)), max(1, round(height * scale))

    def apply(self, stylize: Stylize, frame: np.ndarray) -> np.ndarray:
        """The controlled output for one uint8 BGR H×W×3 frame (a new array, the frame's size)."""
        if self.strength == 0:
            return frame.copy()
        height, width = frame.shape[:2]
        size = self.working_size(width, height)
        if size == (width, height):
            out = stylize(frame)
            if out.shape[:2] != (height, width):  # a network that pads or crops
                out = cv2.resize(out, (width, height), interpolation=cv2.INTER_CUBIC)
        else:
            small = shrink(frame, size) if size[0] < width else cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
            out = guided_upsample(stylize(small), small, frame)
        if self.preserve_color:
            out = keep_chroma(out, frame)
        if self.strength < 1:
            out = cv2.addWeighted(out, self.strength, frame, 1 - self.strength, 0)
        return out

    def wrap(self, stylize: Stylize) -> Stylize:
        """A per-frame function that applies these controls (read on every call, so they can change)."""
        return lambda frame: self.apply(stylize, frame)

    def describe(self) -> str:
        """One line for the user, e.g. 'strength 0.8, colour kept, strokes x1.5'."""
        parts = [f"strength {self.strength:.2f}"]
        parts.append("colour kept" if self.preserve_color else "style colours")
        parts.append("strokes native" if self.stroke_scale is None else f"strokes x{self.stroke_scale:g}")
        if self.max_side:
            parts.append(f"max side {self.max_side}")
        return ", ".join(parts)


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize down to `size` (width, height) with area averaging.

    Halves first while the image is at least twice the size: OpenCV's INTER_AREA has a fast
    path for exact halving. The footprint is a little wider than one direct area resize (on a
    photo, 0.5 grey levels apart on average), in about half the time for 1080p to 512 px.
    """
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def guided_upsample(
    stylized: np.ndarray,
    small: np.ndarray,
    frame: np.ndarray,
    radius: int = 1,
    eps: float = 1e-3,
    sharpen: float = 0.6,
) -> np.ndarray:
    """Bring a stylized low-resolution frame to `frame`'s size, its edges following `frame`.

    From the fast guided filter (He & Sun 2015), on luminance: the local linear coefficient
    a = cov(I, p) / (var(I) + eps) of the stylized luminance p on the input luminance I is
    computed at low resolution over (2·radius+1)² windows, box-averaged and upsampled
    bilinearly. A guided filter would output a·I + b, which also smooths away the brush texture
    the input does not explain; this keeps it:
    out = cubic_up(stylized) + a_up · (I_full − up(I_low)),
    the stylized picture enlarged plus the frame's own fine detail, in the amount the
    stylization follows the input there. The full-size work is uint8/int16 OpenCV arithmetic
    (about as cheap as the plain resize); `eps` (0-1 scale) keeps flat regions from amplifying noise.

    `sharpen`: an unsharp mask on the stylized picture before it is enlarged (that amount of its
    difference from a blur of sigma 0.5 px). The networks paint strokes one to two pixels wide,
    and enlarging then viewing (or measuring) smaller again blurs them away: without it the
    1080-px style_rel of starry-night is 1.32× its 512-px one, with 0.5 1.19×; 0.6 brings the
    finest painters, shipwreck-fast and udnie-fast, within 1.25× too (docs/quality.md).
    """
    height, width = frame.shape[:2]
    full = (width, height)
    window = (2 * radius + 1, 2 * radius + 1)
    guide_u8 = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    guide = guide_u8.astype(np.float32) * np.float32(1 / 255)
    painted = cv2.cvtColor(stylized, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / 255)
    mean_i = cv2.boxFilter(guide, -1, window)
    mean_p = cv2.boxFilter(painted, -1, window)
    var_i = cv2.boxFilter(guide * guide, -1, window) - mean_i * mean_i
    cov_ip = cv2.boxFilter(guide * painted, -1, window) - mean_i * mean_p
    slope = cv2.boxFilter(np.clip(cov_ip / (var_i + np.float32(eps)), -2, 2), -1, window)

    detail = cv2.subtract(
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY),
        cv2.resize(guide_u8, full, interpolation=cv2.INTER_LINEAR),
        dtype=cv2.CV_16S,
    )
    lift = cv2.multiply(detail, cv2.resize(slope, full, interpolation=cv2.INTER_LINEAR), dtype=cv2.CV_16S)
    if sharpen:
        stylized = cv2.addWeighted(stylized, 1 + sharpen, cv2.GaussianBlur(stylized, (0, 0), 0.5), -sharpen, 0)
    out = cv2.resize(stylized, full, interpolation=cv2.INTER_CUBIC)
    return cv2.add(out, cv2.merge((lift, lift, lift)), dtype=cv2.CV_8U)


def keep_chroma(stylized: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The stylized luminance (Y) with the frame's chroma (Cr, Cb): a style that keeps the photo's colours."""
    ycrcb = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)
    ycrcb[..., 0] = cv2.cvtColor(stylized, cv2.COLOR_BGR2GRAY)  # Y: the same weights as YCrCb's
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2BGR)
