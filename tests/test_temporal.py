"""Flicker metric and stabilizer on synthetic clips (no real video, no network)."""

import av
import cv2
import numpy as np
import pytest

from rtstyle.errors import UserError
from rtstyle.temporal import FlowEstimator, Stabilizer, flicker_report, warping_error

H, W = 120, 160
SHIFT = (3, 2)  # content motion per frame, (x, y) pixels


def texture(h: int, w: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    """Smoothed colour noise stretched to the full 0-255 range: easy to track, BGR uint8."""
    noise = np.random.default_rng(seed).uniform(0, 255, (h, w, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def shifted_clip(n: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Windows of a bigger canvas whose content moves by SHIFT pixels per frame."""
    dx, dy = SHIFT
    canvas = texture(H + n * dy + 10, W + n * dx + 10, seed)
    x0, y0 = n * dx, n * dy
    return [canvas[y0 - t * dy: y0 - t * dy + H, x0 - t * dx: x0 - t * dx + W].copy() for t in range(n)]


def add_noise(frames: list[np.ndarray], sigma: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma * 255, f.shape), 0, 255).astype(np.uint8) for f in frames]


def stabilize(frames: list[np.ndarray], stylized: list[np.ndarray], **kwargs) -> list[np.ndarray]:
    stabilizer = Stabilizer(**kwargs)
    return [stabilizer(f, s) for f, s in zip(frames, stylized)]


def test_static_scene_has_no_error_and_is_left_alone():
    frames = [texture(H, W, 1)] * 5
    stylized = [texture(H, W, 2)] * 5
    result = warping_error(frames, stylized)
    assert result["pairs"] == 4 and len(result["per_pair"]) == 4
    assert result["error"] < 1e-6
    for out, s in zip(stabilize(frames, stylized), stylized):
        assert np.array_equal(out, s)


def test_flow_recovers_a_pure_shift():
    f0, f1 = shifted_clip(2)
    expected = -np.array(SHIFT, np.float32)  # cur(x) = prev(x - shift)
    for estimator in (FlowEstimator(), FlowEstimator(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, scale=0.5)):
        flow, valid = estimator.backward_flow_and_mask(f0, f1)
        assert flow.shape == (H, W, 2) and flow.dtype == np.float32
        assert valid.shape == (H, W) and valid.dtype == bool
        assert valid.mean() > 0.8
        assert not valid[:, :2].any()  # warped in from outside the frame
        assert np.all(np.abs(np.median(flow[valid], axis=0) - expected) < 0.5)


def test_warping_error_is_small_for_a_steady_clip_and_large_for_random_outputs():
    frames = shifted_clip()
    steady = warping_error(frames, frames)["error"]
    random = warping_error(frames, [texture(H, W, 100 + t) for t in range(len(frames))])["error"]
    assert steady < 0.002
    assert random > 10 * steady and random > 0.01


def test_stabilizer_reduces_flicker():
    frames = shifted_clip(8)
    flickering = add_noise(frames, 0.05, seed=3)
    before = warping_error(frames, flickering)["error"]
    after = warping_error(frames, stabilize(frames, flickering))["error"]
    assert after < 0.6 * before


def test_moving_square_leaves_no_ghost():
    background = texture(H, W, 4, sigma=4.0)
    frames = []
    for t in range(6):
        frame = background.copy()
        frame[40:70, 20 + 8 * t: 50 + 8 * t] = (40, 220, 250)
        frames.append(frame)
    stylized = [cv2.applyColorMap(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLORMAP_JET) for f in frames]
    outputs = stabilize(frames, stylized)
    for t in range(1, len(frames)):
        vacated = np.zeros((H, W), bool)
        vacated[40:70, 20 + 8 * (t - 1): 20 + 8 * t] = True  # under the square before, background now
        ghost = np.abs(stylized[t - 1].astype(int) - stylized[t])[vacated].mean()  # about 170 levels
        diff = np.abs(outputs[t].astype(int) - stylized[t])
        assert diff[vacated].mean() < 1 and diff[vacated].max() < 0.15 * ghost
        square = diff[40:70, 20 + 8 * t: 50 + 8 * t]  # the square itself stays crisp
        assert square.mean() < 1 and square.max() < 0.15 * ghost


def test_scene_cut_passes_through():
    frames = [texture(H, W, 5), texture(H, W, 6)]
    stylized = add_noise(frames, 0.05, seed=7)
    outputs = stabilize(frames, stylized)
    assert all(np.array_equal(o, s) for o, s in zip(outputs, stylized))


def write_video(path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())


def test_flicker_report_on_videos(tmp_path):
    frames = shifted_clip(5)
    write_video(tmp_path / "in.mp4", frames)
    # Brightness flicker: it survives the encoder, unlike fine noise.
    flickering = [cv2.add(f, (25, 25, 25, 0)) if t % 2 else f for t, f in enumerate(frames)]
    write_video(tmp_path / "out.mp4", flickering)
    report = flicker_report(tmp_path / "in.mp4", tmp_path / "out.mp4")
    assert report["clip"] == "in.mp4" and report["pairs"] == 4
    assert report["warping_error"] > 5 * report["input_floor"]
    same = flicker_report(tmp_path / "in.mp4", tmp_path / "in.mp4")
    assert same["warping_error"] == pytest.approx(same["input_floor"])


def test_flicker_report_rejects_bad_videos(tmp_path):
    frames = shifted_clip(5)
    write_video(tmp_path / "in.mp4", frames)
    write_video(tmp_path / "short.mp4", frames[:4])
    write_video(tmp_path / "wide.mp4", [cv2.resize(f, (W + 16, H)) for f in frames])
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(9).bytes(4096))
    cases = {
        "short.mp4": r"frame count mismatch: in\.mp4 has 5 frames, short\.mp4 has 4",
        "wide.mp4": r"frame size mismatch: in\.mp4 is 160×120, wide\.mp4 is 176×120",
        "missing.mp4": "no such video file",
        "junk.mp4": "cannot (open|decode) video",
    }
    for name, message in cases.items():
        with pytest.raises(UserError, match=message):
            flicker_report(tmp_path / "in.mp4", tmp_path / name)
