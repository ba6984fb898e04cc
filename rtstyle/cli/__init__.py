"""The `rtstyle` command line, one module per command: each parses options, calls the library, reports.

Only typer is imported at start-up; each command imports what it needs, so the run side
(image, video, webcam, bench, info) never loads torch and starts in well under a second.
"""

# Importing a command module registers it; this order is the order of `rtstyle --help`.
from . import image, video, webcam, sheet, export, info, train, train_any, learn, evaluate, still, bench, flicker, batch  # noqa: F401, I001
from .app import app, main

__all__ = ["app", "main"]
