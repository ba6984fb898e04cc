"""`rtstyle train`: train a style network, from options or from a recipe file.

The options are built from `TrainConfig`'s fields (`rtstyle/trainconfig.py`): each field is one
option with its default and help, so the command line cannot drift from the library.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Optional

import typer

from ..trainconfig import PATH_FIELDS, TrainConfig, field_types, list_item_type
from .app import app
from .common import say


def config_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per `TrainConfig` field: `--field-name`, its default and help; a
    tuple field is a comma-separated string."""
    types = field_types()
    params = []
    for f in fields(TrainConfig):
        kind = types[f.name]
        if list_item_type(kind) is not None:
            kind = Optional[str]
        elif type(None) in typing.get_args(kind):  # `int | None`: typer reads typing.Optional
            kind = Optional[next(a for a in typing.get_args(kind) if a is not type(None))]
        flags = ("--" + f.name.replace("_", "-"), *f.metadata["flags"])
        option = typer.Option(... if f.default is MISSING else f.default, *flags, help=f.metadata["help"])
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind))
    return params


def train(
    ctx: typer.Context,
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="A recipe file (export/recipes/NAME.json): its stages in turn, each from the one before; options given here apply to every stage."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint at --output (with --recipe: skip the finished stages)."),
    **options: Any,
) -> None:
    """Train a fast style network with a VGG19 perceptual loss, or distill one from a trained model."""
    from ..extras import require_training_side

    require_training_side("train")
    from ..distributed import Ranks
    from ..train import train as run
    from ..trainconfig import from_options, load_recipe, parse_options, stage_configs

    if recipe is None:
        configs, notes = [from_options(options)], [""]
    else:
        stages = load_recipe(recipe)
        given = {k: v for k, v in options.items() if k not in PATH_FIELDS and ctx.get_parameter_source(k).name == "COMMANDLINE"}
        configs = stage_configs(stages, options["style"], options["data"], options["output"], parse_options(given))
        notes = [f"stage {k}/{len(configs)} of {recipe}: {stage.get('note', '')}" for k, stage in enumerate(stages.stages, 1)]
    for config, note in zip(configs, notes):
        if note:
            say(note)
        path = run(config, resume=resume, log=lambda m, **_: say(m))
    if not Ranks.from_env().rank:  # in a torchrun job, rank 0 reports
        say(f"wrote {path}; export it with: rtstyle export {path} -o {path.with_suffix('.onnx')}")


_ctx, *_own, _ = inspect.signature(train).parameters.values()
train.__signature__ = inspect.Signature([_ctx, *config_parameters(), *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in _own)])
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}
app.command()(train)
