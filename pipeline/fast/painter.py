"""Painting a video's frames with the trained network: one forward pass a frame, then a light blend with the frame
before moved along the motion.

Each frame is independent for the network (Texler et al. 2020 leave temporal consistency implicit), but a small
network's output flickers where the frame's noise or detail changes: where the optical flow is reliable
(core/temporal.consistency_masks), `blend` of the previous painted frame, warped into this one, is mixed in
(0: none). The blend is recursive, so its memory fades geometrically (0.8: about five frames) and new content
(unreliable flow) is the network's alone. bench/fast.py measures it against no blend.

The same interface as sequence.SequenceStylizer, so a video run (video.py) drives it unchanged. Frames are HxWx3
BGR uint8 at the processing size; inside, 1x3xHxW float32 RGB in [0, 1].
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch

from ..core.color import keep_colors
from ..core.temporal import mask_to_tensor, warp
from ..events import FrameDone, FrameStarted
from ..media.frames import bgr_to_tensor, tensor_to_bgr
from ..sequence import Item, Stylized
from .network import Painter


class NetworkSequence:
    """Paints Items in order with `network`. preserve_colors: keep each frame's colours (only the luminance is the
    network's); blend: see the module's docstring. Events FrameStarted and FrameDone (loss NaN: no objective is
    computed) go to `emit`."""

    def __init__(self, network: Painter, device: torch.device, *, preserve_colors: bool, blend: float,
                 emit: Callable[[object], None] = lambda event: None) -> None:
        self.network = network.to(device).eval()
        self.device, self.preserve_colors, self.blend, self.emit = device, preserve_colors, blend, emit
        self.last: Stylized | None = None
        # The last painted frame as written (through uint8), so that a resumed run (continue_from, from the frame's
        # PNG) blends exactly as an uninterrupted one.
        self._previous: torch.Tensor | None = None

    def set_reference(self, pixels: np.ndarray) -> None:
        """Nothing to set: the network keeps no colour reference (sequence.SequenceStylizer's interface)."""

    def continue_from(self, stylized: Stylized | None) -> None:
        self.last = stylized
        self._previous = None if stylized is None else bgr_to_tensor(stylized.pixels, self.device)

    @torch.inference_mode()
    def paint(self, content: torch.Tensor) -> torch.Tensor:
        """The network's painting of one 1x3xHxW frame, its colours kept with preserve_colors."""
        painted = self.network(content)
        return keep_colors(painted, content) if self.preserve_colors else painted

    def stylize(self, item: Item, total: int | None = None) -> Stylized:
        """Paint `item` (total: the frame count for the events, None if unknown)."""
        began = time.monotonic()
        self.emit(FrameStarted(item.index, total, item.kind, 0))
        if item.kind == "repeat" and self.last is not None:  # the picture before again: the same painting
            self.last = Stylized(item.index, self.last.pixels, math.nan, None)
        else:
            painted = self._blended(item, self.paint(bgr_to_tensor(item.pixels, self.device)))
            self.continue_from(Stylized(item.index, tensor_to_bgr(painted), math.nan, None))
            assert self.last is not None
        self.emit(FrameDone(item.index, total, math.nan, time.monotonic() - began))
        return self.last

    @torch.inference_mode()
    def _blended(self, item: Item, painted: torch.Tensor) -> torch.Tensor:
        motion = item.motion
        if self.blend <= 0 or self._previous is None or item.kind != "warm" or motion is None or motion.mask is None:
            return painted
        weight = self.blend * mask_to_tensor(motion.mask, self.device)
        return weight * warp(self._previous, motion.flow) + (1 - weight) * painted
