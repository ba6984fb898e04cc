"""Rebuild every bundled model in models/ from its checkpoint in export/checkpoints/.

    python export/build_models.py            # all of them
    python export/build_models.py mosaic     # one (and its -fast tier)

Checkpoints are weight-only (no optimizer state): 6.7 MB for a quality-tier network, 1.6 MB
for a fast-tier one; the training settings and step count are inside each one.
"""

import json
import sys
from pathlib import Path

from rtstyle.export import export_onnx

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["mosaic", "candy", "udnie", "starry-night", "the-scream", "shipwreck", "mosaic-steady"]


def main(names: list[str]) -> None:
    for name in names or SHIPPED:
        for model in (name, f"{name}-fast"):
            ckpt = ROOT / "export" / "checkpoints" / f"{model}.pt"
            if not ckpt.exists():
                print(f"skip {model}: no checkpoint", file=sys.stderr)
                continue
            report = export_onnx(ckpt, ROOT / "models" / f"{model}.onnx", name=model)
            print(json.dumps({k: report[k] for k in ("output", "max_abs_diff", "size_bytes", "rtstyle.steps")}))


if __name__ == "__main__":
    main(sys.argv[1:])
