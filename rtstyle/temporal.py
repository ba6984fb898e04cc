"""Flicker in stylized video: the temporal warping error metric and a cheap run-time stabilizer.

Both rest on `FlowEstimator`: DIS optical flow from the current input frame back to the previous
one, and a mask of the pixels where that flow can be trusted (forward-backward consistent, as in
Ruder et al. 2016, and pointing inside the previous frame). Numpy and OpenCV only: the stabilizer
runs on the real-time path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from .errors import UserError
from .videoio import open_input, played_bgr, played_size


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image sampled at x + flow(x), bilinear: brings the previous frame into the current one."""
    # WARP_RELATIVE_MAP (OpenCV >= 4.10) saves building grid + flow at every call.
    return cv2.remap(image, flow, None, cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _sq_norm(flow: np.ndarray) -> np.ndarray:
    """|f|² per pixel of an H×W×2 float32 field (spelled out: numpy's sum(axis=2) is many times slower)."""
    x, y = flow[..., 0], flow[..., 1]
    return x * x + y * y


def _grey(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


class FlowEstimator:
    """Backward optical flow (current → previous frame) and its reliability mask, on one DIS instance.

    A pixel is reliable where the flow passes the forward-backward check of Ruder et al.
    (|f_fw(x + f_bw(x)) + f_bw(x)|² <= 0.01 (|f_fw|² + |f_bw|²) + 0.5) and points inside the
    previous frame. With `scale` < 1 all of this runs on grey frames shrunk by that factor
    (INTER_AREA; the 0.5 px² slack is then in reduced pixels); the flow is then multiplied by the
    size ratio and resized up bilinearly, the mask with nearest neighbour. Cost falls about with
    the pixel count, and so does sub-pixel precision.
    """

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, scale: float = 1.0):
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        self.scale = scale
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._bounds: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def backward_flow_and_mask(self, prev_bgr: np.ndarray, cur_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flow f (H×W×2 float32, pixels) with cur(x) ≈ prev(x + f(x)), and the H×W bool mask of reliable pixels."""
        flow, valid = self._estimate(_grey(prev_bgr), _grey(cur_bgr))
        return flow, valid > 0

    def _inside(self, flow: np.ndarray) -> np.ndarray:
        """0/255 where x + flow(x) lies in the frame (inRange against cached per-pixel bounds)."""
        h, w = flow.shape[:2]
        bounds = self._bounds.get((h, w))
        if bounds is None:
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            grid = np.dstack((xs, ys))
            bounds = self._bounds[(h, w)] = (-grid, np.array([w - 1, h - 1], np.float32) - grid)
        return cv2.inRange(flow, *bounds)

    def _estimate(
        self, prev_grey: np.ndarray, cur_grey: np.ndarray, max_change: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(backward flow, valid mask as uint8 0/255), both at the full size. With `max_change`, pixels
        whose grey level differs by more than that from the warped previous frame are invalid too."""
        h, w = cur_grey.shape
        prev_small, cur_small = prev_grey, cur_grey
        if self.scale < 1:
            size = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
            prev_small = cv2.resize(prev_grey, size, interpolation=cv2.INTER_AREA)
            cur_small = cv2.resize(cur_grey, size, interpolation=cv2.INTER_AREA)
        backward = self._dis.calc(cur_small, prev_small, None)
        forward = self._dis.calc(prev_small, cur_small, None)
        fw = _warp(forward, backward)
        slack = 0.01 * (_sq_norm(fw) + _sq_norm(backward)) + 0.5
        valid = cv2.compare(_sq_norm(cv2.add(fw, backward)), slack, cv2.CMP_LE)
        cv2.bitwise_and(valid, self._inside(backward), dst=valid)
        sh, sw = backward.shape[:2]
        if (sh, sw) != (h, w):
            backward = cv2.multiply(backward, (w / sw, h / sh, 0, 0))
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR)
            valid = cv2.resize(valid, (w, h), interpolation=cv2.INTER_NEAREST)
        if max_change is not None:  # at full size: this is what keeps edges of moving objects clean
            change = cv2.absdiff(cur_grey, _warp(prev_grey, backward))
            cv2.bitwise_and(valid, cv2.threshold(change, max_change, 255, cv2.THRESH_BINARY_INV)[1], dst=valid)
        return backward, valid


# ---------------------------------------------------------------------------------------------
# The metric


def _sq_error(prev: np.ndarray, cur: np.ndarray, flow: np.ndarray, valid: np.ndarray) -> float | None:
    """Mean over valid pixels of the channel-averaged squared difference between cur and warped prev."""
    n = cv2.countNonZero(valid)
    if n == 0:
        return None
    diff = cv2.subtract(cur, _warp(prev, flow))
    return sum(cv2.mean(cv2.multiply(diff, diff), mask=valid)[:3]) / 3


def _unit(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) * np.float32(1 / 255)


def _lockstep(
    ins: Iterable, outs: Iterable, names: tuple[str, str], size: Callable = lambda a: a.shape[:2]
) -> Iterator[tuple]:
    """Yield (input, output) frame pairs; UserError on a frame count or (height, width) mismatch."""
    ins, outs = iter(ins), iter(outs)
    count = 0
    while True:
        a, b = next(ins, None), next(outs, None)
        if a is None or b is None:
            if a is not None or b is not None:
                n_in = count + (a is not None) + sum(1 for _ in ins)
                n_out = count + (b is not None) + sum(1 for _ in outs)
                raise UserError(f"frame count mismatch: {names[0]} has {n_in} frames, {names[1]} has {n_out}")
            return
        count += 1
        (ha, wa), (hb, wb) = size(a), size(b)
        if (ha, wa) != (hb, wb):
            raise UserError(f"frame size mismatch: {names[0]} is {wa}×{ha}, {names[1]} is {wb}×{hb} (frame {count})")
        yield a, b


def _measure(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], estimator: FlowEstimator | None, floor: bool
) -> dict:
    estimator = estimator or FlowEstimator()
    per_pair: list[float | None] = []
    floor_per_pair: list[float | None] = []
    prev = None  # (input grey, input 0-1, output 0-1) of the previous frame
    for inp, out in pairs:
        cur = (_grey(inp), _unit(inp) if floor else None, _unit(out))
        if prev is not None:
            flow, valid = estimator._estimate(prev[0], cur[0])
            per_pair.append(_sq_error(prev[2], cur[2], flow, valid))
            if floor:
                floor_per_pair.append(_sq_error(prev[1], cur[1], flow, valid))
        prev = cur

    def mean(values: list[float | None]) -> float | None:
        measured = [v for v in values if v is not None]
        return float(np.mean(measured)) if measured else None

    result = {"error": mean(per_pair), "pairs": len(per_pair), "per_pair": per_pair}
    if floor:
        result["floor"] = mean(floor_per_pair)
    return result


def warping_error(
    input_frames: Iterable[np.ndarray],
    output_frames: Iterable[np.ndarray],
    estimator: FlowEstimator | None = None,
) -> dict:
    """Temporal warping error of a stylized clip (lower is steadier).

    For each consecutive pair, the previous output is warped into the current frame along the flow
    of the INPUT frames (BGR uint8), and the squared difference to the current output (0-1 scale,
    channels averaged) is averaged over the reliable pixels. Returns {"error": mean over pairs,
    "pairs": n, "per_pair": [...]}; a pair with no reliable pixel counts as None, and so does
    "error" for a clip with no measurable pair. Raises UserError on a frame count or size mismatch.
    The default estimator is full-size DIS MEDIUM (about 0.1 s per 640×480 pair on 2 cores);
    FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_FAST) is about 3 times faster, with a higher floor.
    """
    return _measure(_lockstep(input_frames, output_frames, ("input", "output")), estimator, floor=False)


def _decode(path: str | os.PathLike) -> Iterator[av.VideoFrame]:
    """Open now (so a missing or unreadable file fails at once), decode the first video stream lazily."""
    container, stream = open_input(path)

    def frames() -> Iterator[av.VideoFrame]:
        with container:
            stream.thread_type = "AUTO"
            try:
                yield from container.decode(stream)
            except av.error.FFmpegError as e:
                raise UserError(f"cannot decode video (corrupt?): {path}: {e}") from None

    return frames()


def _first(path: str | os.PathLike) -> av.VideoFrame | None:
    frames = _decode(path)
    try:
        return next(frames, None)
    finally:
        frames.close()


def flicker_report(
    video_in: str | os.PathLike, video_out: str | os.PathLike, estimator: FlowEstimator | None = None
) -> dict:
    """Warping error of a stylized video against its source, with the source's own error as the floor.

    Returns {"clip": input file name, "warping_error": ..., "input_floor": ..., "pairs": n}. Both
    videos must have the same frame count and size; UserError otherwise, or if one cannot be read.
    """
    names = (Path(video_in).name, Path(video_out).name)
    if names[0] == names[1]:
        names = (str(video_in), str(video_out))

    # Frames as played (a phone clip's display matrix applied; rtstyle writes them upright). An
    # odd-sized input's output is one pixel larger (4:2:0 needs even sides): that pixel is dropped.
    first_in, first_out = _first(video_in), _first(video_out)
    (h, w) = played_size(first_in) if first_in else (0, 0)
    padded = first_out is not None and played_size(first_out) == (h + h % 2, w + w % 2) != (h, w)

    def sized(frame: av.VideoFrame) -> tuple[int, int]:
        return (h, w) if padded and played_size(frame) == (h + h % 2, w + w % 2) else played_size(frame)

    # A decode-only pass first, so that a mismatch fails in seconds rather than after all the flow.
    for _ in _lockstep(_decode(video_in), _decode(video_out), names, size=sized):
        pass

    def bgr(path: str | os.PathLike) -> Iterator[np.ndarray]:
        return (played_bgr(frame)[:h, :w] if padded else played_bgr(frame) for frame in _decode(path))

    result = _measure(_lockstep(bgr(video_in), bgr(video_out), names), estimator, floor=True)
    if result["pairs"] == 0:
        raise UserError(f"need at least 2 frames to measure flicker: {video_in}")
    return {
        "clip": Path(video_in).name,
        "warping_error": result["error"],
        "input_floor": result["floor"],
        "pairs": result["pairs"],
    }


# ---------------------------------------------------------------------------------------------
# The stabilizer


class Stabilizer:
    """Blend each stylized frame with the previous output warped along the input's optical flow.

    out = (1 - a)·stylized + a·warp(previous output), with a = `strength` where the flow is reliable
    (consistent, in frame, and the grey input there matches the warped previous input within
    `change_threshold` on a 0-1 scale) and 0 elsewhere, so moving objects and disocclusions take
    the new stylization. The mask is eroded then blurred by `feather` pixels,
    which softens seams without letting any weight leak onto an unreliable pixel. The first frame,
    a size change, and a scene cut (more than `cut_fraction` of the pixels unreliable) pass through
    unchanged. Flow runs at `scale` of the size with DIS `preset`. If the input frame differs in
    size from the stylized one, it is resized to match. Frames are BGR uint8.
    """

    def __init__(
        self,
        strength: float = 0.6,
        scale: float = 0.5,
        preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST,
        change_threshold: float = 0.08,
        cut_fraction: float = 0.5,
        feather: int = 2,
    ):
        if not 0 <= strength < 1:
            raise ValueError(f"strength must be in [0, 1), got {strength}")
        if not 0 < cut_fraction <= 1:
            raise ValueError(f"cut_fraction must be in (0, 1], got {cut_fraction}")
        self.strength = strength
        self.cut_fraction = cut_fraction
        self._level = int(round(change_threshold * 255))
        self._feather = feather
        self._kernel = np.ones((2 * feather + 1, 2 * feather + 1), np.uint8)
        self._flow = FlowEstimator(preset, scale)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (call at a cut you know of, or when the source changes)."""
        self._prev_grey: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None

    def __call__(self, frame_bgr: np.ndarray, stylized_bgr: np.ndarray) -> np.ndarray:
        """The stabilized version of `stylized_bgr` (the network's output for `frame_bgr`)."""
        h, w = stylized_bgr.shape[:2]
        if frame_bgr.shape[:2] != (h, w):
            frame_bgr = cv2.resize(frame_bgr, (w, h), interpolation=cv2.INTER_AREA)
        grey = _grey(frame_bgr)
        out = stylized_bgr
        if self._prev_out is not None and self._prev_out.shape == stylized_bgr.shape and self.strength > 0:
            out = self._blend(grey, stylized_bgr)
        # Own copies: the caller may draw on or reuse the arrays it passed or got back.
        if self._prev_out is None or self._prev_out.shape != out.shape:
            self._prev_out = out.copy()
        else:
            np.copyto(self._prev_out, out)
        self._prev_grey = grey
        return out

    def _blend(self, grey: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        flow, valid = self._flow._estimate(self._prev_grey, grey, max_change=self._level)
        if cv2.countNonZero(valid) < (1 - self.cut_fraction) * valid.size:
            return stylized  # scene cut (or motion too wild to follow)
        if self._feather:
            valid = cv2.blur(cv2.erode(valid, self._kernel), self._kernel.shape)
        weight = valid.astype(np.float32)
        weight *= np.float32(self.strength / 255)
        return cv2.blendLinear(stylized, _warp(self._prev_out, flow), 1 - weight, weight)
