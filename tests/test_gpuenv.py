"""What onnxruntime-gpu needs, what is missing, and two onnxruntimes over one folder.

Run against the real onnxruntime installed here (onnxruntime-gpu 1.31.1 in the project venv);
the second-distribution case fakes only the package metadata.
"""

from __future__ import annotations

import ctypes
import json
from importlib import metadata

import pytest

from rtstyle import gpuenv
from rtstyle.errors import UserError
from rtstyle.stylizer import plan_providers

BUILD = gpuenv.onnxruntime_build()
GPU_BUILD = BUILD["package"] == "onnxruntime-gpu"
needs_gpu_build = pytest.mark.skipif(not GPU_BUILD, reason="onnxruntime-gpu is not installed")


def loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


@needs_gpu_build
def test_provider_libraries_are_read_from_the_installed_build():
    needs = gpuenv.provider_needs()
    cuda_major = BUILD["cuda_version"].split(".")[0]
    assert f"libcudart.so.{cuda_major}" in needs["cuda"] and f"libcublas.so.{cuda_major}" in needs["cuda"]
    assert any(n.startswith("libcudnn.so.") for n in needs["cuda"])
    assert any(n.startswith("libnvinfer.so.") for n in needs["tensorrt"])
    assert "libc.so.6" not in needs["cuda"]  # only NVIDIA's libraries are listed


@needs_gpu_build
def test_the_line_names_exactly_what_is_missing_here():
    needs = gpuenv.provider_needs()
    line = gpuenv.gpu_libraries_line()
    cuda_major = BUILD["cuda_version"].split(".")[0]
    assert line.startswith(f"onnxruntime-gpu {BUILD['version']} needs CUDA {cuda_major}")
    absent = [n for n in dict.fromkeys(needs["cuda"] + needs["tensorrt"]) if not loads(n) and gpuenv.find_library(n) is None]
    if not absent:
        assert line.endswith("all found")
    for name in absent:
        assert name in line
    for name in needs["cuda"] + needs["tensorrt"]:
        if loads(name):
            assert f" {name}," not in line and not line.endswith(f" {name}")


def test_line_from_given_needs():
    needs = {"cuda": ["libcublas.so.12", "libcudart.so.12", "libcuda.so.1", "libcudnn.so.9"], "tensorrt": ["libnvinfer.so.10"]}
    build = {"package": "onnxruntime-gpu", "version": "1.20.0", "cuda_version": "12.4", "capi": None}
    line = gpuenv.gpu_libraries_line(needs, build, missing={"cuda": ["libcuda.so.1"], "tensorrt": ["libcuda.so.1", "libnvinfer.so.10"]})
    assert line == "onnxruntime-gpu 1.20.0 needs CUDA 12 + cuDNN 9, TensorRT 10; missing: NVIDIA driver (libcuda.so.1), libnvinfer.so.10"
    assert gpuenv.gpu_libraries_line(needs, build, missing={}).endswith("; all found")
    cpu = gpuenv.gpu_libraries_line({"cuda": [], "tensorrt": []}, {"package": "onnxruntime", "version": "1.32.0"})
    assert cpu == "onnxruntime 1.32.0 has no CUDA or TensorRT provider (CPU build)"


def test_elf_reader_on_a_real_library_and_on_junk(tmp_path):
    from onnxruntime.capi import onnxruntime_pybind11_state

    assert "libstdc++.so.6" in gpuenv.elf_needed(onnxruntime_pybind11_state.__file__)
    (tmp_path / "junk.so").write_bytes(b"not an ELF file")
    assert gpuenv.elf_needed(tmp_path / "junk.so") == [] and gpuenv.elf_needed(tmp_path / "absent.so") == []


def fake_versions(installed: dict[str, str]):
    def version(name):
        if name in installed:
            return installed[name]
        raise metadata.PackageNotFoundError(name)

    return version


def test_two_onnxruntimes_are_detected_with_the_repair(monkeypatch):
    monkeypatch.setattr(gpuenv.metadata, "version", fake_versions({"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}))
    assert gpuenv.onnxruntime_distributions() == {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}
    message = gpuenv.conflicting_onnxruntimes(active="onnxruntime")
    assert "onnxruntime 1.32.0 and onnxruntime-gpu 1.31.1" in message
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu" in message
    monkeypatch.setattr(gpuenv.metadata, "version", fake_versions({"onnxruntime-gpu": "1.31.1"}))
    assert gpuenv.conflicting_onnxruntimes() is None


def test_a_gpu_request_with_two_onnxruntimes_says_how_to_repair(monkeypatch):
    monkeypatch.setattr(gpuenv.metadata, "version", fake_versions({"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}))
    with pytest.raises(UserError, match=r"pip uninstall -y onnxruntime onnxruntime-gpu"):
        plan_providers("cuda", available=["CPUExecutionProvider"])
    with pytest.raises(UserError, match=r"share one onnxruntime folder"):
        plan_providers("tensorrt", available=["CPUExecutionProvider"])


def test_info_reports_versions_placement_and_the_conflict(monkeypatch, capsys):
    from rtstyle.cli.info import info

    monkeypatch.setattr(gpuenv.metadata, "version", fake_versions({"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}))
    info(None, as_json=True)
    report = json.loads(capsys.readouterr().out)
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in report["onnxruntime_conflict"]
    assert report["onnxruntime_installed"] == ["onnxruntime 1.32.0", "onnxruntime-gpu 1.31.1"]
    assert report["gpu_libraries"] == gpuenv.gpu_libraries_line()
    in_use = report["providers_in_use"]
    if in_use == ["CPUExecutionProvider"]:
        assert report["nodes_ran_on"].startswith("CPU ") and report["nodes_ran_on"].endswith(" nodes")
        assert report["placement"]["CPUExecutionProvider"] > 10


GPU_NEEDS = {"cuda": ["libcudart.so.13", "libcuda.so.1", "libcudnn.so.9"], "tensorrt": ["libnvinfer.so.10"]}
GPU = {"package": "onnxruntime-gpu", "version": "1.31.1", "capi": None}


@pytest.mark.parametrize("case, missing, driver, tensorrt, cuda", [
    ("all found", {"cuda": [], "tensorrt": []}, True, "runs", "runs"),
    ("no TensorRT", {"cuda": [], "tensorrt": ["libnvinfer.so.10"]}, True, 'pip install "rtstyle[tensorrt]"', "runs"),
    ("no CUDA libraries", {"cuda": ["libcudart.so.13"], "tensorrt": ["libcudart.so.13", "libnvinfer.so.10"]}, True,
     'pip install "rtstyle[tensorrt]"', 'missing libcudart.so.13; fix: pip install "rtstyle[cuda]"'),
    ("no driver", {"cuda": ["libcuda.so.1"], "tensorrt": ["libcuda.so.1"]}, False, "install the driver", "install the driver"),
])
def test_each_provider_runs_or_says_the_command_that_fixes_it(case, missing, driver, tensorrt, cuda):
    status = gpuenv.provider_status(build=GPU, needs=GPU_NEEDS, missing=missing, driver=driver, conflict="")
    assert status["cpu"] == "runs"
    assert tensorrt in status["tensorrt"] and cuda in status["cuda"], (case, status)
    assert (status["cuda"] == "runs") == (not missing["cuda"] and driver)


def test_a_cpu_build_or_two_onnxruntimes_name_their_repair():
    cpu = {"package": "onnxruntime", "version": "1.31.1", "capi": None}
    status = gpuenv.provider_status(build=cpu, needs={"cuda": [], "tensorrt": []}, missing={}, driver=True, conflict="")
    assert status["cuda"].endswith('fix: pip uninstall -y onnxruntime && pip install "rtstyle[cuda]"')
    status = gpuenv.provider_status(build=GPU, needs=GPU_NEEDS, missing={}, driver=True, conflict="two installed; repair: X")
    assert status["tensorrt"] == status["cuda"] == "cannot: two installed; repair: X"
