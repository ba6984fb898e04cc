"""Static int8 quantization of a fast-tier model, and how much it changes the output.

    .venv/bin/python export/quantize_fast.py models/mosaic-fast.onnx /work/shared/data/content
    .venv/bin/python export/quantize_fast.py models/mosaic-fast.onnx PHOTOS --output /tmp/m-int8.onnx

Recipe (onnxruntime.quantization.quantize_static):
  * QDQ format, per-channel int8 weights, uint8 activations;
  * only the convolutions are quantized (op_types_to_quantize=["Conv"]): the uint8 frame in /
    out conversion, the paddings, instance norm, resize and the pixel shuffle stay float, so
    the contract (uint8 BGR N×H×W×3 in and out) and the normalisation statistics are untouched;
  * activation ranges from `--frames` photos of the calibration folder (resized and centre
    cropped to `--size`), by percentile by default (MinMax is pulled about by single outliers).
Then the int8 model and the fp32 one stylize `--check` other photos from the same folder:
the report gives the mean and 99th-percentile absolute difference in 0-255 units and writes
a side-by-side (input | fp32 | int8) PNG for a look.

By default the int8 model is written next to the input as NAME-int8.onnx; a shipped model is
never overwritten (the script refuses an --output equal to its input).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

INPUT = "frame"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def load_frames(paths: list[Path], width: int, height: int) -> list[np.ndarray]:
    """Photos as uint8 BGR frames of width × height: resized to cover, then centre cropped."""
    frames = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            continue
        scale = max(width / img.shape[1], height / img.shape[0])
        img = cv2.resize(img, (max(width, round(img.shape[1] * scale)), max(height, round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        y, x = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
        frames.append(np.ascontiguousarray(img[y:y + height, x:x + width]))
    return frames


class FrameReader(CalibrationDataReader):
    def __init__(self, frames: list[np.ndarray]):
        self._it = iter([{INPUT: f[None]} for f in frames])

    def get_next(self):
        return next(self._it, None)


def quantize(model: Path, output: Path, frames: list[np.ndarray], method: str = "percentile") -> None:
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}
    extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = 99.99
    with tempfile.TemporaryDirectory() as tmp:
        # calibration writes an augmented copy of the model; keep it out of models/
        raw = Path(tmp) / "int8.onnx"
        quantize_static(
            str(model), str(raw), FrameReader(frames),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"], per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=methods[method], extra_options=extra,
        )
        q = onnx.load(str(raw))
    # keep the rtstyle metadata (the Stylizer checks rtstyle.format), say it is int8
    meta = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    meta["rtstyle.precision"] = "int8"
    meta["rtstyle.name"] = output.stem
    del q.metadata_props[:]
    for k, v in meta.items():
        q.metadata_props.add(key=k, value=v)
    onnx.save(q, str(output))


def compare(fp32: Path, int8: Path, frames: list[np.ndarray], image_out: Path | None) -> dict:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    a = ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(int8), opts, providers=["CPUExecutionProvider"])
    diffs = []
    first = None
    for f in frames:
        ya = a.run(None, {INPUT: f[None]})[0][0]
        yb = b.run(None, {INPUT: f[None]})[0][0]
        diffs.append(np.abs(ya.astype(np.int16) - yb.astype(np.int16)))
        if first is None:
            first = np.hstack([f, ya, yb])
    d = np.stack(diffs).astype(np.float64)
    mse = float((d ** 2).mean())
    if image_out is not None and first is not None:
        cv2.imwrite(str(image_out), first)
    return {
        "mean_abs_diff": round(float(d.mean()), 3),
        "p99_abs_diff": float(np.percentile(d, 99)),
        "max_abs_diff": int(d.max()),
        "psnr_db": round(10 * np.log10(255 ** 2 / mse), 2) if mse > 0 else None,
        "photos": len(frames),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("photos", type=Path, help="folder of calibration photos")
    ap.add_argument("--output", type=Path, help="default: NAME-int8.onnx next to the model")
    ap.add_argument("--frames", type=int, default=20, help="calibration photos")
    ap.add_argument("--check", type=int, default=10, help="other photos for the fp32/int8 comparison")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--method", choices=["percentile", "minmax", "entropy"], default="percentile")
    ap.add_argument("--image", type=Path, help="side-by-side PNG (input | fp32 | int8) of the first check photo")
    args = ap.parse_args(argv)

    output = args.output or args.model.with_name(f"{args.model.stem}-int8.onnx")
    if output.resolve() == args.model.resolve():
        sys.exit("refusing to overwrite the input model: give another --output")
    width, height = (int(v) for v in args.size.lower().split("x"))
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if len(photos) < args.frames + args.check:
        sys.exit(f"{args.photos} has {len(photos)} photos, {args.frames + args.check} needed")
    rng = np.random.default_rng(0)
    picked = [photos[i] for i in rng.choice(len(photos), args.frames + args.check, replace=False)]
    calib = load_frames(picked[:args.frames], width, height)
    check = load_frames(picked[args.frames:], width, height)

    start = time.perf_counter()
    quantize(args.model, output, calib, args.method)
    report = {"output": str(output), "method": args.method, "calibration_photos": len(calib), "quantize_s": round(time.perf_counter() - start, 1)}
    report.update(compare(args.model, output, check, args.image))
    report["size_bytes"] = output.stat().st_size
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
