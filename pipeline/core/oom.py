"""Running out of GPU memory in the middle of a video: free the cache, retry smaller, then continue on the CPU.

Hours into a run, one frame that does not fit (another process took memory, the allocator fragmented) should not
end the run. The policy, per frame and kept for the frames after it: free the cache, paint at RETRY_SCALE of the
size and upsample; if that fails too, move everything to the CPU and paint at full size there. Each step is
announced once through `warn`. There is no retry at the same size: it would need the same memory again.
"""

from __future__ import annotations

import gc
from typing import Callable, TypeVar

import torch

RETRY_SCALE = 0.5  # area 1/4: VGG activations, the bulk of the memory, shrink by 4
T = TypeVar("T")


CPU_ALLOCATOR_FAILURE = "can't allocate memory"  # what torch's DefaultCPUAllocator says, not "out of memory"


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's OutOfMemoryError (a class on CPU-only builds too), MPS's RuntimeError saying so, or the CPU
    allocator's ("DefaultCPUAllocator: can't allocate memory")."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or CPU_ALLOCATOR_FAILURE in text)


def free_cache(device: torch.device) -> None:
    """Return the caching allocator's free blocks to the driver (after the failed frame's tensors are gone)."""
    gc.collect()
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


class MemoryFallback:
    """Runs `attempt(device, scale)` and steps down on out-of-memory: full size -> RETRY_SCALE -> the CPU.

    device: where painting starts; to_cpu(): moves the caller's state (network, style targets) to the CPU;
    warn(message): one line for the user per step. `device` and `scale` are what the next frame uses.
    """

    def __init__(self, device: torch.device, to_cpu: Callable[[], None], warn: Callable[[str], None]) -> None:
        self.device, self.scale = torch.device(device), 1.0
        self._to_cpu, self._warn = to_cpu, warn

    def run(self, attempt: Callable[[torch.device, float], T]) -> T:
        while True:
            try:
                return attempt(self.device, self.scale)
            except Exception as error:  # noqa: BLE001 - re-raised unless it is out-of-memory
                if not is_out_of_memory(error):
                    raise
                reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
            # Outside the except block: the traceback (and the failed frame's tensors it holds) is released.
            free_cache(self.device)
            self._step_down(reason)

    def _step_down(self, reason: str) -> None:
        if self.scale > RETRY_SCALE:
            self.scale = RETRY_SCALE
            self._warn(f"out of memory on {self.device} ({reason}); painting at {RETRY_SCALE:.0%} of the size and "
                       "upsampling from now on (less detail); lower --size to avoid it")
        elif self.device.type != "cpu":
            previous, self.device, self.scale = self.device, torch.device("cpu"), 1.0
            self._to_cpu()
            self._warn(f"still out of memory on {previous} at {RETRY_SCALE:.0%} of the size ({reason}); "
                       "continuing on the CPU at full size (much slower)")
        else:
            raise MemoryError(f"out of memory on the CPU even at {RETRY_SCALE:.0%} of the size ({reason})")
