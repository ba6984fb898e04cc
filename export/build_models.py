"""Rebuild every bundled model in models/ from its checkpoint in export/checkpoints/.

    python export/build_models.py            # all of them
    python export/build_models.py mosaic     # one (and its -fast tier)
    python export/build_models.py anystyle   # the any-painting network, from models/anystyle.pt

The shipped models are those with a recipe in export/recipes/ (NAME.json: the training stages,
read by `rtstyle train --recipe`); each checkpoint is checked against its recipe's last stage
before it is exported. Checkpoints are weight-only (no optimizer state): 6.7 MB for a
quality-tier network, 1.6 MB for a fast-tier one; the training settings and step count are
inside each one.
"""

import json
import sys
from pathlib import Path

from rtstyle.checkpoints import load_checkpoint
from rtstyle.export import export_onnx
from rtstyle.trainconfig import TrainConfig, load_recipe, recipe_options

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "export" / "recipes"


def shipped() -> list[str]:
    """The quality-tier models with a recipe (each brings its -fast tier along)."""
    return sorted(p.stem for p in RECIPES.glob("*.json") if not p.stem.endswith("-fast"))


def recipe_mismatch(model: str, ckpt: dict) -> str | None:
    """Where the checkpoint's training options differ from its recipe's last stage, or None."""
    last = load_recipe(RECIPES / f"{model}.json").stages[-1]["options"]
    known = {k: v for k, v in ckpt["config"].items() if k in TrainConfig.__dataclass_fields__}
    config = TrainConfig(**{"style_balance": "sum", **known})  # before the option existed: the sum
    recorded = recipe_options(TrainConfig(style="", data="", output="", **{k: tuple(v) if isinstance(v, list) else v for k, v in last.items()}))
    actual = {k: v for k, v in recipe_options(config).items() if k != "vgg_weights"}
    diff = sorted(set(recorded.items()) ^ set(actual.items()))
    return ", ".join(f"{k}={v}" for k, v in diff) or None


def build_anystyle() -> None:
    """The any-painting network (`--style`): models/anystyle.pt ships too (`rtstyle learn` starts from it)."""
    report = export_onnx(ROOT / "models" / "anystyle.pt", ROOT / "models" / "anystyle.onnx")
    print(json.dumps({k: report[k] for k in ("output", "encoder", "max_abs_diff", "code_diff", "size_bytes", "encoder_bytes", "rtstyle.steps")}))


def main(names: list[str]) -> None:
    for name in names or [*shipped(), "anystyle"]:
        if name == "anystyle":
            build_anystyle()
            continue
        for model in (name, f"{name}-fast"):
            ckpt_path = ROOT / "export" / "checkpoints" / f"{model}.pt"
            if not ckpt_path.exists():
                print(f"skip {model}: no checkpoint", file=sys.stderr)
                continue
            if not (RECIPES / f"{model}.json").exists():
                sys.exit(f"{model}: no recipe in {RECIPES}")
            mismatch = recipe_mismatch(model, load_checkpoint(ckpt_path))
            if mismatch:
                sys.exit(f"{model}: the checkpoint and its recipe's last stage differ in {mismatch}")
            report = export_onnx(ckpt_path, ROOT / "models" / f"{model}.onnx", name=model)
            print(json.dumps({k: report[k] for k in ("output", "max_abs_diff", "size_bytes", "rtstyle.steps")}))


if __name__ == "__main__":
    main(sys.argv[1:])
