"""`rtstyle batch`: stylize folders of images and videos on Ray, one task per file."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UserError
from .app import app
from .common import CONTROLS, NETWORK, STABILIZER, check_model_or_style, pipeline_options, say


@app.command()
@pipeline_options(NETWORK, CONTROLS, STABILIZER)
def batch(
    inputs: List[Path] = typer.Argument(..., help="Images, videos and folders of them (searched recursively)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: the inputs' names (a folder's files keep their paths in it)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Files stylized at once (default: one per GPU, or one per 4 CPU cores, at least 2); CPU cores are shared evenly."),
    address: Optional[str] = typer.Option(None, "--address", help="Join this Ray cluster (e.g. auto, or ray://head:10001) instead of starting Ray on this machine."),
    listen_on_network: bool = typer.Option(False, "--listen-on-network", help="The Ray started on this machine listens on its network address (other machines can join it), with Ray's token authentication; default: loopback only."),
    options: dict = None,
) -> None:
    """Stylize many images and videos on Ray, as `rtstyle image` and `rtstyle video` would; a rerun skips the files already done."""
    from ..batch import run_batch

    try:
        check_model_or_style(options["model"], options["style"])
        network = {name: options.pop(name) for name in ("model", "provider", "threads")}  # threads: per worker
        report = run_batch(inputs, output, **network, workers=workers, address=address, listen_on_network=listen_on_network, options=options)
    except KeyboardInterrupt:
        say("interrupted: finished files are in place; the same command goes on with the rest")
        raise
    if not report.results:
        say(f"nothing to do: all {report.jobs} outputs exist in {output} (delete one to redo it)")
        return
    for failure in report.failed:
        say(f"failed: {failure.job.input}: {failure.error}")
    gpus = f", {report.gpus_per_worker:g} GPU each" if report.gpus_per_worker else ""
    on = f" on {', '.join(report.providers)}" if report.providers else ""
    say(
        f"done {len(report.done)}, skipped {report.skipped} (output exists), failed {len(report.failed)}: "
        f"{report.frames} frames in {report.seconds:.1f} s, {report.fps:.1f} fps overall "
        f"({report.workers} workers x {report.threads} threads{gpus}{on}; Ray ready in {report.startup_s:.1f} s)"
    )
    if report.failed:
        raise UserError(f"{len(report.failed)} of {report.jobs} files failed (listed above); fix or remove them and rerun: the others are skipped")
