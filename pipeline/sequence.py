"""Stylizing a sequence of frames one after another: the seam between a video run and the stylizer.

A video run decodes frames, analyses each against the one before (`analyse_frame`, in its reader thread) and hands the
items to a `SequenceStylizer`, which stylizes them in order: the first frame of a shot coarse to fine from the content,
each later frame warm-started from the stylized frame before, moved along the motion (core/coherence.py), with its
L-BFGS first step taken from the frame before (core/optimize.py). Where the sequence starts after frames stylized
before (a resumed run, or a segment of a video painted elsewhere), `continue_from` gives it the last of them.

The stylizer it uses is an argument (`StylizerFactory`), so a test passes a fake and a worker builds its own.
Frames are HxWx3 BGR uint8 arrays at the processing size; inside, 1x3xHxW float RGB tensors in [0, 1].
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from .config import LossSettings, OptimSettings, StyleSettings, VideoSettings
from .core.coherence import Motion, analyse, frame_budget, warm_start
from .core.oom import MemoryFallback
from .core.stylizer import ExtraLoss, Stylizer, resize
from .core.temporal import motion_stats
from .events import FrameDone, FrameStarted, ScaleDone, StylizeWarning
from .media.frames import bgr_to_tensor, tensor_to_bgr


class FrameStylizer(Protocol):
    """What a sequence needs of a stylizer (core.stylizer.Stylizer is one). Images are 1x3xHxW RGB in [0, 1]."""

    def stylize(self, content: torch.Tensor, *, init: torch.Tensor | None = None, iterations: int | None = None,
                coarse_to_fine: bool = True, extra_loss: ExtraLoss | None = None,
                on_event: Callable[[object], None] | None = None, stop: threading.Event | None = None,
                scale: float = 1.0, first_step: float | None = None) -> torch.Tensor: ...

    def set_color_reference(self, content: torch.Tensor) -> None: ...

    def objective(self, content: torch.Tensor, extra: ExtraLoss | None = None,
                  targets_size: tuple[int, int] | None = None,
                  weights: LossSettings | None = None) -> Callable[[torch.Tensor], torch.Tensor]: ...

    def to(self, device: torch.device | str) -> FrameStylizer: ...


# (styles: [(1x3xHxW image, blend weight)], settings, device) -> a stylizer holding VGG19 and the style targets.
# The runs take one (None: core.stylizer.Stylizer), so a test passes a fake instead of patching.
StylizerFactory = Callable[[list[tuple[torch.Tensor, float]], StyleSettings, torch.device], FrameStylizer]


def make_stylizer(factory: StylizerFactory | None, styles: list[tuple[torch.Tensor, float]], settings: StyleSettings,
                  device: torch.device) -> FrameStylizer:
    """The stylizer `factory` makes (None: the optimizer's, core.stylizer.Stylizer)."""
    return (factory or Stylizer)(styles, settings, device)


@dataclass(frozen=True)
class Item:
    """One frame to stylize: pixels at the processing size; kind "first", "cut", "warm", "repeat" (the picture
    before again, in a variable-rate file) or "key" (where a video is split for several workers, see scaleout/: a
    frame warm-started from a frame further back, along `motion`, keeping the shot's colour reference); motion from
    the frame it starts from when a warm start needs it; iterations: a warm frame's budget (adaptive effort), None
    for the others."""

    index: int
    pixels: np.ndarray
    kind: str
    motion: Motion | None = None
    iterations: int | None = None


@dataclass(frozen=True)
class Stylized:
    """A stylized frame: pixels HxWx3 BGR uint8 (what is checkpointed and encoded), the loss at the end (NaN when
    read back from a checkpoint) and L-BFGS's step scale (core.optimize.Optimized; None for Adam)."""

    index: int
    pixels: np.ndarray
    loss: float
    step_scale: float | None


def analyse_frame(index: int, pixels: np.ndarray, previous: np.ndarray | None, video: VideoSettings, *,
                  repeat: bool = False, stylized: bool = False) -> Item:
    """The Item for frame `index` (HxWx3 BGR uint8) after the input frame `previous` (None: it starts the sequence).
    repeat: the source repeats the picture before; stylized: the frame is stylized already (resumed), so only its
    kind is needed, not its flow."""
    if previous is None:
        return Item(index, pixels, "first")
    if repeat:  # the same picture again: its stylized frame is the frame before's
        return Item(index, pixels, "repeat")
    kind, motion = analyse(previous, pixels, detect_cuts=video.detect_cuts, flow=video.warp and not stylized)
    if kind != "warm" or stylized:
        return Item(index, pixels, kind)
    if motion is None:  # warp off, for comparisons: no flow, so a fixed budget
        return Item(index, pixels, "warm", iterations=video.frame_iterations)
    return Item(index, pixels, "warm", motion, frame_budget(video, *motion_stats(motion.flow, motion.mask)))


class SequenceStylizer:
    """Stylizes Items in order, carrying what a warm frame starts from. Events (FrameStarted, the optimizer's,
    FrameDone, StylizeWarning for a step down after running out of memory) go to `emit`; `stop` ends a frame between
    iterations (Interrupted). init_image: an --init image (1x3xHxW), the start of each first frame of a shot."""

    def __init__(self, stylizer: FrameStylizer, settings: StyleSettings, video: VideoSettings, device: torch.device,
                 *, init_image: torch.Tensor | None = None, emit: Callable[[object], None] = lambda event: None,
                 stop: threading.Event | None = None) -> None:
        self.stylizer, self.settings, self.video, self.device = stylizer, settings, video, device
        self.init_image, self.emit, self.stop = init_image, emit, stop
        self.memory = MemoryFallback(device, self._to_cpu, lambda message: emit(StylizeWarning(message)))
        self.last: Stylized | None = None  # the stylized frame before, where a warm frame starts
        self._previous: torch.Tensor | None = None  # last.pixels as a tensor on self.device

    def _to_cpu(self) -> None:
        self.device = torch.device("cpu")
        self.stylizer.to(self.device)

    def set_reference(self, pixels: np.ndarray) -> None:
        """The first frame of a shot (HxWx3 BGR uint8): the colour reference with preserve_colors (a no-op
        without). A frame stylized fresh sets it itself; a sequence resumed mid-shot is given it here."""
        self.stylizer.set_color_reference(bgr_to_tensor(pixels, self.device))

    def continue_from(self, stylized: Stylized | None) -> None:
        """The frame before the next one was stylized before (read back from a checkpoint, or by another worker):
        warm-start from it, as an uninterrupted sequence would. None: the next frame starts afresh."""
        self.last = stylized
        self._previous = None if stylized is None else bgr_to_tensor(stylized.pixels, self.device)

    def stylize(self, item: Item, total: int | None = None, pull: ExtraLoss | None = None,
                temporal_scale: float = 1.0) -> Stylized:
        """Stylize `item` (total: the frame count for the events, None if unknown). A warm frame's objective can
        take one more term, `pull` (image -> scalar), and its temporal loss towards the frame before can be scaled
        by `temporal_scale`: where a split video's pieces meet (scaleout/segment.py)."""
        if item.kind == "repeat" and self.last is not None:
            # Stylized again it would cost a warm frame and differ a little: a still picture that shimmers.
            self.emit(FrameStarted(item.index, total, "repeat", 0))
            self.emit(FrameDone(item.index, total, self.last.loss, 0.0))
            self.last = Stylized(item.index, self.last.pixels, self.last.loss, self.last.step_scale)
            return self.last
        # A keyframe with a motion is warm-started from a keyframe further back (scaleout/segment.py).
        warm = self._previous is not None and (item.kind == "warm" or (item.kind == "key" and item.motion is not None))
        iterations = (item.iterations or self.video.frame_iterations) if warm else first_frame_iterations(
            self.settings.optim, self.video)
        self.emit(FrameStarted(item.index, total, item.kind, iterations))
        began = time.monotonic()
        scales: list[ScaleDone] = []

        def relay(event: object) -> None:
            if isinstance(event, ScaleDone):
                scales.append(event)
            self.emit(event)

        def attempt(device: torch.device, scale: float) -> torch.Tensor:
            return self._attempt(item, warm, iterations, relay, device, scale, pull, temporal_scale)

        bgr = tensor_to_bgr(self.memory.run(attempt))
        loss = scales[-1].loss if scales else math.nan
        self.emit(FrameDone(item.index, total, loss, time.monotonic() - began))
        self.continue_from(Stylized(item.index, bgr, loss, scales[-1].step_scale if scales else None))
        assert self.last is not None
        return self.last

    def _attempt(self, item: Item, warm: bool, iterations: int, relay: Callable[[object], None],
                 device: torch.device, scale: float, pull: ExtraLoss | None, temporal_scale: float) -> torch.Tensor:
        """One try on `device` at `scale` of the size (1 unless memory ran out; see core/oom.py)."""
        options: dict = {"scale": scale} if scale != 1.0 else {}  # the usual call stays the usual call
        content = bgr_to_tensor(item.pixels, device)
        if not warm:
            if item.kind != "key":  # one colour transform a shot (none without preserve_colors)
                self.stylizer.set_color_reference(content)
            if self.init_image is not None:
                options["init"] = resize(self.init_image.to(device), tuple(content.shape[2:]))
            return self.stylizer.stylize(content, iterations=iterations, on_event=relay, stop=self.stop, **options)
        assert self._previous is not None and self.last is not None
        start, extra = warm_start(self._previous.to(device), content, item.motion,
                                  self.video.temporal_weight * temporal_scale, grey=self.settings.preserve_colors)
        if pull is not None:
            extra = pull if extra is None else _sum(extra, pull)
        return self.stylizer.stylize(content, init=start, iterations=iterations, coarse_to_fine=False,
                                     extra_loss=extra, on_event=relay, stop=self.stop,
                                     first_step=self.last.step_scale, **options)


def first_frame_iterations(optim: OptimSettings, video: VideoSettings) -> int:
    """Final-scale iterations of a shot's first frame (and of a keyframe started afresh): the still's, times
    video.first_frame_factor, at least 1."""
    return max(1, round(optim.iterations * video.first_frame_factor))


def _sum(first: ExtraLoss, second: ExtraLoss) -> ExtraLoss:
    return lambda image: first(image) + second(image)
