"""Stylizing one segment of a video (plan.Segment): what a worker does with its frames.

The frames are analysed and stylized as in one process (sequence.py): a segment that starts a shot stylizes its first
frame afresh, and one that continues after a stylized frame warm-starts from it, so a shot stylized whole equals the
one-process run's. Where a shot was split:
- a keyframe starts from the keyframe before it, several frames back, carried to it frame by frame with a few
  iterations each (a walk), then gets KEY_ITERATIONS times a warm frame's budget: the keyframes carry one texture
  through the shot, as the frames between them will;
- a piece's last `seam_frames` frames are also pulled towards the next keyframe, moved into each frame the same
  way, with a weight that grows towards the boundary while the pull towards the frame before shrinks: what is left
  of the difference is spread over those frames instead of jumping at the boundary.
This is Ruder, Dosovitskiy & Brox's (2018) temporal constraint towards both neighbours, restricted to the frames
before a split and made in the same forward pass (they iterate passes over the whole video).

Frames are HxWx3 BGR uint8 at the processing size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch

from ..core.coherence import motions_to_last
from ..core.stylizer import ExtraLoss
from ..core.temporal import temporal_term, warp
from ..media.frames import bgr_to_tensor
from ..sequence import Item, SequenceStylizer, Stylized, analyse_frame
from .plan import Segment

KEY_ITERATIONS = 2  # a keyframe's budget, in warm frames' (video.frame_iterations)
WALK_ITERATIONS = 3  # for each frame a keyframe's walk goes through
SEAM_PULL = 2.0  # the pull towards the next keyframe at the boundary, in temporal weights


@dataclass(frozen=True)
class SegmentInput:
    """What a worker needs for a segment: input frames by index (the segment's, its shot's first frame, and those
    from `after` and up to `before`), the repeated pictures among them, the stylized frame at `after` and the
    stylized keyframe at `before` (when the segment has them)."""

    segment: Segment
    frames: dict[int, np.ndarray]
    repeats: frozenset[int]
    previous: Stylized | None = None
    anchor: np.ndarray | None = None


def _walk(sequence: SequenceStylizer, work: SegmentInput) -> None:
    """Carry the keyframe before (work.previous, at segment.after) to the frame before this keyframe, frame by frame
    with WALK_ITERATIONS each: the texture moves along the motion and new content is filled as the frames between
    will have it, so the keyframe starts close to where the piece before it will arrive."""
    segment, frames, video = work.segment, work.frames, sequence.video
    for index in range(segment.after + 1, segment.start):
        item = analyse_frame(index, frames[index], frames[index - 1], video, repeat=index in work.repeats)
        sequence.stylize(replace(item, iterations=WALK_ITERATIONS) if item.kind == "warm" else item)


def _pulls(work: SegmentInput, seam_frames: int, device: torch.device, weight: float,
           grey: bool) -> dict[int, tuple[ExtraLoss, float]]:
    """For each of the segment's last seam_frames frames: (the pull towards the next keyframe, the scale of the
    temporal loss towards the frame before)."""
    segment = work.segment
    if work.anchor is None or segment.before is None or seam_frames == 0 or weight <= 0:
        return {}
    first = max(segment.start, segment.stop - seam_frames)
    path = [work.frames[index] for index in range(first, segment.stop + 1)]
    anchor = bgr_to_tensor(work.anchor, device)
    pulls = {}
    for index, motion in zip(range(first, segment.stop), motions_to_last(path)):
        # Where the two quadratic terms balance, a pixel sits a fraction f = SEAM_PULL s / (SEAM_PULL s + 1 - s) of
        # the way from the frame before to the keyframe; s is chosen so that f grows by equal steps, 1/(seam + 1)
        # a frame: equal steps are the smallest worst step (a linear s moved the first frame of the window most).
        towards = (seam_frames - (segment.stop - index) + 1) / (seam_frames + 1)
        share = towards / (SEAM_PULL - (SEAM_PULL - 1) * towards)
        mask = motion.mask if motion.mask is not None else np.ones(motion.flow.shape[:2], np.float32)
        pulls[index] = (temporal_term(SEAM_PULL * weight * share, warp(anchor, motion.flow), mask, grey=grey),
                        1.0 - share)
    return pulls


def stylize_segment(sequence: SequenceStylizer, work: SegmentInput, seam_frames: int) -> Iterator[Stylized]:
    """Stylize the frames of `work.segment` in order with `sequence` (whose stylizer, settings and events are the
    worker's); yields each stylized frame as it is done."""
    segment, frames, video = work.segment, work.frames, sequence.video
    sequence.set_reference(frames[segment.shot])
    sequence.continue_from(work.previous)
    pulls = _pulls(work, seam_frames, sequence.device, video.temporal_weight, sequence.settings.preserve_colors)
    if segment.key and segment.after is not None and segment.after < segment.start - 1:
        _walk(sequence, work)
    previous = frames[segment.start - 1] if segment.after is not None else None
    for index in range(segment.start, segment.stop):
        pixels = frames[index]
        if previous is None:
            item = Item(index, pixels, "first" if index == 0 else "cut")
        else:
            item = analyse_frame(index, pixels, previous, video, repeat=index in work.repeats)
            if segment.key and item.kind == "warm":
                item = replace(item, kind="key", iterations=KEY_ITERATIONS * video.frame_iterations)
        pull, scale = pulls.get(index, (None, 1.0)) if item.kind == "warm" else (None, 1.0)
        yield sequence.stylize(item, pull=pull, temporal_scale=scale)
        previous = pixels

