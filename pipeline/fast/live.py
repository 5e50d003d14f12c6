"""The fast painter in a live session (`--live SOURCE STYLE --fast`): a keyframe painted by the optimizer from the
camera, a network trained on it in a background thread, every frame painted by the newest trained network.

    display loop (pipeline/live.py)  ->  FastLiveStylizer.stylize: the newest network's painting, blended with the
                                         previous one along the flow (painter.NetworkSequence)
    worker thread                    ->  paint the keyframe (the still's coarse-to-fine schedule), train
                                         (training.Trainer), publish a copy of the network every REPORT_EVERY steps

Chosen where issue 25 is silent: until the first copy of the network is published (the keyframe's painting and
REPORT_EVERY steps) the window shows the camera frame as it is, not the optimizer's live painting: on a CPU the two
would share the cores and both go slower. For the same reason the window runs at 5 fps while the network trains
(TRAINING_FRAME_SECONDS). After training the worker ends, so every core paints frames. The k key
paints a new keyframe from the current view and trains again, from the weights it has, on all keyframes so far.
Camera frames, one every POOL_EVERY seconds (at most fast.pool_frames), are the training's unpainted pool, as a
video's frames are. Frames are HxWx3 BGR uint8 at the processing size.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import FastSettings
from ..core.coherence import Motion
from ..core.stylizer import Stylizer
from ..errors import Interrupted
from ..events import LiveNotice, TrainingProgress
from ..media.frames import bgr_to_tensor
from ..sequence import Item
from .model_file import Model, save_model
from .network import Painter
from .painter import NetworkSequence
from .training import Example, Trainer, fresh_network

POOL_EVERY = 0.5  # seconds between camera frames kept for the training's pool
# While the network trains, a frame takes at least this long, so the loop (its optical flow, the painting) leaves the
# cores to the training: painting every frame at 25 fps, the 200 steps took 238 s against 170 s (bench/live_fast.py).
TRAINING_FRAME_SECONDS = 0.2


class FastLiveStylizer:
    """A LiveStylizer (pipeline/live_stylizer.py) that paints with the fast painter's network.

    stylizer: the core Stylizer that paints keyframes and scores the training (the session's style and loss
    settings); None with a model, a network to use at once (--model): no keyframe, no training. preserve_colors:
    the session's (--preserve-colors); a model trained with it keeps the frame's colours too. steps: training steps per
    keyframe. save: where to keep the trained network (--save-model), written after each training. Progress goes
    out as LiveNotice events through `emit`, always from the display loop's thread (in stylize)."""

    def __init__(self, stylizer: Stylizer | None, fast: FastSettings, device: torch.device, *, steps: int,
                 preserve_colors: bool = False, model: Model | None = None, save: Path | None = None,
                 overwrite: bool = False, style_name: str = "",
                 emit: Callable[[object], None] = lambda event: None) -> None:
        if (stylizer is None) == (model is None):
            raise ValueError("give a stylizer to train a network, or a model to paint with, not both")
        self.stylizer, self.fast, self.device, self.steps, self.save = stylizer, fast, device, steps, save
        self.overwrite, self.style, self.emit = overwrite, style_name, emit
        # As a video run does (fast/run.py): a network that learnt luminance only paints luminance only.
        self.preserve_colors = preserve_colors or (model is not None and model.preserve_colors)
        network = model.network if model is not None else None
        self._sequence = None if network is None else self._painter(network)
        self._lock = threading.Lock()
        self._notices: deque[str] = deque()
        self._keys: list[Example] = []
        self._pool: list[Example] = []
        self._pool_at = -math.inf
        self._key_asked = False  # the k key: the next frame becomes a keyframe
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None  # the worker's, raised in the display loop's thread
        self._saved: Path | None = None  # where the last finished training's network was saved
        self._network: Painter | None = None if model is not None else fresh_network(fast, device)
        self._first = self._network is not None
        self._index = self._kept = 0
        self._frame_began = -math.inf

    @property
    def training(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def stylize(self, frame: np.ndarray, motion: Motion | None, budget: float,
                stop: threading.Event | None) -> tuple[np.ndarray, int]:
        """The newest network's painting of `frame` (the camera frame itself before there is one); 0 iterations.
        The first frame starts the training, as does a frame asked for with request_keyframe."""
        if self._error is not None:
            raise self._error
        if self.training:
            time.sleep(max(0.0, self._frame_began + TRAINING_FRAME_SECONDS - time.monotonic()))
        self._frame_began = time.monotonic()
        self._keep_for_pool(frame)
        # The first frame of a session that trains is its first keyframe; after a k key, the frame that follows.
        if (self._first or self._key_asked) and not self.training:
            self._first = self._key_asked = False
            self._start(frame)
        while self._notices:
            self.emit(LiveNotice(self._notices.popleft()))
        with self._lock:
            sequence = self._sequence
        self._index += 1
        if sequence is None:
            return frame, 0
        item = Item(self._index, frame, "first" if motion is None else "warm", motion)
        return sequence.stylize(item).pixels, 0

    def request_keyframe(self) -> str:
        """Paint the next frame as a new keyframe and train again (the k key); returns what happens, for a notice."""
        if self._network is None:
            return "--model paints with the network it was given: no keyframes"
        if self.training or self._key_asked:
            return "still training: press k again once it has ended"
        self._key_asked = True
        return "a new keyframe from the next frame"

    def close(self) -> None:
        """Stop the worker (a training in progress ends at its next step), wait for it and send what it had to say,
        and whether a training was cut short."""
        cut_short = self.training
        self._stop.set()
        if self._worker is not None:
            self._worker.join()
        if cut_short:
            kept = "" if self.save is None else (f": {self._saved} holds the last finished training's network"
                                                 if self._saved else f": no network was saved to {self.save}")
            self._notices.append(f"fast painter: the session ended before the training did{kept}")
        while self._notices:
            self.emit(LiveNotice(self._notices.popleft()))

    # ---- the worker ----

    def _painter(self, network: Painter) -> NetworkSequence:
        return NetworkSequence(network, self.device, preserve_colors=self.preserve_colors, blend=self.fast.blend)

    def _keep_for_pool(self, frame: np.ndarray) -> None:
        now = time.monotonic()
        if self.fast.pool_frames and now - self._pool_at >= POOL_EVERY:
            self._pool_at = now
            example = Example(bgr_to_tensor(frame, self.device))
            # The trainer reads this list while it grows: once full, slots are replaced, never removed.
            if len(self._pool) < self.fast.pool_frames:
                self._pool.append(example)
            else:
                self._pool[self._kept % self.fast.pool_frames] = example
            self._kept += 1

    def _start(self, frame: np.ndarray) -> None:
        self._worker = threading.Thread(target=self._work, args=(frame.copy(),), name="fast-painter", daemon=True)
        self._worker.start()

    def _work(self, frame: np.ndarray) -> None:
        assert self._network is not None and self.stylizer is not None  # a session that trains
        try:
            began = time.monotonic()
            self._notices.append(f"fast painter: painting keyframe {len(self._keys) + 1}")
            content = bgr_to_tensor(frame, self.device)
            self.stylizer.set_color_reference(content)
            painting = self.stylizer.stylize(content, stop=self._stop)
            self._keys.append(Example(content, painting.detach()))
            self._notices.append(f"fast painter: keyframe painted in {time.monotonic() - began:.1f} s, training "
                                 f"{self.steps} steps")
            trainer = Trainer(self._network, self.stylizer, list(self._keys), self._pool, self.fast,
                              grey=self.preserve_colors, loss=self.stylizer.settings.loss)
            reports = trainer.train(self.steps, self._publish, self._stop)
            self._notices.append(f"fast painter: trained, loss {reports[-1].loss:.3g}, {time.monotonic() - began:.0f} s"
                                 " after the keyframe; k paints another keyframe and trains again")
            if self.save is not None:
                model = Model(self._network, self.preserve_colors, (frame.shape[1], frame.shape[0]),
                              (self.style,) if self.style else (), self.steps * len(self._keys))
                self._saved = save_model(model, self.save, self.overwrite)
                self.overwrite = True  # a later training replaces the file this session wrote
                self._notices.append(f"fast painter: network saved to {self._saved}")
        except Interrupted:
            return
        except BaseException as error:  # raised in the display loop's thread, at its next frame
            self._error = error

    def _publish(self, report: object) -> None:
        """Called by the trainer every REPORT_EVERY steps: a copy of the network, in eval mode, for the display."""
        if not isinstance(report, TrainingProgress):
            return
        network = copy.deepcopy(self._network).eval()
        with self._lock:
            if self._sequence is None:
                self._sequence = self._painter(network)
            else:
                self._sequence.network = network
        if report.step == report.steps or report.step % 50 == 0:
            self._notices.append(f"fast painter: step {report.step}/{report.steps}, loss {report.loss:.3g}")
