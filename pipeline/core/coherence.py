"""Temporal coherence for a stream of frames, used by videos and live sessions alike: one analysis of a frame against
the one before (first of a shot, scene cut, or warm with its motion) and one warm start (the previous stylized frame
moved along the motion, new content filled, and the temporal loss towards it).

Follows Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016): each frame after the first of a
shot starts from the previous stylized frame warped along the optical flow, and a temporal loss pulls it towards that
warped frame where the flow is reliable. Frames are HxWx3 BGR uint8 arrays; images are 1x3xHxW float RGB tensors in
[0, 1] (see temporal.py for the flow convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import VideoSettings
from .stylizer import ExtraLoss
from .temporal import compose_flows, consistency_masks, estimate_flow, fill_new_content, scene_cut, temporal_term, warp


@dataclass(frozen=True)
class Motion:
    """From the previous frame to this one: flow (HxWx2, this frame -> previous, see temporal.py), the reliable
    pixels (HxW in [0, 1]) and the carried ones (HxW, 0 where the content is new); the masks are None when they
    were not asked for (no temporal loss)."""

    flow: np.ndarray
    mask: np.ndarray | None = None
    carried: np.ndarray | None = None


def analyse(previous: np.ndarray | None, frame: np.ndarray, *, detect_cuts: bool = True, flow: bool = True,
            masks: bool = True) -> tuple[str, Motion | None]:
    """("first" | "cut" | "warm", the motion for a warm start) of `frame` after the `previous` frame (both HxWx3 BGR
    uint8 of one size; None: `frame` starts a stream). flow=False skips the flow (a frame whose stylized frame is
    already known only needs its kind); masks=False skips the forward-backward check (no temporal loss)."""
    if previous is None:
        return "first", None
    if detect_cuts and scene_cut(previous, frame):
        return "cut", None
    if not flow:
        return "warm", None
    flow_back = estimate_flow(frame, previous)
    if not masks:
        return "warm", Motion(flow_back)
    return "warm", Motion(flow_back, *consistency_masks(flow_back, estimate_flow(previous, frame)))


def motions_to_last(path: list[np.ndarray]) -> list[Motion]:
    """For each frame of `path` (HxWx3 BGR uint8 frames of one shot, in the order the motion is followed) but the
    last: its motion to the last frame through the frames between, composed step by step (temporal.compose_flows),
    masks included. A warm start from a frame several frames away: flow estimated between distant frames fails
    where much moves, flows between neighbours do not."""
    steps = []
    for frame, after in zip(path, path[1:]):
        flow = estimate_flow(frame, after)
        steps.append((flow, *consistency_masks(flow, estimate_flow(after, frame))))
    motions, composed = [], None
    for step in reversed(steps):
        composed = step if composed is None else compose_flows([step, composed])
        motions.append(Motion(*composed))
    return motions[::-1]


def frame_budget(video: VideoSettings, unreliable: float, motion: float) -> int:
    """Adaptive effort: iterations for a warm frame whose flow leaves `unreliable` (0..1) of its pixels unreliable
    and moves by `motion` (mean flow over the long side), see temporal.motion_stats.

    Linear from min_frame_iterations (a still scene: the warped start is nearly right) up to frame_iterations,
    reached when either cue reaches its effort_* setting: new pixels must be painted from the content, and large
    motion resamples the whole frame (bilinear warping blurs it). The optimizer may still stop sooner on a plateau.
    """
    floor = min(video.min_frame_iterations, video.frame_iterations)
    need = min(1.0, max(unreliable / video.effort_unreliable, motion / video.effort_motion))
    return floor + round((video.frame_iterations - floor) * need)


def warm_start(previous: torch.Tensor, content: torch.Tensor, motion: Motion | None, temporal_weight: float,
               grey: bool) -> tuple[torch.Tensor, ExtraLoss | None]:
    """(start image, temporal loss term) of a warm frame: `previous` (the stylized frame before, 1x3xHxW) moved along
    `motion` (None: taken as still), with the new content filled from `content` (fill_new_content), and the temporal
    loss of weight `temporal_weight` towards the moved frame where the flow is reliable (None for weight 0). grey: the
    stylizer optimizes the luminance only (preserve_colors), so the loss is taken in luminance too."""
    target = warp(previous, motion.flow) if motion is not None else previous
    carried = motion.carried if motion is not None else None
    start = fill_new_content(target, content, carried) if carried is not None else target
    if temporal_weight <= 0:
        return start, None
    mask = motion.mask if motion is not None and motion.mask is not None else torch.ones(target.shape[2:])
    return start, temporal_term(temporal_weight, target, mask, grey=grey)
