"""What a device computes fast, and the speed settings chosen from it.

bf16 is only a speed-up where the hardware multiplies bf16 natively: CUDA GPUs of compute
capability 8.0 or newer, and CPUs with AVX512_BF16 or AMX. Elsewhere PyTorch emulates it, and a
SaGAN training step under bf16 autocast was measured 13.6x *slower* than fp32 on an AMD EPYC
without those instructions (docs/training.md). So ``"auto"`` never picks bf16 without them.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

import torch

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
"""Accepted precision settings; ``auto`` resolves with `resolve_precision`."""


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor ends at the first blank line
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (empty where unknown)."""
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bf16 in hardware (AVX512_BF16 or AMX)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if any(getattr(torch.cpu, name, lambda: False)() for name in checks):
        return True
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def has_native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bf16 matrix products natively."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """Return ``"bf16"`` or ``"fp32"``: ``auto`` becomes bf16 only where it is native."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if has_native_bf16(device) else "fp32"
    return precision


def describe_cpu() -> str:
    """One line naming the CPU, its core count and the features that matter for speed here."""
    name = _cpuinfo().get("model name") or platform.processor() or platform.machine()
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")
    features = [flag for flag in wanted if flag in cpu_flags()]
    native = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return (
        f"{name}; {torch.get_num_threads()} torch threads; "
        f"features: {' '.join(features) or 'none of ' + ', '.join(wanted)}; {native}; "
        f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels)"
    )
