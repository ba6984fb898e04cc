"""`Stylizer`: one onnxruntime session for one style model, the public runtime API.

    from rtstyle import Stylizer
    stylizer = Stylizer("mosaic")            # bundled name or path to an .onnx file
    out = stylizer(frame)                    # H×W×3 uint8 BGR in, same out

Providers are tried in the order TensorRT, CUDA, CPU; TensorRT is always followed by CUDA, so
a node TensorRT rejects runs on the GPU, not the CPU. onnxruntime drops a provider whose
libraries are missing (and its Python layer prints an "EP Error" and retries with fewer when a
provider fails to build); the Stylizer catches that text, compares what it asked for with what
the session got and says so in `fallback`, naming the missing libraries (`gpuenv`).
Where each node really ran comes from onnxruntime's profiler (`node_placement`).
The provider options are built by pure functions (`plan_providers`, `tensorrt_options`,
`cuda_options`), so tests check them without a GPU. No torch here: this module is on the
real-time path and must import fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import onnxruntime as ort

from . import gpuenv
from .errors import UserError
from .registry import cache_dir, file_sha256, resolve_model

FORMAT = "rtstyle-bgr-uint8-nhwc-v1"  # written by export.py into the model's metadata
ENCODER_FORMAT = "rtstyle-painting-encoder-v1"  # the any-painting model's encoder: painting in, style code out
STYLE_CODE_INPUT = "style_code"  # the any-painting model's second input: 1×code_size float32
PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
GPU_PROVIDERS = (PROVIDER_NAMES["tensorrt"], PROVIDER_NAMES["cuda"])
SHORT_NAMES = {"TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA", "CPUExecutionProvider": "CPU"}
PLACEMENT_FRAME = (1, 64, 64, 3)  # the frame `node_placement` runs when given none
MAX_MODEL_BYTES = 2**31 - 1  # protobuf's limit on one message: a larger file is no ONNX model
ORT_RUN_ERRORS = (RuntimeError, *(getattr(ort.capi.onnxruntime_pybind11_state, name) for name in (
    "Fail", "InvalidArgument", "RuntimeException", "EPFail", "NotImplemented", "InvalidGraph", "NoSuchFile",
) if hasattr(ort.capi.onnxruntime_pybind11_state, name)))


def gpu_present() -> bool:
    """An NVIDIA driver is installed (not just onnxruntime-gpu, which lists CUDA regardless)."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/dev/nvidiactl") or os.path.isdir("/proc/driver/nvidia")
    return shutil.which("nvidia-smi") is not None


def tensorrt_present() -> bool:
    """Every library this onnxruntime's TensorRT provider needs can be found (see `gpuenv`)."""
    needs = gpuenv.provider_needs()
    return bool(needs.get("tensorrt")) and not gpuenv.missing_libraries("tensorrt", needs)


def model_key(path: str | os.PathLike) -> str:
    """The TensorRT engine cache prefix for a model: a hash of the file's bytes (read in 1 MB
    chunks), so a retrained model under the same name never loads the old engine."""
    return f"rtstyle_{file_sha256(path)[:16]}"


def check_model_file(path: Path) -> None:
    """Refuse, before onnxruntime or a hash reads it, a file that cannot be an ONNX model (over
    protobuf's 2 GB limit) or one whose external data lies outside its folder.

    onnxruntime checks external data locations itself only from 1.24; this check holds on any
    version: a location that is absolute, climbs out with .., or is a link out of the folder
    would let a crafted model read any file into a weight.
    """
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise UserError(f"{path} is {size / 1e9:.1f} GB: not an ONNX model (one file holds at most 2 GB; larger weights live in external data files)")
    if _contains(path, b"location"):  # the key of every external data reference: only then parse
        _check_external_data(path)


def _contains(path: Path, needle: bytes) -> bool:
    """Whether the file's bytes contain `needle`, read in 1 MB chunks."""
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle):]
    return False


def _check_external_data(path: Path) -> None:
    import onnx  # only for models that refer to external data: it takes a while to import

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # not an ONNX file: the session creation says so
        return
    folder = path.parent.resolve()
    for tensor in _tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
        target = (folder / location).resolve()
        if not location or target == folder or not target.is_relative_to(folder):
            raise UserError(f"{path} refers to weights outside its folder ({location!r}); refused")


def _tensors(model) -> Iterator:
    """Every TensorProto of an ONNX model: initializers (sparse ones too) and node attributes,
    in the main graph, its subgraphs and its functions."""
    graphs = [model.graph]
    nodes = [node for function in model.functions for node in function.node]
    while graphs:
        graph = graphs.pop()
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
        nodes += graph.node
        for node in nodes:
            for attribute in node.attribute:
                yield from ([attribute.t] if attribute.HasField("t") else [])
                yield from attribute.tensors
                for sparse in ([attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []) + list(attribute.sparse_tensors):
                    yield from (sparse.values, sparse.indices)
                graphs += ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)
        nodes = []


@contextlib.contextmanager
def _run_errors(path: Path, shape: tuple[int, ...]) -> Iterator[None]:
    """onnxruntime's run-time failures (a Reshape or Tile that cannot take this frame size, an
    allocation that fails) as a UserError naming the model and the frame size."""
    try:
        yield
    except ORT_RUN_ERRORS as e:
        text = re.sub(r"\[ONNXRuntimeError\] : \d+ : \w+ : |\S*onnxruntime_src/\S+\s+[^(]*\([^)]*\)\s*", "", " ".join(str(e).split()))
        raise UserError(f"model {path} failed on a {shape[2]}x{shape[1]} frame: {text[:300]}") from None


def _check_frames(path: Path, batch: np.ndarray, out) -> None:
    """The model's output must be uint8 N×H×W×3 frames, one per input frame."""
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim != 4 or out.shape[0] != batch.shape[0] or out.shape[-1] != 3:
        shape = getattr(out, "shape", "?")
        raise UserError(f"model {path} returned {getattr(out, 'dtype', type(out).__name__)} {shape}, not uint8 N×H×W×3 frames")


def engine_cache_dir() -> Path:
    """Where TensorRT engines and the timing cache live (created by the Stylizer, parents too)."""
    return cache_dir() / "trt"


def tensorrt_options(cache: Path, key: str, fp16: bool = False) -> dict:
    """TensorRT provider options for one model.

    No optimization profile is given: onnxruntime then derives one from the shapes it sees and,
    when a frame falls outside it, widens it and rebuilds the engine (kept in the engine cache
    with its profile), so every shape the runtime sends (1×1 to 4K, any batch) runs. Explicit
    `trt_profile_*` shapes would have to name every dynamic input of every TensorRT subgraph,
    and a frame outside them is an error, not a rebuild.
    fp16 is on only for fp16 models, and then instance norm is kept out of TensorRT (it runs on
    CUDA in fp32): in fp16 its sum of squares overflows (microsoft/onnxruntime#10079), and
    TensorRT's builder may pick fp16 for it whatever Casts the graph has.
    """
    options = {
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_engine_cache_prefix": key,
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache),
        "trt_fp16_enable": bool(fp16),
    }
    if fp16:
        options["trt_op_types_to_exclude"] = "InstanceNormalization"
    return options


def cuda_options() -> dict:
    """CUDA provider options: heuristic convolution algorithms (an exhaustive search would run
    again for every new frame size)."""
    return {"cudnn_conv_algo_search": "HEURISTIC"}


@dataclass
class ProviderPlan:
    """What to ask onnxruntime for: provider names with their options, in priority order."""

    requested: str
    providers: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.providers]

    @property
    def uses_gpu(self) -> bool:
        return any(name in GPU_PROVIDERS for name in self.names)


def plan_providers(
    provider: str = "auto",
    available: list[str] | None = None,
    gpu: bool | None = None,
    tensorrt: bool | None = None,
    key: str = "rtstyle",
    fp16: bool = False,
    cache: Path | None = None,
) -> ProviderPlan:
    """Build the provider list with options for `provider` (auto, tensorrt, cuda, cpu).

    `auto` asks for CUDA only where an NVIDIA driver is present and for TensorRT only where its
    libraries are found too: onnxruntime-gpu lists both everywhere, and trying them on a machine
    without them costs seconds and a screen of log lines. A provider named explicitly is always
    tried, TensorRT always with CUDA after it; `Stylizer.fallback` then reports if onnxruntime
    dropped it. `available`, `gpu` and `tensorrt` default to what this machine has (tests pass
    them); `key` is the model's engine cache prefix (`model_key`), `fp16` its precision.
    """
    available = ort.get_available_providers() if available is None else available
    if provider not in ("auto", *PROVIDER_NAMES):
        raise UserError(f"unknown provider {provider!r}: use auto, tensorrt, cuda or cpu")
    if provider == "auto":
        gpu = gpu_present() if gpu is None else gpu
        tensorrt = gpu and (tensorrt_present() if tensorrt is None else tensorrt)
        wanted = ["tensorrt"] * bool(tensorrt) + ["cuda"] * bool(gpu) + ["cpu"]
    else:
        wanted = {"tensorrt": ["tensorrt", "cuda", "cpu"], "cuda": ["cuda", "cpu"], "cpu": ["cpu"]}[provider]
    if provider in ("tensorrt", "cuda") and PROVIDER_NAMES[provider] not in available:
        conflict = gpuenv.conflicting_onnxruntimes()
        raise UserError(
            f"provider {provider} is not in this onnxruntime build (it has: {', '.join(available)}); "
            + (conflict if conflict else "install onnxruntime-gpu for CUDA/TensorRT")
        )
    cache = engine_cache_dir() if cache is None else cache
    plan = ProviderPlan(provider)
    for name in (PROVIDER_NAMES[k] for k in dict.fromkeys(wanted)):
        if name not in available:
            continue
        if name == PROVIDER_NAMES["tensorrt"]:
            options = tensorrt_options(cache, key, fp16)
        elif name == PROVIDER_NAMES["cuda"]:
            options = cuda_options()
        else:
            options = {}
        plan.providers.append((name, options))
    return plan


def count_placement(profile_events: list[dict]) -> dict:
    """Where nodes ran, from onnxruntime's profile (a list of trace events): {"counts":
    {provider: distinct nodes}, "cpu_ops": sorted op types of the CPU nodes}. A TensorRT
    entry is one fused subgraph (a TensorRT engine), however many ONNX nodes it holds."""
    nodes: dict[str, tuple[str, str]] = {}
    for event in profile_events:
        args = event.get("args") or {}
        if event.get("cat") != "Node" or "provider" not in args:
            continue
        name = event.get("name", "").removesuffix("_kernel_time").removesuffix("_fence_before").removesuffix("_fence_after")
        nodes[name] = (args["provider"], args.get("op_name", "?"))
    counts = Counter(provider for provider, _ in nodes.values())
    cpu_ops = sorted({op for provider, op in nodes.values() if provider == PROVIDER_NAMES["cpu"]})
    return {"counts": dict(counts), "cpu_ops": cpu_ops}


def format_placement(placement: dict) -> str:
    """'TensorRT 1 subgraph, CUDA 3 nodes, CPU 0 nodes' (GPU sessions) or 'CPU 52 nodes'."""
    counts = placement["counts"]
    parts = []
    for name in (*GPU_PROVIDERS, PROVIDER_NAMES["cpu"]):
        n = counts.get(name, 0)
        if name == PROVIDER_NAMES["tensorrt"] and n:
            parts.append(f"TensorRT {n} subgraph{'s' * (n != 1)}")
        elif n or (name == PROVIDER_NAMES["cpu"] and parts):
            parts.append(f"{SHORT_NAMES[name]} {n} node{'s' * (n != 1)}")
    parts += [f"{p} {n}" for p, n in counts.items() if p not in SHORT_NAMES]
    return ", ".join(parts) or "no nodes ran"


def placement_warning(placement: dict, session_providers: list[str]) -> str | None:
    """A warning when a GPU session runs nodes on the CPU (each is a copy between host and device)."""
    n = placement["counts"].get(PROVIDER_NAMES["cpu"], 0)
    if not n or not any(p in GPU_PROVIDERS for p in session_providers):
        return None
    return f"{n} node{'s' * (n != 1)} ran on the CPU in a GPU session ({', '.join(placement['cpu_ops'])}): each costs a copy between host and device"


class FrameBinding:
    """IO binding with buffers on the session's device, allocated once per frame shape.

    The input buffer is refreshed in place (`OrtValue.update_inplace`, one host-to-device copy)
    and the output is a preallocated device buffer (one device-to-host copy when read); both
    are bound again only when the frame shape changes. `device` is "cuda" for a GPU session;
    "cpu" runs the same code on a CPU session (the tests do).
    """

    def __init__(self, session: ort.InferenceSession, input_name: str, output_name: str, device: str = "cuda", device_id: int = 0):
        self.session, self.input_name, self.output_name = session, input_name, output_name
        self.device, self.device_id = device, device_id
        self.binding = session.io_binding()
        self.shape: tuple[int, ...] | None = None
        self.allocations = 0  # how many times buffers were (re)allocated: once per shape

    def __call__(self, batch: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
        batch = np.ascontiguousarray(batch)
        if batch.shape != self.shape:
            self._input = ort.OrtValue.ortvalue_from_shape_and_type(batch.shape, np.uint8, self.device, self.device_id)
            self._output = ort.OrtValue.ortvalue_from_shape_and_type(batch.shape, np.uint8, self.device, self.device_id)
            self.binding.clear_binding_inputs()
            self.binding.clear_binding_outputs()
            self.binding.bind_ortvalue_input(self.input_name, self._input)
            self.binding.bind_ortvalue_output(self.output_name, self._output)
            self.shape = batch.shape
            self.allocations += 1
        for name, value in (extra or {}).items():  # small host arrays (a style code), bound per call
            self.binding.bind_cpu_input(name, value)
        self._input.update_inplace(batch)
        self.session.run_with_iobinding(self.binding)
        return self.binding.copy_outputs_to_cpu()[0]


class Stylizer:
    """Runs one style model on frames: uint8 BGR H×W×3 (or N×H×W×3) in, the same out.

    Args:
        model: a path to an .onnx file or a bundled model name (`mosaic`, `mosaic.onnx`).
        provider: "auto" (TensorRT, then CUDA, then CPU), "tensorrt", "cuda" or "cpu".
        threads: CPU threads for onnxruntime (default: all cores).
        tier: for bundled names, "quality" or "fast" (the CPU real-time tier).
        profile_nodes: switch onnxruntime's profiler on, for `node_placement` (one frame).
        io_binding: run frames through `FrameBinding` (default: on for a GPU session).
    """

    def __init__(
        self,
        model: str | os.PathLike = "mosaic",
        provider: str = "auto",
        threads: int | None = None,
        tier: str = "quality",
        profile_nodes: bool = False,
        io_binding: bool | None = None,
    ):
        if threads is not None and threads < 1:
            raise UserError(f"--threads must be at least 1, got {threads}")
        self.path = resolve_model(model, tier)
        check_model_file(self.path)  # before onnxruntime (and the hash) read it
        self.plan = plan_providers(provider)
        if PROVIDER_NAMES["tensorrt"] in self.plan.names:  # the engine cache needs the model's hash
            self.plan = plan_providers(provider, key=model_key(self.path), fp16=_model_precision(self.path) == "fp16")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.plan.uses_gpu:
            # Warnings stay visible: TensorRT explains there why it rejects a node or a build.
            options.log_severity_level = 2
            ort.set_default_logger_severity(2)
            engine_cache_dir().mkdir(parents=True, exist_ok=True)  # onnxruntime creates one level only
            if hasattr(ort, "preload_dlls") and gpuenv.pip_libraries_present():
                with contextlib.redirect_stdout(sys.stderr):
                    ort.preload_dlls()  # CUDA/cuDNN from pip nvidia-* wheels
        else:  # errors are raised (and said in one line), not logged too
            options.log_severity_level = 4
            ort.set_default_logger_severity(4)
        if threads:
            options.intra_op_num_threads = threads
        self._profile_dir = None
        if profile_nodes:
            self._profile_dir = tempfile.TemporaryDirectory(prefix="rtstyle-profile-")
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(self._profile_dir.name) / "ort")
        printed = io.StringIO()
        try:
            # onnxruntime's Python layer prints "EP Error ... Falling back" on stdout (which may
            # be a JSON report); keep the text for `fallback` instead.
            with contextlib.redirect_stdout(printed):
                self.session = ort.InferenceSession(
                    str(self.path), options,
                    providers=self.plan.names,
                    provider_options=[opts for _, opts in self.plan.providers],
                )
        except Exception as e:
            raise UserError(f"cannot load ONNX model {self.path}: {str(e).splitlines()[0][:160]}") from None
        self.ep_error = _ep_error(printed.getvalue())
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._check_signature()
        self.providers = self.session.get_providers()
        self.provider = self.providers[0]
        self.placement: dict | None = None
        on_gpu = self.provider in GPU_PROVIDERS
        use_binding = on_gpu if io_binding is None else io_binding
        self._binding = FrameBinding(self.session, self.input_name, self.output_name, "cuda" if on_gpu else "cpu") if use_binding else None
        self.io_binding = bool(use_binding)

    def _check_signature(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        codes = [i for i in inputs[1:] if i.name == STYLE_CODE_INPUT and i.type == "tensor(float)"]
        ok = (
            len(inputs) == 1 + len(codes) and len(outputs) == 1
            and inputs[0].type == "tensor(uint8)" and outputs[0].type == "tensor(uint8)"
            and len(inputs[0].shape) == 4 and inputs[0].shape[-1] == 3 and len(outputs[0].shape) == 4
        )
        self.code_size = int(codes[0].shape[-1]) if codes else 0
        self.style_code: np.ndarray | None = None  # an any-painting model's painting (`rtstyle.anystyle`)
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
        """A sentence when the session runs on a provider other than the first one asked for,
        naming what is missing; None when it got what it asked for."""
        asked = self.plan.names
        if self.plan.requested == "auto" and not self.plan.uses_gpu and gpu_present():
            conflict = gpuenv.conflicting_onnxruntimes()
            if conflict:
                return f"an NVIDIA GPU is here but this onnxruntime offers only {', '.join(ort.get_available_providers())}: {conflict}"
        dropped = [p for p in asked if p in GPU_PROVIDERS and p not in self.providers]
        if not asked or (asked[0] == self.provider and not dropped):
            return None
        why = []
        if self.ep_error:
            why.append(self.ep_error)
        conflict = gpuenv.conflicting_onnxruntimes()
        if conflict:
            why.append(conflict)
        if asked[0] in GPU_PROVIDERS:
            why.append(gpuenv.gpu_libraries_line())
        reason = "; ".join(why) or "its libraries or a GPU are missing"
        if asked[0] == self.provider:
            return f"onnxruntime dropped {', '.join(dropped)}: nodes {self.provider} rejects run on the CPU ({reason})"
        return f"asked for {asked[0]} but onnxruntime runs this model on {self.provider} ({reason})"

    def node_placement(self, frame: np.ndarray | None = None) -> dict:
        """Run one frame with onnxruntime's profiler on and return where its nodes ran (see
        `count_placement`); the profiler then stops. Needs `profile_nodes=True`."""
        if self.placement is not None:
            return self.placement
        if self._profile_dir is None:
            raise RuntimeError("node_placement needs a Stylizer made with profile_nodes=True")
        self(np.zeros(PLACEMENT_FRAME, np.uint8) if frame is None else frame)
        path = Path(self.session.end_profiling())
        try:
            events = json.loads(path.read_text())
        finally:
            self._profile_dir.cleanup()
        self.placement = count_placement(events)
        return self.placement

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Stylize one frame (H×W×3) or a batch (N×H×W×3) of uint8 BGR images."""
        if frame.dtype != np.uint8 or frame.ndim not in (3, 4) or frame.shape[-1] != 3:
            raise ValueError(f"expected uint8 H×W×3 BGR frames, got {frame.dtype} {frame.shape}")
        batch = frame[None] if frame.ndim == 3 else frame
        extra = self.code_feed()
        with _run_errors(self.path, batch.shape):
            if self._binding is not None:
                out = self._binding(batch, extra)
            else:
                out = self.session.run([self.output_name], {self.input_name: batch, **extra})[0]
        _check_frames(self.path, batch, out)
        return out[0] if frame.ndim == 3 else out

    stylize = __call__

    def code_feed(self) -> dict[str, np.ndarray]:
        """The inputs besides the frame: an any-painting model's style code ({} for the others)."""
        if not self.code_size:
            return {}
        if self.style_code is None:
            raise UserError(f"{self.path} is an any-painting model: give it a painting (--style PAINTING)")
        return {STYLE_CODE_INPUT: self.style_code}

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
            "io_binding": self.io_binding,
            "placement": self.placement,
        }


def _ep_error(printed: str) -> str | None:
    """The reason in onnxruntime's printed "EP Error ... Falling back" text, without its source
    location, e.g. "Please install TensorRT libraries as mentioned in the GPU requirements page"."""
    for line in printed.splitlines():
        if "EP Error" in line and line.strip("* ") != "EP Error":
            text = re.sub(r"^\W*EP Error:?\s*", "", line.strip())
            text = re.sub(r"\S*onnxruntime_src/\S+\s+[^(]*\([^)]*\)\s*", "", text)
            return "EP Error: " + re.split(r" (?:when )?using \[", text)[0][:240]
    return None


def _model_precision(path: Path) -> str:
    """The model's precision from its metadata (read only where TensorRT is planned)."""
    import onnx

    try:
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # not an ONNX file: the session creation says so
        return "fp32"
    return meta.get("rtstyle.precision", "fp32")
