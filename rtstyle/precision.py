"""Mixed precision only where the hardware makes it faster."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch


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


def autocast(device: torch.device):
    """Mixed precision where it is faster: bf16 on CUDA and on CPUs with native bf16, else fp32."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    if device.type == "cpu" and native_cpu_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
