"""Stylizing live frames within a time budget: each frame starts from the previous stylized frame warped along the
optical flow (core/coherence.py, as in a video) and gets the Adam iterations that fit its budget, from a running
estimate of the seconds one iteration takes. Frames are HxWx3 BGR uint8 at the edges, 1x3xHxW float RGB in [0, 1]
inside.

Nothing is read back from the device inside a frame but the stylized frame itself (Adam, no line search, the loss
read once after the last iteration), so a GPU is never stalled mid-frame.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from typing import Protocol

import numpy as np
import torch

from .config import LiveSettings, StyleSettings
from .core.coherence import Motion, warm_start
from .errors import UsageError
from .media.frames import bgr_to_tensor, tensor_to_bgr
from .sequence import StylizerFactory, make_stylizer

EMA = 0.3  # weight of the newest measurement in the running time estimate
FIXED_COST_ITERATIONS = 0.5  # per-frame work besides the iterations (content features, transfers), in iterations


class LiveStylizer(Protocol):
    def stylize(self, frame: np.ndarray, motion: Motion | None, budget: float,
                stop: threading.Event | None) -> tuple[np.ndarray, int]:
        """Stylize `frame` (HxWx3 BGR uint8) within about `budget` seconds, warm-started along `motion` (None: start
        afresh); return (stylized HxWx3 BGR uint8, iterations run). May raise Interrupted once `stop` is set."""


def iterations_for(budget: float, seconds_per_iteration: float, low: int, high: int) -> int:
    """The iterations that fit `budget` seconds, counting the fixed per-frame cost, within [low, high]."""
    fit = math.floor(budget / max(seconds_per_iteration, 1e-9) - FIXED_COST_ITERATIONS)
    return max(low, min(high, fit))


class BudgetStylizer:
    """A LiveStylizer with a core Stylizer (Adam, single scale), one style at a time out of `styles` (name, image)
    pairs; n / p keys switch between them, + / - scale the style weight. stylizer: what makes the core stylizer
    (sequence.StylizerFactory; None: core.stylizer.Stylizer)."""

    def __init__(self, styles: list[tuple[str, torch.Tensor]], style_settings: StyleSettings,
                 settings: LiveSettings, device: torch.device, stylizer: StylizerFactory | None = None) -> None:
        if not styles:
            raise UsageError("give at least one style image")
        # report_every above any frame's iterations: the loss is read back once, after the last iteration.
        optim = replace(style_settings.optim, optimizer="adam", lr=settings.lr,
                        report_every=max(settings.max_iterations, settings.first_iterations) + 1)
        self.settings, self.device, self.styles, self.index = settings, device, styles, 0
        self.stylizer = make_stylizer(stylizer, [(styles[0][1], 1.0)], replace(style_settings, optim=optim), device)
        self.seconds_per_iteration = math.nan
        self._previous: torch.Tensor | None = None

    @property
    def style(self) -> str:
        return self.styles[self.index][0]

    @property
    def style_weight(self) -> float:
        return self.stylizer.settings.loss.style_weight

    def calibrate(self, size: tuple[int, int]) -> float:
        """Stylize a gray frame of `size` (width, height) twice to start the per-iteration estimate. The first run also
        warms up what the first real frame would otherwise pay for (allocations, kernels, the optimizer's setup)."""
        gray = torch.full((1, 3, size[1], size[0]), 0.5, device=self.device)
        for _ in range(2):
            began = time.perf_counter()
            tensor_to_bgr(self.stylizer.stylize(gray, iterations=2, coarse_to_fine=False))
            seconds = time.perf_counter() - began
        self.seconds_per_iteration = seconds / (2 + FIXED_COST_ITERATIONS)
        return self.seconds_per_iteration

    def stylize(self, frame: np.ndarray, motion: Motion | None, budget: float,
                stop: threading.Event | None) -> tuple[np.ndarray, int]:
        settings, began = self.settings, time.perf_counter()
        content = bgr_to_tensor(frame, self.device)
        if motion is None or self._previous is None:
            n = iterations_for(budget * settings.first_budget_factor, self.seconds_per_iteration,
                               settings.min_iterations, settings.first_iterations)
            self.stylizer.set_color_reference(content)
            result = self.stylizer.stylize(content, iterations=n, coarse_to_fine=False, stop=stop)
        else:
            n = iterations_for(budget, self.seconds_per_iteration, settings.min_iterations, settings.max_iterations)
            start, extra = warm_start(self._previous, content, motion, settings.temporal_weight,
                                      grey=self.stylizer.settings.preserve_colors)
            result = self.stylizer.stylize(content, init=start, iterations=n, coarse_to_fine=False,
                                           extra_loss=extra, stop=stop)
        bgr = tensor_to_bgr(result)  # the frame's one read-back to the host
        self._previous = result
        measured = (time.perf_counter() - began) / (n + FIXED_COST_ITERATIONS)
        old = self.seconds_per_iteration
        self.seconds_per_iteration = measured if math.isnan(old) else (1 - EMA) * old + EMA * measured
        return bgr, n

    def switch_style(self, step: int) -> str:
        self.index = (self.index + step) % len(self.styles)
        self.stylizer.set_styles([(self.styles[self.index][1], 1.0)])
        return self.style

    def scale_style_weight(self, factor: float) -> float:
        settings = self.stylizer.settings
        weight = min(1e4, max(1e-2, settings.loss.style_weight * factor))
        self.stylizer.settings = replace(settings, loss=replace(settings.loss, style_weight=weight))
        return weight
