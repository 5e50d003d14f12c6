"""Training the fast painter from scratch: random crops, the optimizer's own objective, L1 towards the keyframes.

Texler et al. 2020 train on 32x32 patches of (keyframe -> its painting) with L1, a VGG feature loss and an
adversarial term. With L1 alone, on our CPUs, the network's frames kept 3-5x the optimizer's style loss: L1 regresses
to the mean of the brushwork it cannot place and washes it out (/work/notes/texler.md). Deviation: every crop is
also scored by the objective the optimizer minimizes (Stylizer.objective: content, Gram style loss against the
style targets of the whole frame's size, total variation, with the user's weights), as Johnson et al. 2016 train
their feed-forward networks, so texture is rewarded for itself, and half the crops of a step come from an even
sample of the whole clip, which the keyframes may not show: the network learns the video it will paint, not only
its keyframes. The L1 term keeps the keyframes' look (where the optimizer put which stroke).

Images are 1x3xHxW (crops Nx3xhxw) float32 RGB in [0, 1] on one device, all frames of one size.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from ..config import FastSettings, LossSettings
from ..core.color import luminance
from ..errors import DivergedError, Interrupted
from ..events import TrainingProgress
from ..sequence import FrameStylizer
from .network import Painter, Shape

REPORT_EVERY = 10  # steps between TrainingProgress events
FINAL_LEARNING_RATE = 0.1  # of the first, reached along a cosine at the last step


@dataclass(frozen=True)
class Example:
    """A training picture: a frame (1x3xHxW) and, for a keyframe, the optimizer's painting of it (else None)."""

    content: torch.Tensor
    painting: torch.Tensor | None = None


def fresh_network(fast: FastSettings, device: torch.device) -> Painter:
    """An untrained network of fast's shape on `device`, its initial weights drawn from fast.seed."""
    torch.manual_seed(fast.seed)
    return Painter(Shape(fast.channels, fast.res_blocks, fast.residual)).to(device)


def planned_steps(frames: int, fast: FastSettings) -> int:
    """Training steps for a clip of `frames` frames: steps_per_frame each, within min_steps..max_steps."""
    return int(min(fast.max_steps, max(fast.min_steps, round(frames * fast.steps_per_frame))))


def _crop(example: Example, size: tuple[int, int], crop: int,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(frame, painting or None) of `example` cut to a random crop of min(crop, side) px a side, `size` being the
    (height, width) of its pictures: every crop of a step has the same size, so they make one batch."""
    height, width = min(crop, size[0]), min(crop, size[1])
    top = int(torch.randint(0, size[0] - height + 1, (1,), generator=generator))
    left = int(torch.randint(0, size[1] - width + 1, (1,), generator=generator))
    box = (..., slice(top, top + height), slice(left, left + width))
    return example.content[box], None if example.painting is None else example.painting[box]


def _pick(keys: list[Example], pool: list[Example], batch: int, generator: torch.Generator) -> list[Example]:
    """`batch` examples: the first half keyframes, the rest frames of the pool (keyframes again without a pool)."""
    half = max(1, batch // 2) if pool else batch
    chosen = [keys[int(torch.randint(0, len(keys), (1,), generator=generator))] for _ in range(half)]
    chosen += [pool[int(torch.randint(0, len(pool), (1,), generator=generator))] for _ in range(batch - half)]
    return chosen


class Trainer:
    """Trains `network` on `keys` (with paintings) and `pool` (without), scored by `stylizer`'s objective.

    grey (preserve_colors): the network is scored on luminance only (the optimizer paints luminance and puts the
    colours back; the painter does the same, see painter.py). loss: the run's loss weights (StyleSettings.loss), the
    style weight multiplied by fast.style_boost."""

    def __init__(self, network: nn.Module, stylizer: FrameStylizer, keys: list[Example], pool: list[Example],
                 fast: FastSettings, grey: bool, loss: LossSettings = LossSettings()) -> None:
        if not keys:
            raise ValueError("the fast painter needs at least one painted keyframe to train on")
        self.network, self.stylizer, self.keys, self.pool = network, stylizer, keys, pool
        self.fast, self.grey = fast, grey
        self.weights = replace(loss, style_weight=loss.style_weight * fast.style_boost)
        self.size = (keys[0].content.shape[2], keys[0].content.shape[3])
        self.generator = torch.Generator().manual_seed(fast.seed)
        self.optimizer = torch.optim.Adam(network.parameters(), lr=fast.learning_rate)

    def _rate(self, step: int, steps: int) -> float:
        """The learning rate at `step` of `steps`: cosine from learning_rate down to FINAL_LEARNING_RATE of it."""
        floor = FINAL_LEARNING_RATE
        return self.fast.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))

    def step(self, step: int, steps: int) -> float:
        """One optimizer step on a fresh batch of crops; returns its loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = self._rate(step, steps)
        examples = _pick(self.keys, self.pool, self.fast.batch, self.generator)
        crops = [_crop(example, self.size, self.fast.crop, self.generator) for example in examples]
        painted = self.network(torch.cat([content for content, _ in crops]))
        total = painted.new_zeros(())
        for k, (content, painting) in enumerate(crops):
            image = painted[k:k + 1]
            if self.grey:
                content, image = luminance(content), luminance(image)
                painting = None if painting is None else luminance(painting)
            loss = self.stylizer.objective(content, targets_size=self.size, weights=self.weights)(image)
            if painting is not None:
                loss = loss + self.fast.l1_weight * (image - painting).abs().mean()
            total = total + loss / len(crops)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return float(total.detach())

    def train(self, steps: int, emit: Callable[[object], None] = lambda event: None,
              stop: threading.Event | None = None) -> list[TrainingProgress]:
        """Run `steps` steps, reporting every REPORT_EVERY (and at the end) to `emit`; returns the reports.
        Interrupted when `stop` is set; DivergedError if the loss stops being a number."""
        began, reports, losses = time.monotonic(), [], []
        self.network.train()
        for step in range(steps):
            if stop is not None and stop.is_set():
                raise Interrupted("stopped by request")
            losses.append(self.step(step, steps))
            if not math.isfinite(losses[-1]):
                raise DivergedError(f"the fast painter's training diverged at step {step + 1} (loss {losses[-1]})")
            if (step + 1) % REPORT_EVERY == 0 or step + 1 == steps:
                reports.append(TrainingProgress(step + 1, steps, sum(losses) / len(losses), time.monotonic() - began))
                emit(reports[-1])
                losses = []
        self.network.eval()
        return reports
