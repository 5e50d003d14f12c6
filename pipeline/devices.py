"""Choosing and probing the compute device."""

from __future__ import annotations

import torch

from .config import DEVICE_CHOICES
from .errors import DeviceError


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
