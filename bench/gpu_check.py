"""The first run on an NVIDIA GPU: does TensorRT (and CUDA) really run every bundled model?

    python bench/gpu_check.py                         # all bundled models, TensorRT and CUDA
    python bench/gpu_check.py --models mosaic candy-fast --json runs/gpu.json
    python bench/gpu_check.py --providers cpu --models mosaic-fast   # dry run of the same code on a CPU

For each model and provider it checks, and prints one table (JSON with every number too):
  * start: the session is created and onnxruntime printed no "EP Error" (its Python layer
    prints one and silently retries on fewer providers when TensorRT fails), and the session's
    first provider is the one asked for;
  * nodes: where one frame's nodes ran, from onnxruntime's profiler. TensorRT passes with the
    whole graph in one TensorRT subgraph and no CPU node; CUDA passes with no Conv or instance
    norm on the CPU (onnxruntime keeps small shape arithmetic on the CPU on purpose);
  * first frames: the two frames that fix the TensorRT engine's shape range (a batch of 2 at
    the largest size, then the smallest frame), so no later frame rebuilds it;
  * accuracy: output against the CPU provider in fp32 at 37x53, 640x480, 1280x720 and a batch
    of 2, on photo-like textures: the 99.9th percentile of the difference within 3/255 (TF32,
    on by default in TensorRT's builder and the CUDA provider, moves a few pixels further;
    the maximum is reported), and the output not flat (its standard deviation above 4);
  * FPS at 640x480, 1280x720 and 1920x1080, through the IO binding the Stylizer uses on a
    GPU (device buffers allocated once per shape) and through plain `session.run()`;
  * restart: a second Stylizer of the same model, created and run on the same two shapes,
    must load the cached engine (seconds, and an engine file keyed by the model's bytes).
Budget: under 5 minutes on one GPU; `--budget-s` (default 280) skips the models left when it
runs out, and says so. Without an NVIDIA GPU it says so in one line and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtstyle import gpuenv
from rtstyle.bench import latency_stats, texture_frames, time_calls
from rtstyle.errors import UserError
from rtstyle.registry import bundled_models, resolve_model
from rtstyle.stylizer import PROVIDER_NAMES, Stylizer, engine_cache_dir, format_placement, gpu_present, model_key

CHECK_SHAPES = [(1, 53, 37), (1, 640, 480), (1, 1280, 720), (2, 320, 240)]  # (batch, width, height)
FPS_SIZES = [(640, 480), (1280, 720), (1920, 1080)]
TOLERANCE = 3  # in 1/255 steps, on the 99.9th percentile of |GPU - CPU|
MIN_STD = 4.0  # a stylized texture is not flat
SHAPE_OPS = {"Shape", "Gather", "Slice", "Mod", "Sub", "Add", "Max", "Concat", "Unsqueeze", "Squeeze", "Cast", "Div", "Mul", "MemcpyToHost", "MemcpyFromHost"}


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def frames_for(batch: int, width: int, height: int, seed: int) -> np.ndarray:
    return np.stack(texture_frames(width, height, count=batch, seed=seed))


def preflight(providers: list[str]) -> str | None:
    """One line saying why this machine cannot check GPUs, or None when it can."""
    if providers == ["cpu"]:
        return None
    conflict = gpuenv.conflicting_onnxruntimes()
    if conflict:
        return f"gpu_check: {conflict}"
    available = ort.get_available_providers()
    absent = [p for p in providers if PROVIDER_NAMES[p] not in available]
    if absent:
        return f"gpu_check: this onnxruntime ({gpuenv.onnxruntime_build()['package']} {ort.__version__}) has no {', '.join(absent)} provider; install onnxruntime-gpu"
    if not gpu_present():
        return f"gpu_check: cannot test GPUs here: no NVIDIA driver (no /dev/nvidiactl); {gpuenv.gpu_libraries_line()}"
    missing = {p: gpuenv.missing_libraries(p) for p in providers}
    if any(missing.values()):
        return f"gpu_check: cannot test GPUs here: {gpuenv.gpu_libraries_line()}"
    return None


def start(model: Path, provider: str, profile: bool) -> tuple[Stylizer | None, float, str | None]:
    """A Stylizer on `provider` (IO binding on, as on a GPU), its creation time, and why it
    failed (None when it did not)."""
    t0 = time.perf_counter()
    try:
        stylizer = Stylizer(model, provider=provider, profile_nodes=profile, io_binding=True)
    except UserError as e:
        return None, time.perf_counter() - t0, str(e)
    seconds = round(time.perf_counter() - t0, 2)
    if stylizer.ep_error:
        return stylizer, seconds, stylizer.ep_error
    if stylizer.provider != PROVIDER_NAMES[provider]:
        return stylizer, seconds, stylizer.fallback or f"runs on {stylizer.provider}"
    return stylizer, seconds, None


def range_corners(check_shapes, fps_sizes) -> tuple[np.ndarray, np.ndarray]:
    """The largest batch at the largest size, and the smallest frame: run first, they fix the
    TensorRT engine's shape range (onnxruntime widens it, and rebuilds, on a frame outside)."""
    sizes = [(w, h) for _, w, h in check_shapes] + list(fps_sizes)
    batch = max(n for n, _, _ in check_shapes)
    width, height = max(w for w, _ in sizes), max(h for _, h in sizes)
    small_w, small_h = min(w for w, _ in sizes), min(h for _, h in sizes)
    return frames_for(batch, width, height, seed=7), frames_for(1, small_w, small_h, seed=8)


def placement_ok(provider: str, placement: dict) -> bool:
    counts = placement["counts"]
    cpu = counts.get(PROVIDER_NAMES["cpu"], 0)
    if provider == "tensorrt":
        return counts.get(PROVIDER_NAMES["tensorrt"], 0) == 1 and cpu == 0 and not counts.get(PROVIDER_NAMES["cuda"])
    if provider == "cuda":
        return set(placement["cpu_ops"]) <= SHAPE_OPS
    return cpu > 0


def compare(got: np.ndarray, want: np.ndarray) -> dict:
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    return {
        "max": int(diff.max()),
        "p999": float(np.percentile(diff, 99.9)),
        "mean": round(float(diff.mean()), 4),
        "std": round(float(got.std()), 2),
    }


def fps(fn, inputs, frames: int) -> float:
    latency = latency_stats(time_calls(fn, inputs, frames, warmup=3))
    return round(1000.0 / latency["p50"], 1) if latency["p50"] > 0 else float("inf")


def check_one(model: Path, provider: str, references: dict, args) -> dict:
    row: dict = {"model": model.stem, "provider": provider, "failures": []}
    stylizer, row["start_s"], error = start(model, provider, profile=True)
    if error:  # not on the provider asked for: the other checks would only time a fallback
        row["failures"].append(f"start: {error}")
        return row
    row["session_providers"] = stylizer.providers
    corner_max, corner_min = range_corners(args.check_shapes, args.fps_sizes)
    t0 = time.perf_counter()
    placement = stylizer.node_placement(corner_max)
    stylizer(corner_min)
    row["first_frames_s"] = round(time.perf_counter() - t0, 2)
    row["placement"] = placement
    row["nodes"] = format_placement(placement)
    if not placement_ok(provider, placement):
        row["failures"].append(f"nodes: {row['nodes']} (CPU ops: {', '.join(placement['cpu_ops']) or 'none'})")

    row["accuracy"] = {}
    for shape in args.check_shapes:
        frame = frames_for(*shape, seed=shape[1])
        got = stylizer(frame)
        stats = compare(got, references[(model.stem, shape)])
        row["accuracy"][f"{shape[0]}x{shape[2]}x{shape[1]}"] = stats  # N x H x W
        if stats["p999"] > TOLERANCE or stats["std"] < MIN_STD:
            row["failures"].append(f"accuracy at batch {shape[0]} {shape[1]}x{shape[2]}: {stats}")

    row["fps"] = {}
    session, names = stylizer.session, (stylizer.output_name, stylizer.input_name)
    for width, height in args.fps_sizes:
        inputs = texture_frames(width, height)
        plain = lambda frame: session.run([names[0]], {names[1]: frame[None]})[0]  # noqa: E731
        row["fps"][f"{width}x{height}"] = {"io_binding": fps(stylizer, inputs, args.frames), "run": fps(plain, inputs, args.frames)}

    key = model_key(model)
    del stylizer, session
    t0 = time.perf_counter()
    again, _, error = start(model, provider, profile=False)
    if again is not None:
        again(corner_max)
        again(corner_min)
    row["restart_s"] = round(time.perf_counter() - t0, 2)
    if provider == "tensorrt":
        engines = sorted(p.name for p in engine_cache_dir().glob(f"{key}*.engine"))
        row["cached_engines"] = engines
        if not engines:
            row["failures"].append(f"restart: no engine file {key}*.engine in {engine_cache_dir()}")
        if row["restart_s"] > args.restart_limit_s:
            row["failures"].append(f"restart: {row['restart_s']} s (the cached engine was not reused?)")
    if error:
        row["failures"].append(f"restart: {error}")
    return row


def cpu_references(models: list[Path], shapes) -> dict:
    references = {}
    for model in models:
        cpu = Stylizer(model, provider="cpu")
        for shape in shapes:
            references[(model.stem, shape)] = cpu(frames_for(*shape, seed=shape[1]))
    return references


def format_table(rows: list[dict], fps_sizes) -> str:
    head = ["model", "provider", "start s", "first s", "nodes", "max diff (p99.9)", *[f"fps {w}x{h} bind/run" for w, h in fps_sizes], "restart s", "result"]
    lines = []
    for row in rows:
        acc = row.get("accuracy", {})
        diffs = " ".join(f"{a['max']}({a['p999']:.0f})" for a in acc.values()) or "-"
        fps_cells = [f"{row['fps'][f'{w}x{h}']['io_binding']}/{row['fps'][f'{w}x{h}']['run']}" if f"{w}x{h}" in row.get("fps", {}) else "-" for w, h in fps_sizes]
        result = "skipped" if row.get("skipped") else ("PASS" if not row["failures"] else "FAIL")
        lines.append([row["model"], row["provider"], f"{row.get('start_s', 0):.1f}", f"{row.get('first_frames_s', 0):.1f}", row.get("nodes", "-"), diffs, *fps_cells, f"{row.get('restart_s', 0):.1f}", result])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*map(str, line)) for line in lines]
    for row in rows:
        for failure in row["failures"]:
            out.append(f"FAIL {row['model']} {row['provider']}: {failure}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", help="bundled names or .onnx paths (default: every bundled model)")
    parser.add_argument("--providers", default="tensorrt,cuda", help="comma-separated: tensorrt,cuda (or cpu for a dry run)")
    parser.add_argument("--check-sizes", nargs="*", help="accuracy shapes as [Nx]WxH (default: 53x37 640x480 1280x720 2x320x240)")
    parser.add_argument("--fps-sizes", nargs="*", help="FPS sizes WxH (default: 640x480 1280x720 1920x1080)")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per FPS number")
    parser.add_argument("--budget-s", type=float, default=280.0, help="skip the models left after this many seconds")
    parser.add_argument("--restart-limit-s", type=float, default=20.0, help="a TensorRT restart slower than this did not reuse its engine")
    parser.add_argument("--json", default="gpu_check.json", help="where to write every number")
    args = parser.parse_args(argv)
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    if not providers or any(p not in PROVIDER_NAMES for p in providers):
        print(f"gpu_check: --providers takes tensorrt, cuda or cpu, got {args.providers!r}", file=sys.stderr)
        return 2
    reason = preflight(providers)
    if reason:
        print(reason, file=sys.stderr)
        return 1
    args.check_shapes = [tuple(int(v) for v in (s.split("x") if s.count("x") == 2 else ["1", *s.split("x")])) for s in args.check_sizes] if args.check_sizes else CHECK_SHAPES
    args.fps_sizes = [parse_size(s) for s in args.fps_sizes] if args.fps_sizes else FPS_SIZES
    models = [resolve_model(m) for m in (args.models or bundled_models())]

    began = time.perf_counter()
    references = cpu_references(models, args.check_shapes)
    rows = []
    for model in models:
        for provider in providers:
            if time.perf_counter() - began > args.budget_s:
                rows.append({"model": model.stem, "provider": provider, "failures": [], "skipped": True})
                continue
            rows.append(check_one(model, provider, references, args))
    report = {
        "machine": platform.node(),
        "onnxruntime": f"{ort.__version__} ({gpuenv.onnxruntime_build()['package']})",
        "gpu_libraries": gpuenv.gpu_libraries_line(),
        "seconds": round(time.perf_counter() - began, 1),
        "rows": rows,
    }
    print(format_table(rows, args.fps_sizes))
    skipped = sum(1 for r in rows if r.get("skipped"))
    print(f"{len(rows) - skipped} checks in {report['seconds']} s" + (f", {skipped} skipped (over --budget-s)" if skipped else ""))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.json}")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
