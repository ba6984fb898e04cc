"""How much of a model's style survives the trip to a bigger frame, by sharpening amount.

    .venv/bin/python bench/sharpen.py udnie-fast --style styles/udnie.jpg --images held_out/
    .venv/bin/python bench/sharpen.py shipwreck-fast --style styles/shipwreck.jpg --images held_out/ \
        --size 1080 --amounts 0,0.5,0.6,0.7

Each photo is stylized at 512 px (the network's own size, no resampling) and at `--size` with
the default controls (the network at 512 px, `guided_upsample` with each `sharpen` amount),
and measured at 512 px as `rtstyle evaluate` does. Prints the means of style_rel,
style_rel_layers, palette_rel and content_rel, and each size's style_rel over the 512-px one
(issue 18's bar: within 1.25x at about twice the size).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rtstyle import controls
from rtstyle.evaluate import evaluate, summarize
from rtstyle.imageio import list_images
from rtstyle.stylizer import Stylizer

MEASURES = ("style_rel", "style_rel_layers", "palette_rel", "content_rel")


def means(stylize_bgr, style: str, photos: list[Path], size: int) -> list[float]:
    """`rtstyle evaluate`'s means for a BGR frame function, the photos at `size` px."""
    rgb = lambda photo: np.ascontiguousarray(stylize_bgr(np.ascontiguousarray(photo[..., ::-1]))[..., ::-1])
    summary = summarize(evaluate(rgb, style, photos, size=size))
    return [summary[f"{key}_mean"] for key in MEASURES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="bundled model name or .onnx path")
    parser.add_argument("--style", required=True, help="the style image the model was trained on")
    parser.add_argument("--images", required=True, help="a folder of held-out photos")
    parser.add_argument("--size", type=int, default=1080, help="longer side of the big frame")
    parser.add_argument("--amounts", default="0,0.5,0.6,0.7", help="sharpening amounts, comma separated")
    parser.add_argument("--limit", type=int, default=12)
    args = parser.parse_args()

    stylizer = Stylizer(args.model, provider="cpu")
    photos = list_images(args.images)[: args.limit]
    base = means(stylizer, args.style, photos, 512)
    print(f"{Path(args.model).stem} on {len(photos)} photos: style_rel / style_rel_layers / palette_rel / content_rel")
    print(f"512 px (no resampling)      {base[0]:.3f} / {base[1]:.3f} / {base[2]:.3f} / {base[3]:.2f}")
    upsample = controls.guided_upsample
    try:
        for amount in (float(a) for a in args.amounts.split(",")):
            controls.guided_upsample = lambda s, sm, f, a=amount: upsample(s, sm, f, sharpen=a)
            m = means(controls.FrameControls().wrap(stylizer), args.style, photos, args.size)
            print(f"{args.size} px, sharpen {amount:<4g}     {m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f} / {m[3]:.2f}   {m[0] / base[0]:.2f}x")
    finally:
        controls.guided_upsample = upsample


if __name__ == "__main__":
    main()
