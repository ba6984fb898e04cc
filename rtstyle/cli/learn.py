"""`rtstyle learn`: a fast network for one painting, in minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app
from .common import say


@app.command()
def learn(
    painting: Path = typer.Argument(..., help="The painting (any image file)."),
    output: Path = typer.Option(..., "--output", "-o", help="The .onnx model to write (use it with -m everywhere)."),
    photos: Optional[Path] = typer.Option(None, "--photos", help="A folder of your photos, or a video, to learn on (default: four public-domain photos that ship with rtstyle)."),
    minutes: float = typer.Option(5.0, "--minutes", min=0.01, help="Training time; setup and export add about a minute on 2 CPU cores."),
    resume: bool = typer.Option(False, "--resume", help="Go on from the state a stopped run left beside the output (OUTPUT.learn.pt)."),
    checkpoint_every: float = typer.Option(30.0, "--checkpoint-every", min=0.0, help="Seconds between two saves of that state (what a killed run resumes from)."),
) -> None:
    """Make a fast network for one painting: starts from the any-painting network (what --style paints) and fine-tunes it for this painting."""
    from ..extras import require_training_side

    require_training_side("learn")
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..learn import LearnConfig, learn as run

    config = LearnConfig(painting=str(painting), output=str(output), photos=str(photos) if photos else None, minutes=minutes,
                         checkpoint_seconds=checkpoint_every)
    with Progress(TextColumn("learn"), BarColumn(), TextColumn("{task.fields[status]}"), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("learn", total=minutes * 60, status="")

        def progress(done: float, total: float, step: int, loss: float) -> None:
            bar.update(task, completed=done, status=f"step {step} loss {loss:.3f}")

        try:
            card = run(config, resume=resume, log=say, progress=progress)
        except KeyboardInterrupt:
            say(f"stopped: the best weights so far are in {output}; `--resume` goes on")
            raise
    say(f"wrote {output}: {card['steps']} steps in {card['minutes']:.1f} min (best at step {card['best_step']}); "
        f"use it with: rtstyle webcam -m {output}")
