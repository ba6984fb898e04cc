"""`Stylizer`: one onnxruntime session for one style model, the public runtime API.

    from rtstyle import Stylizer
    stylizer = Stylizer("mosaic")            # bundled name or path to an .onnx file
    out = stylizer(frame)                    # H×W×3 uint8 BGR in, same out

Providers are tried in the order TensorRT, CUDA, CPU. onnxruntime silently drops a provider
whose libraries are missing (onnxruntime-gpu on a machine without CUDA, say); the Stylizer
compares what it asked for with what the session actually got and says so in `fallback`.
No torch here: this module is on the real-time path and must import fast.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import UserError
from .registry import cache_dir, resolve_model

FORMAT = "rtstyle-bgr-uint8-nhwc-v1"  # written by export.py into the model's metadata
PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
# TensorRT optimization profile: any frame from 32×32 to 4K runs on one engine, tuned for 720p.
TRT_MIN, TRT_OPT, TRT_MAX = (1, 32, 32, 3), (1, 720, 1280, 3), (1, 2160, 3840, 3)


def gpu_present() -> bool:
    """An NVIDIA driver is installed (not just onnxruntime-gpu, which lists CUDA regardless)."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/dev/nvidiactl") or os.path.isdir("/proc/driver/nvidia")
    return shutil.which("nvidia-smi") is not None


def tensorrt_present() -> bool:
    """The TensorRT runtime library can be loaded."""
    names = ("nvinfer_10.dll",) if sys.platform == "win32" else ("libnvinfer.so.10", "libnvinfer.so")
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


@dataclass
class ProviderPlan:
    """What to ask onnxruntime for: provider names with their options, in priority order."""

    requested: str
    providers: list[tuple[str, dict]] = field(default_factory=list)


def plan_providers(
    provider: str = "auto",
    available: list[str] | None = None,
    gpu: bool | None = None,
    tensorrt: bool | None = None,
    fp16: bool = True,
    cuda_graph: bool = False,
) -> ProviderPlan:
    """Build the provider list with options for `provider` (auto, tensorrt, cuda, cpu).

    `auto` asks for CUDA only where an NVIDIA driver is present and for TensorRT only where its
    library loads too: onnxruntime-gpu lists both everywhere, and trying them on a machine
    without them costs seconds and a screen of log lines. A provider named explicitly is always
    tried; `Stylizer.fallback` then reports if onnxruntime dropped it. `available`, `gpu` and
    `tensorrt` default to what this machine has (tests pass them).
    """
    available = ort.get_available_providers() if available is None else available
    if provider not in ("auto", *PROVIDER_NAMES):
        raise UserError(f"unknown provider {provider!r}: use auto, tensorrt, cuda or cpu")
    if provider == "auto":
        gpu = gpu_present() if gpu is None else gpu
        tensorrt = gpu and (tensorrt_present() if tensorrt is None else tensorrt)
        wanted = ["tensorrt"] * bool(tensorrt) + ["cuda"] * bool(gpu) + ["cpu"]
    else:
        wanted = [provider, "cpu"]
    if provider != "auto" and provider != "cpu" and PROVIDER_NAMES[provider] not in available:
        raise UserError(
            f"provider {provider} is not in this onnxruntime build (it has: {', '.join(available)}); "
            "install onnxruntime-gpu for CUDA/TensorRT"
        )
    plan = ProviderPlan(provider)
    for key in dict.fromkeys(wanted):
        name = PROVIDER_NAMES[key]
        if name not in available:
            continue
        plan.providers.append((name, _provider_options(key, fp16, cuda_graph)))
    return plan


def _shape(s: tuple[int, ...]) -> str:
    return "frame:" + "x".join(map(str, s))


def _provider_options(key: str, fp16: bool, cuda_graph: bool) -> dict:
    if key == "tensorrt":
        engines = cache_dir() / "trt"
        return {
            "trt_fp16_enable": fp16,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(engines),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(engines),
            "trt_profile_min_shapes": _shape(TRT_MIN),
            "trt_profile_opt_shapes": _shape(TRT_OPT),
            "trt_profile_max_shapes": _shape(TRT_MAX),
        }
    if key == "cuda":
        return {"cudnn_conv_algo_search": "HEURISTIC", "enable_cuda_graph": cuda_graph}
    return {}


class Stylizer:
    """Runs one style model on frames: uint8 BGR H×W×3 (or N×H×W×3) in, the same out.

    Args:
        model: a path to an .onnx file or a bundled model name (`mosaic`, `mosaic.onnx`).
        provider: "auto" (TensorRT, then CUDA, then CPU), "tensorrt", "cuda" or "cpu".
        threads: CPU threads for onnxruntime (default: all cores).
        tier: for bundled names, "quality" or "fast" (the CPU real-time tier).
    """

    def __init__(self, model: str | os.PathLike = "mosaic", provider: str = "auto", threads: int | None = None, tier: str = "quality"):
        self.path = resolve_model(model, tier)
        self.plan = plan_providers(provider)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # a missing CUDA library is reported by `fallback`, not by a log dump
        ort.set_default_logger_severity(4)
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(self.path), options,
                providers=[name for name, _ in self.plan.providers],
                provider_options=[opts for _, opts in self.plan.providers],
            )
        except Exception as e:
            raise UserError(f"cannot load ONNX model {self.path}: {str(e).splitlines()[0][:160]}") from None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._check_signature()
        self.providers = self.session.get_providers()
        self.provider = self.providers[0]
        self._device_output = self.provider in (PROVIDER_NAMES["cuda"], PROVIDER_NAMES["tensorrt"])
        self._binding = self.session.io_binding() if self._device_output else None

    def _check_signature(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        ok = (
            len(inputs) == 1 and len(outputs) == 1
            and inputs[0].type == "tensor(uint8)" and outputs[0].type == "tensor(uint8)"
            and len(inputs[0].shape) == 4 and inputs[0].shape[-1] == 3
        )
        if not ok or self.metadata.get("rtstyle.format") != FORMAT:
            raise UserError(f"{self.path} is not an rtstyle style model (expected uint8 N×H×W×3 BGR in and out; export one with `rtstyle export`)")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name

    @property
    def name(self) -> str:
        return self.metadata.get("rtstyle.name", self.path.stem)

    @property
    def tier(self) -> str:
        return self.metadata.get("rtstyle.tier", "quality")

    @property
    def fallback(self) -> str | None:
        """A sentence when the session runs on a provider other than the first one asked for."""
        asked = [name for name, _ in self.plan.providers]
        if asked and asked[0] != self.provider:
            return f"asked for {asked[0]} but onnxruntime runs this model on {self.provider} (its libraries or a GPU are missing)"
        return None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Stylize one frame (H×W×3) or a batch (N×H×W×3) of uint8 BGR images."""
        if frame.dtype != np.uint8 or frame.ndim not in (3, 4) or frame.shape[-1] != 3:
            raise ValueError(f"expected uint8 H×W×3 BGR frames, got {frame.dtype} {frame.shape}")
        batch = frame[None] if frame.ndim == 3 else frame
        if self._binding is not None:
            # GPU: the uint8 frame goes up once, the uint8 result comes down once; all the
            # float work stays on the device.
            self._binding.bind_cpu_input(self.input_name, np.ascontiguousarray(batch))
            self._binding.bind_output(self.output_name, "cuda")
            self.session.run_with_iobinding(self._binding)
            out = self._binding.copy_outputs_to_cpu()[0]
        else:
            out = self.session.run([self.output_name], {self.input_name: batch})[0]
        return out[0] if frame.ndim == 3 else out

    stylize = __call__

    def describe(self) -> dict:
        return {
            "model": str(self.path),
            "name": self.name,
            "tier": self.tier,
            "style": self.metadata.get("rtstyle.style"),
            "precision": self.metadata.get("rtstyle.precision", "fp32"),
            "requested": self.plan.requested,
            "providers": self.providers,
            "fallback": self.fallback,
        }
