"""Frames per second of the real hot path, and the work one frame costs.

    from rtstyle.bench import bench, format_report
    result = bench("mosaic", size=(640, 480), provider="cpu", threads=2, tier="fast", stabilize=True)
    print(format_report(result))

What is timed is exactly what `rtstyle webcam` / `rtstyle video` do per frame: a uint8 BGR
H×W×3 frame goes into the same rtstyle.pipeline.Pipeline (working size, network, stabilizer,
upsampling, colour, strength, as the options say) and a uint8 frame comes out; the report lists
those stages and the network's own share. The frames rotate among a few pre-made random
textures, so no cache (CPU or GPU) sees the same frame twice in a row. FLOPs are counted from
the ONNX graph itself (every Conv at the network's concrete working size), so they stay true for
any model, bundled or exported.

No torch here (the run side must start fast); onnx is imported only to count FLOPs.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .errors import UserError
from .pipeline import Pipeline, open_network
from .stylizer import Stylizer, format_placement, placement_warning

DEFAULT_SIZE = (640, 480)
N_TEXTURES = 4  # frames rotated through while timing


# ---------------------------------------------------------------- frames and timing


def texture_frames(width: int, height: int, count: int = N_TEXTURES, seed: int = 0) -> list[np.ndarray]:
    """`count` different uint8 BGR frames: coarse random blobs plus fine grain, like a photo's
    mix of flat areas and detail (pure noise or flat grey would both be unrepresentative)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        frame = np.zeros((height, width, 3), np.float32)
        for cell, weight in ((64, 0.5), (16, 0.3), (4, 0.2)):
            coarse = rng.random((-(-height // cell), -(-width // cell), 3), dtype=np.float32)
            frame += weight * np.repeat(np.repeat(coarse, cell, 0), cell, 1)[:height, :width]
        frame += rng.normal(0.0, 0.04, frame.shape).astype(np.float32)
        frames.append(np.ascontiguousarray(np.clip(frame * 255.0, 0, 255).astype(np.uint8)))
    return frames


def time_calls(fn: Callable[[object], object], inputs: Sequence[object], frames: int, warmup: int = 5) -> list[float]:
    """Call `fn` on `inputs` in rotation, `warmup` untimed calls then `frames` timed ones;
    return each timed call's wall time in milliseconds."""
    if frames < 1:
        raise ValueError("frames must be at least 1")
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times = []
    for i in range(frames):
        x = inputs[(warmup + i) % len(inputs)]
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def latency_stats(times_ms: Sequence[float]) -> dict:
    t = np.asarray(times_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return {"p50": round(float(p50), 3), "p90": round(float(p90), 3), "p99": round(float(p99), 3), "mean": round(float(t.mean()), 3)}


# ---------------------------------------------------------------- FLOPs and parameters


def count_flops(onnx_path: str | os.PathLike, height: int, width: int) -> int:
    """FLOPs (2 × multiply-adds) of one frame of height × width through every Conv and
    ConvTranspose of the model (batch 1). Other ops (norms, activations, resizes) are cheap
    next to the convolutions and are not counted.

    The input's batch and spatial sizes are fixed, the shape arithmetic that sizes paddings
    is folded into constants, and onnx shape inference then gives every Conv's output size.
    Works for NHWC (rtstyle) and NCHW inputs: the channel axis is the one of size 3.
    """
    path = Path(onnx_path)
    stat = path.stat()
    return _count_flops_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, int(height), int(width))


@functools.lru_cache(maxsize=64)
def _count_flops_cached(path: str, _mtime: int, _size: int, height: int, width: int) -> int:
    import onnx

    from .onnxgraph import fold_constants, inferred_shapes

    model = onnx.load(path)
    _fix_input_shapes(model, height, width)
    model, known = fold_constants(model)
    shapes = inferred_shapes(model)
    total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        # the weight's shape: a constant's, or inferred (a quantized model dequantizes it)
        weight = known[node.input[1]].shape if node.input[1] in known else shapes.get(node.input[1])
        if not weight or any(d is None for d in weight):
            raise ValueError(f"{node.op_type} {node.name!r}: weight shape unknown")
        kernel = int(np.prod(weight[2:]))
        if node.op_type == "Conv":
            out = shapes.get(node.output[0])
            if not out or any(d is None for d in out):
                raise ValueError(f"Conv {node.name!r}: output shape unknown at {width}x{height}")
            # weight: Cout × Cin/group × kH × kW; each of the N × Cout × spatial outputs
            # is Cin/group × kH × kW multiply-adds.
            total += 2 * weight[1] * kernel * int(np.prod(out))
        else:
            inp = shapes.get(node.input[0])
            if not inp or any(d is None for d in inp):
                raise ValueError(f"ConvTranspose {node.name!r}: input shape unknown at {width}x{height}")
            # weight: Cin × Cout/group × kH × kW; every input pixel scatters into Cout/group × k.
            total += 2 * weight[1] * kernel * int(np.prod(inp))
    return int(total)


def count_params(onnx_path: str | os.PathLike) -> int:
    """Number of weights: the element count of every initializer (for an int8 model that
    includes its per-channel scales and zero points)."""
    path = Path(onnx_path)
    stat = path.stat()
    return _count_params_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _count_params_cached(path: str, _mtime: int, _size: int) -> int:
    import onnx

    model = onnx.load(path)
    return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer))


def _fix_input_shapes(model, height: int, width: int) -> None:
    """Batch 1 and the given frame size on every 4-D graph input (NHWC or NCHW)."""
    initializers = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) != 4:
            continue
        channels_last = dims[3].HasField("dim_value") and dims[3].dim_value == 3
        spatial = (1, 2) if channels_last else (2, 3)
        dims[0].dim_value = 1
        dims[spatial[0]].dim_value = height
        dims[spatial[1]].dim_value = width


# ---------------------------------------------------------------- the benchmark


def bench(
    model: str | os.PathLike | Stylizer | Pipeline = "mosaic",
    size: tuple[int, int] | None = DEFAULT_SIZE,
    provider: str = "auto",
    frames: int = 50,
    threads: int | None = None,
    warmup: int = 5,
    tier: str = "quality",
    **options: Any,
) -> dict:
    """Time `frames` frames of `size` (width, height) through a Pipeline; return a JSON-able dict.

    `model` is a bundled name, an .onnx path, an opened Stylizer or a Pipeline (then `provider`,
    `threads` and `tier` are its own, and `load_s` is None); `options` are the Pipeline's other
    keyword options (strength, stroke_scale, max_side, stabilize, ...). fps is 1000 / median
    latency of the whole pipeline; `network_ms` is the network's own share of each frame.
    """
    width, height = size or DEFAULT_SIZE
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {width}x{height}")
    if frames < 1:
        raise UserError(f"--frames must be at least 1, got {frames}")
    load_s = None
    inputs = texture_frames(width, height)
    if isinstance(model, Pipeline):
        pipeline = model
    elif isinstance(model, Stylizer):
        pipeline = Pipeline(model, **options)
    else:
        start = time.perf_counter()
        network = open_network(model, provider, threads, tier, profile_nodes=True)
        pipeline = Pipeline(network, provider=provider, threads=threads, tier=tier, **options)
        load_s = round(time.perf_counter() - start, 3)
    stylizer = pipeline.stylizer
    work_w, work_h = pipeline.working_size(width, height)
    if load_s is not None:  # one profiled frame at the network's size (counts as warm-up)
        stylizer.node_placement(texture_frames(work_w, work_h, count=1)[0])
    network_s: list[float] = []
    untimed = pipeline.network

    def timed_network(frame: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = untimed(frame)
        network_s.append(time.perf_counter() - start)
        return out

    pipeline.network = timed_network
    try:
        times = time_calls(pipeline, inputs, frames, warmup)
    finally:
        pipeline.network = untimed
    latency = latency_stats(times)
    network = latency_stats([1000.0 * s for s in network_s[-frames:]]) if network_s else None
    try:
        flops = count_flops(stylizer.path, work_h, work_w)
    except Exception:  # a graph we cannot size: the timing still stands
        flops = None
    return {
        "model": stylizer.name,
        "path": str(stylizer.path),
        "tier": stylizer.tier,
        "size": f"{width}x{height}",
        "network_size": f"{work_w}x{work_h}",
        "stages": pipeline.stages(width, height),
        "controls": pipeline.describe(),
        "provider": stylizer.provider,
        "fallback": stylizer.fallback,
        "placement": stylizer.placement,
        "placement_warning": placement_warning(stylizer.placement, stylizer.providers) if stylizer.placement else None,
        "io_binding": stylizer.io_binding,
        "frames": frames,
        "fps": round(1000.0 / latency["p50"], 2) if latency["p50"] > 0 else None,
        "latency_ms": latency,
        "network_ms": network,
        "flops": flops,
        "params": count_params(stylizer.path),
        "threads": threads if load_s is not None else _session_threads(stylizer),
        "load_s": load_s,
    }


def _session_threads(stylizer: Stylizer) -> int | None:
    n = stylizer.session.get_session_options().intra_op_num_threads
    return n or None


def format_report(result: dict) -> str:
    """The human-readable version of `bench`'s dict."""
    lat = result["latency_ms"]
    threads = result.get("threads") or "default"
    lines = [
        f"{result['model']} ({result['tier']} tier) at {result['size']} on {result['provider']}, threads: {threads}",
        f"  stages timed: {', '.join(result['stages'])}",
        f"  {result['fps']:.1f} fps (median of {result['frames']} frames through the whole pipeline)",
        f"  latency ms: p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  mean {lat['mean']:.1f}",
    ]
    network = result.get("network_ms")
    if network:
        lines.append(f"  of which the network: p50 {network['p50']:.1f} ms at {result['network_size']}")
    flops = f"{result['flops'] / 1e9:.2f} GFLOPs per frame at {result['network_size']}" if result.get("flops") is not None else "FLOPs: n/a"
    lines.append(f"  {flops}, {result['params'] / 1e6:.2f} M parameters")
    if result.get("placement"):
        lines.append(f"  nodes ran on: {format_placement(result['placement'])} (onnxruntime profiler)")
    if result.get("placement_warning"):
        lines.append(f"  warning: {result['placement_warning']}")
    if result.get("fallback"):
        lines.append(f"  fallback: {result['fallback']}")
    return "\n".join(lines)
