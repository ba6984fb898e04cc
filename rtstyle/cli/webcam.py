"""`rtstyle webcam`: the live loop."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from .app import app
from .common import CONTROLS, PAINTING, STABILIZER, ProviderOpt, check_model_or_style, ThreadsOpt, build_pipeline, parse_size, pipeline_options, say


@app.command()
@pipeline_options(PAINTING, CONTROLS, STABILIZER)
def webcam(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Bundled model name or path to an .onnx file (default mosaic; or --style PAINTING, or a folder of paintings)."),
    source: str = typer.Option("0", "--source", help="Camera index, or a video file played as if it were a camera."),
    size: Optional[str] = typer.Option(None, "--size", help="Capture size WxH to ask the camera for, e.g. 1280x720 (it says what it granted)."),
    fps: Optional[float] = typer.Option(None, "--fps", min=1, help="Frame rate to ask the camera for."),
    mirror: Optional[bool] = typer.Option(None, "--mirror/--no-mirror", help="Selfie view in the window (default: on for cameras, off for files; key m). The recording is not mirrored.", show_default=False),
    provider: str = ProviderOpt,
    threads: Optional[int] = ThreadsOpt,
    tier: str = typer.Option("auto", "--tier", help="For bundled names: auto (fast tier on CPU, quality tier on GPU), fast or quality."),
    record: Optional[Path] = typer.Option(None, "--record", help="Also record the stylized stream to this .mp4."),
    headless: bool = typer.Option(False, "--headless", help="No window (servers, tests)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many frames."),
    virtual_camera: bool = typer.Option(False, "--virtual-camera", help="Also send the stylized stream to a virtual webcam for video calls and OBS (pip install 'rtstyle[virtualcam]'; v4l2loopback on Linux, OBS on Windows/macOS)."),
    virtual_camera_device: Optional[str] = typer.Option(None, "--virtual-camera-device", help="Which virtual camera, e.g. /dev/video4 (default: the first free one)."),
    options: dict = None,
) -> None:
    """The live loop. Keys: n/p next/previous style, v side by side, +/- strength, c colour,
    ]/[ stroke size, m mirror, s snapshot, h the list on screen, q or Esc quit."""
    from ..capture import LiveConfig, run_live
    from ..pipeline import open_network
    from ..registry import FAST_SUFFIX, bundled_models, bundled_styles

    if tier not in ("auto", "fast", "quality"):
        raise UserError(f"--tier must be auto, fast or quality, got {tier!r}")
    if record:
        from ..outputs import check_output
        from ..videoio import check_video_output

        check_output(check_video_output(record))  # before the camera opens
    live_config = LiveConfig(
        source=int(source) if source.isdigit() else source,
        size=parse_size(size), fps=fps, record=record, headless=headless, max_frames=max_frames,
        mirror=mirror,
        virtual_camera=virtual_camera, virtual_camera_device=virtual_camera_device,
    )
    if options["style"]:
        return live_paintings(model, provider, threads, options, live_config)
    model = model or "mosaic"
    network = model
    if tier == "auto" and Path(model).is_file():
        tier = "quality"  # an explicit file is used as given
    elif tier == "auto":
        # The provider decides the tier: probe with the quality model, which always exists.
        probe = open_network(model, provider, threads)
        tier = "quality" if probe.provider != "CPUExecutionProvider" else "fast"
        if tier == "fast" and f"{probe.name}{FAST_SUFFIX}" not in bundled_models():
            say(f"running on {probe.provider}: no fast tier is bundled for {probe.name}, using the quality tier (expect a few FPS on a CPU)")
            tier = "quality"
        else:
            say(f"running on {probe.provider}: using the {tier} tier (--tier to choose)")
        network = probe if tier == "quality" else model
    pipeline = build_pipeline(network, provider, threads, tier, **options)

    styles = bundled_styles()
    name = Path(model).name.removesuffix(".onnx").removesuffix("-fast")
    models = styles if name in styles and not Path(model).is_file() else [model]
    report(run_live(live_config, pipeline, models, start_index=models.index(name) if name in models else 0, on_status=say))


def live_paintings(model, provider: str, threads: Optional[int], options: dict, config) -> None:
    """The live loop on the any-painting network: n/p step through the paintings (a folder's
    too); two painting files given alone are blended, and '<' / '>' move the blend."""
    from dataclasses import replace

    from ..anystyle import painting_paths
    from ..capture import run_live

    check_model_or_style(model, options["style"], folders=True)
    paths = painting_paths(options["style"])
    blend = len(options["style"]) == 2 and len(paths) == 2
    weights = options.pop("style_weights")
    weights = weights if blend else None
    options["style"] = paths if blend else [paths[0]]
    pipeline = build_pipeline(None, provider, threads, style_weights=weights, **options)
    second = 0.5 if not weights else weights[1] / sum(weights)
    report(run_live(replace(config, blend=second if blend else None), pipeline, [str(p) for p in paths], on_status=say))


def report(stats) -> None:
    say(
        f"{stats.frames} frames shown, {stats.dropped} dropped, {stats.fps:.1f} fps; median per frame: "
        f"capture {stats.capture_ms:.1f} ms, inference {stats.inference_ms:.1f} ms, display/write {stats.display_ms:.1f} ms"
    )
