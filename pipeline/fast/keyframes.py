"""Which frames the optimizer paints for the fast painter, chosen in one pass over the clip's analysed frames.

A keyframe is the first frame of each shot (the scene cuts of sequence.analyse_frame, as a default run finds them),
and, within a shot, a frame where much is in view that the keyframe before did not show: each frame's motion to the
frame before (flow and the pixels it carries over, core/temporal.consistency_masks) is composed frame by frame
back to the last keyframe (temporal.compose_flows), and when the pixels carried all the way fall below
1 - new_content of the frame (a pan, a zoom, something entering), that frame becomes a keyframe, if it is at least
`gap` frames after the last. The composed motion goes with it, so the optimizer can start its painting from the
keyframe before moved along the way (as scaleout/ carries its keyframes): keyframes of a shot share one texture.

Beside the keyframes the pass keeps an even sample of the clip's frames, which the training draws from too, so the
network also sees what no keyframe shows. Frames are HxWx3 BGR uint8 at the processing size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.coherence import Motion
from ..core.temporal import compose_flows
from ..sequence import Item

POOL_BYTES = 64 * 2**20  # the sample of frames kept for the training: at most this much as uint8 (4x as tensors)


@dataclass(frozen=True)
class Keyframe:
    """A frame the optimizer paints: kind "first" or "cut" (a shot's first frame, painted from the photo) or "key"
    (carried from the keyframe before along `motion`, this frame -> that keyframe); why: "first", "cut" or the
    share of new content, e.g. "62% new"."""

    index: int
    pixels: np.ndarray
    kind: str
    why: str
    motion: Motion | None = None


@dataclass
class KeyframeChooser:
    """Feed it every analysed Item of the clip in order (`add`); then `keyframes`, `pool` and `shots` hold the result.

    new_content: the share of a frame (0..1) not carried from the last keyframe that makes it a keyframe; gap: the
    fewest frames between two keyframes of one shot; pool_frames: about how many frames to keep for the training
    (fewer for large frames: at most POOL_BYTES)."""

    new_content: float
    gap: int
    pool_frames: int
    keyframes: list[Keyframe] = field(default_factory=list)
    pool: list[np.ndarray] = field(default_factory=list)
    shots: int = 0
    frames: int = 0
    _path: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (flow, reliable, carried) to the last keyframe
    _stride: int = 1

    def add(self, item: Item) -> None:
        self.frames += 1
        self._sample(item)
        if item.kind in ("first", "cut"):
            self.shots += 1
            self.keyframes.append(Keyframe(item.index, item.pixels, item.kind, item.kind))
            self._path = None
            return
        motion = item.motion
        if item.kind != "warm" or motion is None or motion.mask is None or motion.carried is None:
            return  # a repeated picture moves nothing; without flow (warp off) only the shots make keyframes
        step = (motion.flow, motion.mask, motion.carried)
        self._path = step if self._path is None else compose_flows([step, self._path])
        new = 1.0 - float(np.mean(self._path[2]))
        if new > self.new_content and item.index - self.keyframes[-1].index >= self.gap:
            self.keyframes.append(Keyframe(item.index, item.pixels, "key", f"{new:.0%} new", Motion(*self._path)))
            self._path = None

    def _sample(self, item: Item) -> None:
        """Keep every stride-th frame; when twice the frames wanted are kept, drop every other and double the
        stride: an even sample of a clip of any length, in one pass, without knowing its length."""
        wanted = max(2, min(self.pool_frames, POOL_BYTES // max(1, item.pixels.nbytes)))
        if item.index % self._stride == 0:
            self.pool.append(item.pixels)
        if len(self.pool) >= 2 * wanted:
            self.pool = self.pool[::2]
            self._stride *= 2
