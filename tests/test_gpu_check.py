"""bench/gpu_check.py: its dry run on the CPU provider, its no-GPU line, and its pass rules."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtstyle.stylizer import gpu_present

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_dry_run_on_the_cpu_runs_every_step(tmp_path):
    out = tmp_path / "check.json"
    result = run("--providers", "cpu", "--models", "mosaic-fast", "--check-sizes", "53x37", "2x40x30",
                 "--fps-sizes", "64x48", "--frames", "2", "--json", out)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    (row,) = report["rows"]
    assert row["model"] == "mosaic-fast" and row["failures"] == []
    assert row["session_providers"] == ["CPUExecutionProvider"] and row["nodes"].startswith("CPU ")
    assert set(row["accuracy"]) == {"1x37x53", "2x30x40"}
    assert all(a["max"] == 0 and a["std"] > 4 for a in row["accuracy"].values())  # CPU against CPU: identical
    assert row["fps"]["64x48"]["io_binding"] > 0 and row["fps"]["64x48"]["run"] > 0
    assert row["restart_s"] >= 0
    assert "PASS" in result.stdout and "wrote" in result.stdout


@pytest.mark.skipif(gpu_present(), reason="an NVIDIA driver is here: the real check would run")
def test_without_a_gpu_it_says_why_in_one_line(tmp_path):
    result = run("--json", tmp_path / "x.json")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpu_check: ")
    assert "cannot test GPUs" in lines[0] or "no " in lines[0]
    assert not (tmp_path / "x.json").exists()


def test_pass_rules():
    gc = load_script()
    cpu = np.full((4, 4, 3), 100, np.uint8)
    cpu[0, 0] = 0
    assert gc.compare(cpu, cpu)["max"] == 0
    off = cpu.copy()
    off[1:] += 5
    assert gc.compare(off, cpu)["p999"] == 5  # over the 3/255 tolerance
    assert gc.compare(np.full((8, 8, 3), 7, np.uint8), np.full((8, 8, 3), 7, np.uint8))["std"] == 0  # flat
    whole = {"counts": {"TensorrtExecutionProvider": 1}, "cpu_ops": []}
    split = {"counts": {"TensorrtExecutionProvider": 3, "CUDAExecutionProvider": 2, "CPUExecutionProvider": 4}, "cpu_ops": ["Clip", "Shape"]}
    assert gc.placement_ok("tensorrt", whole) and not gc.placement_ok("tensorrt", split)
    assert gc.placement_ok("cuda", {"counts": {"CUDAExecutionProvider": 60, "CPUExecutionProvider": 5}, "cpu_ops": ["Gather", "Shape"]})
    assert not gc.placement_ok("cuda", {"counts": {"CPUExecutionProvider": 60}, "cpu_ops": ["Conv", "Shape"]})


def test_the_first_two_frames_span_every_shape_checked():
    gc = load_script()
    big, small = gc.range_corners(gc.CHECK_SHAPES, gc.FPS_SIZES)
    assert big.shape == (2, 1080, 1920, 3) and small.shape == (1, 37, 53, 3)
