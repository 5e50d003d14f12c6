"""A worker of a fast run on Ray (`--fast --ray`): one process holding the trained network of the fast painter
(pipeline/fast/), painting the pieces the driver sends it (plan.network_plan). No VGG19: a frame is one forward pass
and a blend with the painted frame before (fast/painter.py). Made a Ray actor by the driver (driver.py); a plain
class here, so that it can be tested and used without Ray. Its interface is SegmentWorker's (worker.py).

Frames are HxWx3 BGR uint8 at the processing size.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Iterator

import cv2
import torch

from ..config import VideoSettings
from ..core.devices import pick_device
from ..fast.network import Painter, Shape
from ..fast.painter import NetworkSequence
from ..sequence import Stylized, analyse_frame
from .plan import Segment
from .worker import Done

# Frames a piece that starts inside a shot paints first and does not return. The blend keeps `blend` of the frame
# before (0.8 by default), so a different start fades as 0.8**n, down to what the rounding of every frame to whole
# levels, which the blend carries on, keeps alive: measured, 2-3 levels of 255, from the 5th frame on.
LEAD_FRAMES = 30


def network_state(network: Painter) -> tuple[Shape, dict[str, torch.Tensor]]:
    """What a worker needs to rebuild `network`: its shape and its weights on the CPU (sent through Ray's object
    store)."""
    return network.shape, {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()}


class NetworkWorker:
    """Paints pieces of a video with the network `state` (network_state's). preserve_colors and blend: as for
    NetworkSequence; video: the run's settings (its optical flow, for the blend); threads: torch's and OpenCV's in
    this process; device: "auto" takes the process's GPU when it has one, else the CPU."""

    def __init__(self, state: tuple[Shape, dict[str, torch.Tensor]], preserve_colors: bool, blend: float,
                 video: VideoSettings, threads: int, device: str = "auto") -> None:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        self.device = pick_device(device)
        shape, weights = state
        network = Painter(shape)
        network.load_state_dict(weights)
        self.network, self.preserve_colors, self.blend, self.video = network, preserve_colors, blend, video

    def describe(self) -> tuple[str, int, str]:
        """(host name, process id, device label) of this worker."""
        return socket.gethostname(), os.getpid(), f"{self.device.type} (fast painter)"

    def stylize(self, segment: Segment, frames: dict[int, object], repeats: frozenset[int],
                previous: Stylized | None) -> Iterator[Done]:
        """Paint `segment`: its `lead` frames first, unreturned, then a Done per frame, in order. frames: the input
        frames by index, from the one before the first painted (if in the shot) to the last; previous: the painted
        frame at segment.after (None: the piece starts afresh or with its lead)."""
        sequence = NetworkSequence(self.network, self.device, preserve_colors=self.preserve_colors, blend=self.blend)
        first = segment.start - segment.lead
        sequence.continue_from(previous)
        before = frames.get(first - 1) if first > segment.shot else None
        for index in range(first, segment.stop):
            began = time.monotonic()
            pixels = frames[index]
            item = analyse_frame(index, pixels, before, self.video, repeat=index in repeats and before is not None)
            done = sequence.stylize(item)
            before = pixels
            if index >= segment.start:
                yield Done(done, time.monotonic() - began)

    def stylize_blocks(self, segment: Segment, offset: int, wanted: list[int], repeats: frozenset[int],
                       previous: Stylized | None, anchor: object | None, *blocks: object) -> Iterator[Done]:
        """stylize() with the frames as they come from the driver (SegmentWorker.stylize_blocks' arguments; no
        anchor: the network's pieces are pulled towards nothing)."""
        stacked = [frame for block in blocks for frame in block]
        # Arrays that come through Ray's object store are read-only: torch.from_numpy wants writable memory.
        frames = {index: stacked[index - offset].copy() for index in wanted}
        yield from self.stylize(segment, frames, repeats, previous)
