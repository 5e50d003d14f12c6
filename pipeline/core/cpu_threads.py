"""How many CPU threads the network (torch) and OpenCV use: the CPUs this process may use that other programs leave
free when the run starts.

Why not all of them, as torch does by default: its OpenMP threads meet at the end of every layer, so a thread whose
core another program keeps busy makes the others wait for it. On a 2-core CPU with one core held by another program, a
10-frame 32 px video took 35.0 s with torch's 2 threads and 11.8 s with one (as reported; README, "Speed", has
bench/threads.py's figures).
The load average says how many of the machine's CPUs are busy; it is read once, at the start of a run.
"""

from __future__ import annotations

import math
import os

import cv2
import torch

# torch's own choice before any run changed it (physical cores, or OMP_NUM_THREADS): never exceeded.
TORCH_DEFAULT = torch.get_num_threads()


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def busy_cpus(load: float, usable: int, machine: int) -> int:
    """How many of our `usable` CPUs other programs keep busy, from the 1-minute load average `load` of a machine
    with `machine` CPUs, taken as spread evenly over them (in a container the load is the whole host's). Rounded half
    up, to the side of fewer threads: one thread too few costs at most the speed-up that thread would bring, one too
    many costs the stalls (3x on a half-busy 2-core CPU)."""
    return math.floor(load * usable / max(machine, usable) + 0.5)


def automatic_threads(usable: int, machine: int, load: float, ceiling: int, reserved: int = 0) -> int:
    """The CPUs free for the network: `usable` less the busy ones (busy_cpus) and `reserved` for our own other
    threads, at most `ceiling`, at least 1."""
    return max(1, min(ceiling, usable - busy_cpus(load, usable, machine) - reserved))


def default_threads(reserved: int = 0) -> int:
    """OMP_NUM_THREADS if the user set it (torch follows it too), else automatic_threads for this machine now."""
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    if asked.isdigit() and int(asked) >= 1:
        return int(asked)
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average: take the machine as idle
        load = 0.0
    return automatic_threads(usable_cpus(), os.cpu_count() or 1, load, TORCH_DEFAULT, reserved)


def use_threads(requested: int | None, reserved: int = 0) -> int:
    """Set torch's and OpenCV's thread count to `requested` (None: default_threads(reserved)); returns it. Both are
    process-wide settings: a later run sets its own. torch's inter-op pool is left alone: it runs only work a model
    forks off (torch.jit.fork), which VGG19 does not, so its threads sleep."""
    count = requested if requested is not None else default_threads(reserved)
    torch.set_num_threads(count)
    cv2.setNumThreads(count)
    return count
