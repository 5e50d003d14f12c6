"""A worker: one process holding VGG19 and the style targets, stylizing the segments the driver sends it. Made a Ray
actor by the driver (driver.py); a plain class here, so that it can be tested and used without Ray."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Iterator

import cv2
import torch

from ..config import StyleSettings, VideoSettings
from ..core.devices import device_label, pick_device
from ..events import FrameDone, StylizeWarning
from ..sequence import SequenceStylizer, Stylized, StylizerFactory, make_stylizer
from .plan import Segment
from .segment import SegmentInput, stylize_segment


@dataclass(frozen=True)
class Done:
    """A stylized frame, with the seconds it took on its worker (FrameDone.seconds) and its loss."""

    frame: Stylized
    seconds: float


@dataclass(frozen=True)
class Said:
    """A warning the worker's stylizer gave (out of memory: stylized smaller, or on the CPU)."""

    message: str


class SegmentWorker:
    """Stylizes segments (`stylize`, a generator of Done and Said records) with one stylizer made once.

    styles: [(1x3xHxW RGB image, blend weight)]; threads: torch's and OpenCV's threads in this process; device:
    "auto" takes the process's GPU when it has one (Ray gives a GPU worker exactly one), else the CPU."""

    def __init__(self, styles: list[tuple[torch.Tensor, float]], settings: StyleSettings, video: VideoSettings,
                 seam_frames: int, threads: int, device: str = "auto", init_image: torch.Tensor | None = None,
                 stylizer: StylizerFactory | None = None) -> None:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        self.device = pick_device(device)
        self.label = device_label(self.device, settings.optim.amp)
        self.seam_frames = seam_frames
        self._said: list[object] = []
        engine = make_stylizer(stylizer, [(image.to(self.device), w) for image, w in styles], settings, self.device)
        init = None if init_image is None else init_image.to(self.device)
        self.sequence = SequenceStylizer(engine, settings, video, self.device, init_image=init,
                                         emit=self._said.append)

    def describe(self) -> tuple[str, int, str]:
        """(host name, process id, device label) of this worker."""
        return socket.gethostname(), os.getpid(), self.label

    def stylize(self, segment: Segment, frames: dict[int, object], repeats: frozenset[int],
                previous: Stylized | None, anchor: object | None) -> Iterator[Done | Said]:
        """Stylize `segment` (see segment.SegmentInput for the arguments); yields a Done per frame, in order, after
        the Said records its stylizing gave."""
        # Arrays that come through Ray's object store are read-only: torch.from_numpy wants writable memory.
        pixels = {index: frame.copy() for index, frame in frames.items()}
        work = SegmentInput(segment, pixels, repeats, previous, None if anchor is None else anchor.copy())
        self._said.clear()
        for stylized in stylize_segment(self.sequence, work, self.seam_frames):
            seconds = sum(e.seconds for e in self._said if isinstance(e, FrameDone))  # a keyframe's walk included
            yield from (Said(e.message) for e in self._said if isinstance(e, StylizeWarning))
            self._said.clear()
            yield Done(stylized, seconds)

    def stylize_blocks(self, segment: Segment, offset: int, wanted: list[int], repeats: frozenset[int],
                       previous: Stylized | None, anchor: object | None,
                       *blocks: object) -> Iterator[Done | Said]:
        """stylize() with the frames as they come from the driver: `blocks` are NxHxWx3 arrays of consecutive frames
        from index `offset` on, of which the frames `wanted` are taken."""
        stacked = [frame for block in blocks for frame in block]
        frames = {index: stacked[index - offset] for index in wanted}
        yield from self.stylize(segment, frames, repeats, previous, anchor)
