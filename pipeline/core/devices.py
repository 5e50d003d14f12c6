"""Choosing and probing the compute device."""

from __future__ import annotations

import torch

from ..config import DEVICE_CHOICES
from ..errors import DeviceError


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


AVAILABLE = {
    "cpu": lambda: True,
    "cuda": torch.cuda.is_available,
    "mps": _mps_available,
}


def pick_device(name: str = "auto") -> torch.device:
    """auto -> cuda, else mps, else cpu; an explicit name must be present. Probes the device once, here, so a
    broken driver fails before any slow work."""
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if AVAILABLE[d]())
    if name.split(":")[0] not in AVAILABLE:
        raise DeviceError(f"device '{name}' is not one of {', '.join(DEVICE_CHOICES)}")
    if not AVAILABLE[name.split(":")[0]]():
        raise DeviceError(f"device '{name}' is not available on this machine; try --device auto or --device cpu")
    device = torch.device(name)
    try:
        torch.empty((), device=device)
    except Exception as exc:  # a driver error surfaces here, with its own words
        raise DeviceError(f"device '{name}' could not be used: {exc}") from None
    return device


def native_bfloat16() -> bool:
    """True when this CPU has bfloat16 dot-product instructions (AVX512-BF16, or AMX, which always has AMX-BF16).

    Only then is VGG19 in bfloat16 faster (1.6-1.9x a pass, docs/design.md); without them oneDNN emulates bfloat16
    with conversions and it is slower than float32. torch's
    checks are private, so a torch without them counts as no support (float32, the safe side).
    """
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and bool(check()) for check in checks)


def cpu_bfloat16(amp: bool) -> bool:
    """Whether VGG19 runs in bfloat16 on the CPU with OptimSettings.amp = `amp`: only where it is native (elsewhere
    it is emulated and slower than float32). The one rule the Stylizer, the plan line and a video's work folder
    follow."""
    return amp and native_bfloat16()


def network_arithmetic(device: torch.device, amp: bool) -> str:
    """"bfloat16" when VGG19 runs in bfloat16 on `device` (see cpu_bfloat16), else "float32". What decides the
    pixels, so a video's work folder records it."""
    return "bfloat16" if device.type == "cpu" and cpu_bfloat16(amp) else "float32"


def device_label(device: torch.device, amp: bool) -> str:
    """The device's name for a plan line, with ' (bfloat16)' when VGG19 runs in bfloat16 there, so a user sees why
    results differ from a float32 machine's."""
    return f"{device} (bfloat16)" if network_arithmetic(device, amp) == "bfloat16" else str(device)
