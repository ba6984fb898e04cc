"""What the installed onnxruntime needs for its GPU providers, what this machine has, and a
broken install (two onnxruntime distributions over one module folder).

The NVIDIA libraries a provider needs are read from its own shared library (the ELF
`DT_NEEDED` entries of `libonnxruntime_providers_cuda.so` / `..._tensorrt.so`), so they are
right for whatever onnxruntime-gpu is installed: 1.31.1 is built for CUDA 13 and TensorRT 10
and needs `libcudart.so.13`, `libcublas.so.13`, `libnvinfer.so.10`, `libcudnn.so.9`, ...
Each one is then looked for the way the dynamic loader would (`ctypes.CDLL`), and in the pip
`nvidia-*` wheels' folders (which `onnxruntime.preload_dlls()` loads from).
No torch here; no onnxruntime session is created.
"""

from __future__ import annotations

import ctypes
import functools
import struct
import sys
from importlib import metadata
from pathlib import Path

# Distributions that all install the same top-level `onnxruntime` package.
ONNXRUNTIME_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino", "onnxruntime-training")
DRIVER_LIBRARY = "libcuda.so.1"  # installed with the NVIDIA driver, not with CUDA
_NVIDIA_PREFIXES = ("libcu", "libnv")  # libcudart, libcublas(Lt), libcurand, libcudnn, libnvinfer, libnvonnxparser
_DT_NEEDED, _SHT_DYNAMIC = 1, 6


def elf_needed(path: str | Path) -> list[str]:
    """The DT_NEEDED entries (libraries it links against) of a 64-bit little-endian ELF shared
    library; [] for anything else (a Windows DLL, a missing file). Reads only the headers and
    the dynamic section (the CUDA provider library is hundreds of MB)."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return []
            shoff, = struct.unpack_from("<Q", header, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", header, 0x3A)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
            needed = []
            for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
                if kind != _SHT_DYNAMIC:
                    continue
                f.seek(offset)
                dynamic = f.read(size)
                f.seek(sections[link][4])
                strings = f.read(sections[link][5])
                for pos in range(0, len(dynamic) - 15, entsize or 16):
                    tag, value = struct.unpack_from("<qQ", dynamic, pos)
                    if tag == 0:
                        break
                    if tag == _DT_NEEDED:
                        needed.append(strings[value:strings.index(b"\0", value)].decode())
            return needed
    except (OSError, struct.error, ValueError, IndexError):
        return []


def onnxruntime_build() -> dict:
    """Which distribution's files the `onnxruntime` module folder holds, its version and the CUDA
    version it was built with (from onnxruntime's own build_and_package_info)."""
    try:
        from onnxruntime.capi import build_and_package_info as info
    except ImportError:
        return {"package": None, "version": None, "cuda_version": None, "capi": None}
    return {
        "package": getattr(info, "package_name", None),
        "version": getattr(info, "__version__", None),
        "cuda_version": getattr(info, "cuda_version", None) or None,
        "capi": str(Path(info.__file__).parent),
    }


def provider_needs(capi: str | Path | None = None) -> dict[str, list[str]]:
    """The NVIDIA libraries each GPU provider of this onnxruntime links against:
    {"cuda": [...], "tensorrt": [...]}, empty lists for a CPU-only build.

    cuDNN is loaded by the CUDA provider at run time rather than linked, so the CUDA list takes
    the cuDNN that the TensorRT provider of the same build names (libcudnn.so.9 for 1.31).
    """
    return {k: list(v) for k, v in _provider_needs(str(capi or onnxruntime_build()["capi"] or ".")).items()}


@functools.lru_cache(maxsize=4)
def _provider_needs(capi: str) -> dict[str, tuple[str, ...]]:
    """provider_needs, once per onnxruntime folder."""
    folder = Path(capi)
    needs = {}
    for key in ("cuda", "tensorrt"):
        names = elf_needed(folder / f"libonnxruntime_providers_{key}.so")
        needs[key] = [n for n in names if n.startswith(_NVIDIA_PREFIXES) or n == DRIVER_LIBRARY]
    cudnn = [n for n in needs["tensorrt"] if n.startswith("libcudnn")]
    if needs["cuda"] and not any(n.startswith("libcudnn") for n in needs["cuda"]):
        needs["cuda"] += cudnn
    return {k: tuple(v) for k, v in needs.items()}


def _pip_nvidia_dirs() -> list[Path]:
    dirs = []
    for entry in map(Path, sys.path):
        root = entry / "nvidia"
        if root.is_dir():
            dirs += [p for p in root.glob("*/lib") if p.is_dir()] + [p for p in root.glob("*/bin") if p.is_dir()]
    return dirs


def find_library(name: str) -> str | None:
    """Where `name` loads from: "system" (the loader finds it), a pip nvidia-* wheel's file, or None."""
    try:
        ctypes.CDLL(name)
        return "system"
    except OSError:
        pass
    for folder in _pip_nvidia_dirs():
        if (folder / name).is_file():
            return str(folder / name)
    return None


def missing_libraries(provider: str, needs: dict[str, list[str]] | None = None) -> list[str]:
    """The libraries `provider` ("cuda" or "tensorrt") needs that cannot be found here.
    TensorRT runs only with the CUDA provider's libraries too, so they count for it."""
    needs = provider_needs() if needs is None else needs
    wanted = needs.get("cuda", []) + (needs.get("tensorrt", []) if provider == "tensorrt" else [])
    return [name for name in dict.fromkeys(wanted) if find_library(name) is None]


def pip_libraries_present(needs: dict[str, list[str]] | None = None) -> bool:
    """Some needed library comes from a pip nvidia-* wheel (then onnxruntime.preload_dlls() is
    what makes it loadable)."""
    needs = provider_needs() if needs is None else needs
    names = {n for group in needs.values() for n in group}
    return any((folder / n).is_file() for folder in _pip_nvidia_dirs() for n in names)


def _major(soname_list: list[str], stem: str) -> str | None:
    for name in soname_list:
        if name.startswith(stem + ".so."):
            return name.rsplit(".so.", 1)[1].split(".")[0]
    return None


def gpu_libraries_line(needs: dict[str, list[str]] | None = None, build: dict | None = None, missing: dict[str, list[str]] | None = None) -> str:
    """One line: the CUDA and TensorRT versions this onnxruntime needs and what is missing, e.g.
    "onnxruntime-gpu 1.31.1 needs CUDA 13 + cuDNN 9, TensorRT 10; missing: NVIDIA driver
    (libcuda.so.1), libcudart.so.13, ...". `needs`, `build` and `missing` default to this machine."""
    build = onnxruntime_build() if build is None else build
    needs = provider_needs(build.get("capi")) if needs is None else needs
    if not needs.get("cuda"):
        return f"{build.get('package') or 'onnxruntime'} {build.get('version') or ''}".strip() + " has no CUDA or TensorRT provider (CPU build)"
    cuda = _major(needs["cuda"], "libcudart") or (build.get("cuda_version") or "?").split(".")[0]
    parts = [f"CUDA {cuda}"]
    cudnn = _major(needs["cuda"], "libcudnn")
    if cudnn:
        parts[0] += f" + cuDNN {cudnn}"
    trt = _major(needs.get("tensorrt", []), "libnvinfer")
    if trt:
        parts.append(f"TensorRT {trt}")
    head = f"{build.get('package')} {build.get('version')} needs {', '.join(parts)}"
    if missing is None:
        missing = {"cuda": missing_libraries("cuda", needs), "tensorrt": missing_libraries("tensorrt", needs)}
    gone = list(dict.fromkeys(missing.get("cuda", []) + missing.get("tensorrt", [])))
    if not gone:
        return head + "; all found"
    named = [f"NVIDIA driver ({n})" if n == DRIVER_LIBRARY else n for n in gone]
    return head + "; missing: " + ", ".join(named)


def onnxruntime_distributions() -> dict[str, str]:
    """Every installed distribution that provides the `onnxruntime` module: name → version."""
    found = {}
    for name in ONNXRUNTIME_DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def conflicting_onnxruntimes(installed: dict[str, str] | None = None, active: str | None = None) -> str | None:
    """A sentence with the repair when more than one onnxruntime distribution is installed (they
    write the same `onnxruntime` folder and the last one installed wins), else None."""
    installed = onnxruntime_distributions() if installed is None else installed
    if len(installed) < 2:
        return None
    active = onnxruntime_build()["package"] if active is None else active
    listed = " and ".join(f"{name} {version}" for name, version in installed.items())
    names = " ".join(installed)
    keep = "onnxruntime-gpu" if "onnxruntime-gpu" in installed else active or "onnxruntime"
    return (
        f"{listed} are both installed and share one onnxruntime folder (its files are {active or 'unknown'}'s); "
        f"repair: pip uninstall -y {names} && pip install {keep}"
        + (" (a package that requires plain onnxruntime will warn; rtstyle needs only one)" if keep == "onnxruntime-gpu" else "")
    )


def provider_status(build: dict | None = None, needs: dict[str, list[str]] | None = None, missing: dict[str, list[str]] | None = None,
                    driver: bool | None = None, conflict: str | None = None) -> dict[str, str]:
    """For TensorRT, CUDA and CPU: "runs", or why it cannot and the exact command that fixes it.
    Each argument defaults to this machine (`driver`: an NVIDIA driver is installed)."""
    from .extras import CUDA, TENSORRT

    build = onnxruntime_build() if build is None else build
    needs = provider_needs(build.get("capi")) if needs is None else needs
    conflict = conflicting_onnxruntimes() if conflict is None else conflict
    if missing is None:
        missing = {"cuda": missing_libraries("cuda", needs), "tensorrt": missing_libraries("tensorrt", needs)}
    if driver is None:
        driver = find_library(DRIVER_LIBRARY) is not None
    status = {}
    for provider, fix in (("tensorrt", TENSORRT), ("cuda", CUDA)):
        gone = [n for n in missing.get(provider, []) if n != DRIVER_LIBRARY]
        if conflict:
            status[provider] = f"cannot: {conflict}"
        elif not needs.get("cuda"):
            status[provider] = f"cannot: {build.get('package') or 'onnxruntime'} is a CPU build; fix: pip uninstall -y {build.get('package') or 'onnxruntime'} && {fix}"
        elif not driver:
            status[provider] = "cannot: no NVIDIA driver (libcuda.so.1), which no pip package brings: install the driver for your GPU"
        elif gone:
            status[provider] = f"cannot: missing {', '.join(gone)}; fix: {fix}"
        else:
            status[provider] = "runs"
    status["cpu"] = "runs"
    return status
