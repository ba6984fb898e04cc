"""`rtstyle train`'s options are `TrainConfig`'s fields; recipes (export/recipes/NAME.json) are
the shipped models' training, read by `rtstyle train --recipe` and export/build_models.py."""

import json
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import torch
import typer

from rtstyle.cli import app
from rtstyle.errors import UserError
from rtstyle.trainconfig import TrainConfig, load_recipe, stage_configs

ROOT = Path(__file__).resolve().parent.parent
RTSTYLE = [sys.executable, "-m", "rtstyle.cli"]


def train_options() -> dict[str, object]:
    """`rtstyle train`'s options as click sees them: name → default."""
    command = typer.main.get_command(app).commands["train"]
    return {p.name: p.default for p in command.params}


def test_the_train_command_has_every_config_field_with_its_default():
    options = train_options()
    assert set(options) == {f.name for f in fields(TrainConfig)} | {"recipe", "resume"}
    for f in fields(TrainConfig):
        expected = None if f.default is MISSING else f.default  # required options have no default
        assert options[f.name] == expected, f.name
        assert f.metadata["help"], f"{f.name} has no --help line"


def test_the_options_are_built_from_the_fields():
    """The drift test the other way round: the options are built from the fields, not listed by hand."""
    from rtstyle.cli.train import config_parameters

    names = [p.name for p in config_parameters()]
    assert names == [f.name for f in fields(TrainConfig)]
    assert [p.default.default for p in config_parameters() if p.name == "style_weight"] == [TrainConfig.style_weight]


@pytest.mark.parametrize("recipe", sorted((ROOT / "export" / "recipes").glob("*.json")), ids=lambda p: p.stem)
def test_every_recipe_reads_and_names_its_model(recipe):
    read = load_recipe(recipe)
    assert read.model == recipe.stem and read.style and read.stages
    configs = stage_configs(read, "style.jpg", "photos", "out/model.pt")
    assert [c.output for c in configs][-1] == "out/model.pt"
    assert all(later.init == earlier.output for earlier, later in zip(configs, configs[1:]))


def test_every_bundled_style_model_has_a_recipe():
    from rtstyle.registry import bundled_models

    models = set(bundled_models())  # the style models of `rtstyle train` (not the any-painting network)
    recipes = {p.stem for p in (ROOT / "export" / "recipes").glob("*.json")}
    assert models <= recipes, f"bundled models without a recipe: {sorted(models - recipes)}"


def test_a_recipe_with_an_unknown_option_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"model": "bad", "style": "s.jpg", "stages": [{"options": {"style_wieght": 3}}]}))
    with pytest.raises(UserError, match="stage 1 has options rtstyle train does not know: style_wieght"):
        load_recipe(path)
    path.write_text("not json")
    with pytest.raises(UserError, match="is not a recipe"):
        load_recipe(path)


def test_train_from_a_two_stage_recipe_and_resume(photos, tmp_path):
    folder, style = photos
    recipe = tmp_path / "tiny.json"
    recipe.write_text(json.dumps({"model": "tiny", "style": "style.png", "stages": [
        {"options": {"arch": "fast", "channels": [4, 8], "residual_blocks": 1, "iterations": 2}, "note": "from scratch"},
        {"options": {"arch": "fast", "iterations": 3, "style_weight": 8}, "note": "fine-tuned"},
    ]}))
    out = tmp_path / "m.pt"
    args = [*RTSTYLE, "train", "--recipe", recipe, "-s", style, "--data", folder, "-o", out, "--size", "32", "--batch", "1"]
    result = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "stage 1/2" in result.stderr and "stage 2/2" in result.stderr and "starting from the weights of" in result.stderr
    first, last = torch.load(tmp_path / "m.stage1.pt", weights_only=True), torch.load(out, weights_only=True)
    assert (first["step"], last["step"]) == (2, 3)
    assert last["config"]["style_weight"] == 8 and last["config"]["size"] == 32  # the command line's --size, every stage
    assert last["config"]["init"] == str(tmp_path / "m.stage1.pt") and last["net"]["channels"] == [4, 8]

    again = subprocess.run(list(map(str, [*args, "--resume"])), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("resuming") == 2 and "at step 3" in again.stderr
