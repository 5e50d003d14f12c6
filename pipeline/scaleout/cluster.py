"""Starting or joining Ray for a run, quietly and with its token authentication on, and sharing its resources out as
workers. Ray is imported here only, when a run asks for it (the `ray` extra: pip install "stylize-video[ray]").

A local instance is started with `address="local"` (a plain ray.init() would silently join whatever cluster runs on
the machine) and a token made for the run, kept in this process's environment, which Ray's processes inherit: token
authentication stays on, and no token file is written. A cluster is joined by address with RAY_AUTH_MODE=token; its
token comes from the user (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, as for Ray's own tools).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from typing import Iterator

from ..config import RaySettings
from ..errors import DeviceError, UsageError

# Ray prints these two on stdout when a worker dies, whatever log_to_driver says; we report it ourselves. Read by Ray
# when it is imported.
_QUIET_LINES = r"A worker died or was killed|Task \S+ failed\. There are"
EXTRA = 'pip install "stylize-video[ray]" (in a clone: pip install ".[ray]")'


def check_ray_installed() -> None:
    """UsageError naming the extra when Ray is not installed; imports nothing."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except ValueError:  # sys.modules["ray"] is None: imports of it are blocked
        found = False
    if not found:
        raise UsageError(f"--ray needs Ray, an optional extra: {EXTRA}")


def import_ray(address: str | None = None):
    """The ray module, imported with the settings it reads at import: quiet, token authentication on and, for a
    local instance (address None), a token made for this run unless the user gave one."""
    check_ray_installed()
    os.environ.setdefault("RAY_DEDUP_LOGS_SKIP_REGEX", _QUIET_LINES)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if address is None and "ray" not in sys.modules and not (
            os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)  # this run's own: nothing written to ~/.ray
    import ray

    return ray


@dataclass(frozen=True)
class Cluster:
    """Where a run's workers run. where: "a local Ray instance" or the address joined; cpus and gpus: what Ray
    offers there; started_in: seconds ray.init took (0 when Ray was running in this process already)."""

    where: str
    cpus: int
    gpus: int
    started_in: float


def _address(settings: RaySettings) -> str | None:
    """The cluster to join, or None for a local instance started for the run."""
    return settings.address or os.environ.get("RAY_ADDRESS") or None


@contextlib.contextmanager
def connected(settings: RaySettings) -> Iterator[tuple[object, Cluster]]:
    """(the ray module, where it runs) for the block: Ray joined (an address, or RAY_ADDRESS), or started on this
    machine and stopped after. A Ray already initialized in this process (a library caller's, a test's) is used as
    it is and left running."""
    address = _address(settings)
    ray = import_ray(address)
    if ray.is_initialized():
        yield ray, _resources(ray, "the Ray instance of this process", 0.0)
        return
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    began = time.monotonic()
    try:
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=settings.verbose,
                 logging_level=logging.INFO if settings.verbose else logging.ERROR)
    except (ConnectionError, ray.exceptions.AuthenticationError) as error:
        raise DeviceError(f"could not join the Ray cluster at '{address}' ({type(error).__name__}): is it running, "
                          "and is its token in RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token?") from None
    finally:
        for number, handler in handlers.items():  # ray.init replaces SIGTERM's with its own sys.exit
            with contextlib.suppress(ValueError, TypeError):  # not the main thread, or a handler Ray cannot hold
                signal.signal(number, handler)
    try:
        yield ray, _resources(ray, f"the Ray cluster at {address}" if address else "a local Ray instance",
                              time.monotonic() - began)
    finally:
        ray.shutdown()  # stops a local instance; only disconnects from a cluster


def _resources(ray, where: str, started_in: float) -> Cluster:
    available = ray.cluster_resources()
    return Cluster(where, int(available.get("CPU", 0)), int(available.get("GPU", 0)), started_in)


@dataclass(frozen=True)
class Workers:
    """How many workers, each with `gpus` GPUs (0 or 1) and `cpus` CPU cores (Ray's num_cpus), torch and OpenCV
    running `threads` threads in each."""

    count: int
    gpus: int
    cpus: float
    threads: int


def share(cluster: Cluster, settings: RaySettings, device: str) -> Workers:
    """One worker per GPU (never asking for a GPU where there is none: such a request waits forever), else the CPU
    cores shared out: settings.threads each (default: evenly over the workers)."""
    limit = settings.workers
    if device in ("auto", "cuda") and cluster.gpus > 0:
        count = cluster.gpus if limit is None else min(limit, cluster.gpus)
        return Workers(count, 1, 1, settings.threads or 1)
    if device not in ("auto", "cpu"):
        raise DeviceError(f"--device {device} on Ray: {cluster.where} has no GPU")
    if cluster.cpus < 1:
        raise DeviceError(f"{cluster.where} offers no CPU to run workers on")
    if settings.threads is not None:
        count = max(1, cluster.cpus // settings.threads)
    else:
        count = cluster.cpus
    count = count if limit is None else max(1, min(limit, count))
    threads = settings.threads or max(1, cluster.cpus // count)
    return Workers(count, 0, min(threads, cluster.cpus), threads)


def chunk_frames(chunk_seconds: float, fps: float) -> int:
    """The most frames of one shot a worker gets."""
    return max(1, math.floor(chunk_seconds * fps))
