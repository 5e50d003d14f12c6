"""The time a video run announces before its first frame: VGG19 passes the frames will take, times one pass timed
on this device."""

from __future__ import annotations

import statistics
import time

import torch

from .config import EXTRA_EVALS_PER_RUN, EXTRA_EVALS_PER_WARM_RUN, OptimSettings, VideoSettings
from .core.geometry import scale_schedule
from .core.stylizer import coarse_caps
from .sequence import FrameStylizer, first_frame_iterations

# Passes timed after a first one, which also sets the kernels and the memory up. Their median, not the fastest: on a
# machine other programs share, the fastest pass may fall in a moment when they paused, which the run will not see.
TIMED_PASSES = 3


def planned_evaluations(frames: int, resume_from: int, size: tuple[int, int], optim: OptimSettings,
                        video: VideoSettings) -> float:
    """Forward/backward passes, in passes at `size` = (width, height), that stylizing frames resume_from..frames-1
    will take: the first frame's coarse-to-fine runs (coarse passes count by their pixels, each scale at its cap),
    then one run per warm
    frame. A guess where adaptive effort decides: a warm frame is taken to need the middle of its iteration range
    (on the bikes sample the warm frames averaged 20.1 iterations of 10-30)."""
    width, height = size
    extra, warm_extra = EXTRA_EVALS_PER_RUN.get(optim.optimizer, 0), EXTRA_EVALS_PER_WARM_RUN.get(optim.optimizer, 0)
    scales = scale_schedule(height, width, optim.max_scales, optim.min_scale_side)
    # Coarse scales may settle sooner than their caps.
    caps = coarse_caps(optim.coarse_iterations, len(scales) - 1) + (first_frame_iterations(optim, video),)
    first = sum((cap + extra) * h * w for cap, (h, w) in zip(caps, scales)) / (height * width)  # a run per scale
    warm_frames = max(0, frames - max(1, resume_from))
    per_warm = (min(video.min_frame_iterations, video.frame_iterations) + video.frame_iterations) / 2
    return (first if resume_from == 0 else 0) + warm_frames * (per_warm + warm_extra)


def seconds_per_pass(stylizer: FrameStylizer, device: torch.device, size: tuple[int, int]) -> float:
    """Seconds of one forward/backward pass of the stylizer's objective at `size` = (width, height) on `device`."""
    width, height = size
    gray = torch.full((1, 3, height, width), 0.5, device=device)
    objective = stylizer.objective(gray)
    image = gray.clone().requires_grad_(True)
    timings = []
    for _ in range(1 + TIMED_PASSES):
        began = time.perf_counter()
        objective(image).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()  # the kernels run asynchronously: wait, or only their launch is timed
        timings.append(time.perf_counter() - began)
    return statistics.median(timings[1:])


def estimate_seconds(stylizer: FrameStylizer, device: torch.device, frames: int | None, resume_from: int,
                     size: tuple[int, int], optim: OptimSettings, video: VideoSettings) -> float | None:
    """Rough seconds for stylizing frames resume_from..frames-1 at `size` = (width, height); None if the frame
    count is unknown."""
    if frames is None:
        return None
    return planned_evaluations(frames, resume_from, size, optim, video) * seconds_per_pass(stylizer, device, size)
