"""The torch device, and mixed precision only where the hardware makes it faster."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

from .errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    """auto: CUDA when PyTorch sees a GPU, else the CPU; cpu, cuda or cuda:N as asked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: PyTorch sees no CUDA GPU here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device must be auto, cpu or cuda, got {name!r}") from None


@functools.cache  # asked once per training step
def native_cpu_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16, AMX); emulated bf16 is slower than fp32."""
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        flags = Path("/proc/cpuinfo").read_text().split()
    except (AttributeError, RuntimeError, OSError):
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def mixed_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype that is faster than float32 on `device`, or None where there is none."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and native_cpu_bf16():
        return torch.bfloat16
    return None


def autocast(device: torch.device):
    """Mixed precision where it is faster (see `mixed_dtype`), else a no-op context."""
    dtype = mixed_dtype(device)
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
