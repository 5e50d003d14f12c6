"""Live: stylize a camera, a stream or a file played at its own pace, as it happens.

    capture thread (newest frame only, media/live_sources.py)  ->  this loop: analyse, stylize within a time
    budget (live_stylizer.py)  ->  display, recorder

The loop takes the newest frame whenever it is free, so frames that arrive while one is painted are dropped, never
queued: the latency of a shown frame stays under one processing period plus one capture interval. Each frame starts
from the previous output warped along the optical flow (core/coherence.py, as in a video) and gets the Adam
iterations that fit 1/fps, from a running estimate of the seconds one iteration takes; the first frame and the
first after a scene cut start from the camera frame and get more. Inside a frame nothing is read back to the host
but the painted frame itself, so a GPU is never stalled mid-frame.

The core never prints and needs no display: a Display is anything with show(LiveView) -> key name or None
(the command line's window is the OpenCV one, NullDisplay is the headless twin). Progress goes out as events.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np
import torch

from .checks import check_live_files, check_live_settings, check_network_size, check_style_settings, soft_style_warning
from .config import LIVE_DEFAULT_SIZE, LIVE_RESERVED_CPUS, FastSettings, LiveSettings, StyleSettings
from .core.coherence import analyse
from .core.cpu_threads import use_threads
from .core.devices import device_label, pick_device
from .core.geometry import processing_size
from .errors import Interrupted, OutputError
from .events import LiveFrame, LiveNotice, LiveResult, LiveStarted, StylizeWarning
from .live_stylizer import BudgetStylizer, LiveStylizer
from .media.containers import is_gif
from .media.frames import load_image
from .media.live_sources import Captured, LatestFrameCapture
from .media.paths import atomic_output
from .media.recorder import Recorder
from .media.source_spec import SourceSpec, describe_source

POLL_S = 0.05  # while no new frame comes, the display is still served (keys, repaint) this often
EMA = 0.3  # weight of the newest gap between shown frames in the running fps
WEIGHT_STEP = 1.25  # + and - multiply or divide the style weight by this
# Key names a Display returns -> what they do (the window passes on only these names).
KEY_ACTIONS = {"q": "quit", "esc": "quit", "close": "quit", "space": "pause", "s": "snapshot",
               "n": "next_style", "p": "previous_style", "+": "weight_up", "=": "weight_up", "-": "weight_down",
               "k": "keyframe"}


# ---- display ----

@dataclass(frozen=True)
class LiveView:
    """What a display draws: the painted frame and the camera frame it came from (HxWx3 BGR uint8, same size)."""

    stylized: np.ndarray
    camera: np.ndarray
    fps: float
    latency: float
    style: str
    style_weight: float
    paused: bool


class Display(Protocol):
    def show(self, view: LiveView) -> str | None:
        """Draw `view`; return the name of a key pressed since the last call (a KEY_ACTIONS key) or None."""


class NullDisplay:
    """The headless twin of the window: draws nothing, no key is ever pressed."""

    def __enter__(self) -> NullDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, view: LiveView) -> str | None:
        return None


# ---- the loop ----

class _StopAt(threading.Event):
    """What the stylizer is given to stop on: set when `stop` is, and from `deadline` (time.monotonic() seconds) on,
    so --max-seconds ends a painting in progress rather than after it (a slow first painting took 2 s past it)."""

    def __init__(self, stop: threading.Event, deadline: float) -> None:
        super().__init__()
        self._stop, self._deadline = stop, deadline

    def is_set(self) -> bool:
        return self._stop.is_set() or time.monotonic() >= self._deadline


class _Session:
    """The loop's state; run() is the loop."""

    def __init__(self, capture: LatestFrameCapture, stylizer: LiveStylizer, settings: LiveSettings,
                 size: tuple[int, int],
                 display: Display, emit: Callable[[object], None], stop: threading.Event,
                 snapshots: Path) -> None:
        self.capture, self.stylizer, self.settings, self.size = capture, stylizer, settings, size
        self.display, self.emit, self.stop, self.snapshots = display, emit, stop, snapshots
        self.paused, self.end, self.view, self.previous = False, "stopped", None, None
        self.recorder: Recorder | None = None
        self.shown, self.latency_sum, self.latency_max, self.iterations_sum = 0, 0.0, 0.0, 0
        self.last_shown = math.nan
        self.overhead, self.fps, self.snapshot_count = 0.0, 0.0, 0

    def run(self, deadline: float) -> None:
        last = -1
        halt = _StopAt(self.stop, deadline)
        while not self.stop.is_set():
            if time.monotonic() >= deadline:
                self.end = "time limit reached"
                return
            while self.capture.notices:
                self.emit(LiveNotice(self.capture.notices.popleft()))
            item = self.capture.take(last, POLL_S)
            if item is None:
                if self.capture.ended:
                    if self.capture.error is not None:
                        raise self.capture.error
                    self.end = self.capture.end_reason or "the source ended"
                    return
                self._serve_display()
                continue
            last = item.index
            if self.paused:
                self._serve_display()
                continue
            try:
                self._step(item, halt)
            except Interrupted:
                if not self.stop.is_set():
                    self.end = "time limit reached"
                return

    def _serve_display(self) -> None:
        if self.view is not None:
            self._on_key(self.display.show(replace(self.view, paused=self.paused)))

    def _step(self, item: Captured, halt: threading.Event) -> None:
        taken = time.monotonic()
        frame = item.pixels
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        kind, motion = analyse(self.previous, frame, detect_cuts=self.settings.detect_cuts,
                               masks=self.settings.temporal_weight > 0)
        budget = max(0.0, 1.0 / self.settings.fps - self.overhead)
        began = time.monotonic()
        stylized, iterations = self.stylizer.stylize(frame, motion, budget, halt)
        ended = time.monotonic()
        self.previous = frame
        self.view = LiveView(stylized, frame, self.fps, ended - item.time, self._style(), self._weight(), False)
        key = self.display.show(self.view)
        shown = time.monotonic()
        if self.recorder is not None:
            self.recorder.add(stylized, shown, item.source_time)
        self._account(item, kind, iterations, taken, shown)
        done = time.monotonic()
        self.overhead = (1 - EMA) * self.overhead + EMA * ((done - taken) - (ended - began))
        self._on_key(key)

    def _account(self, item: Captured, kind: str, iterations: int, taken: float, shown: float) -> None:
        latency = shown - item.time
        if self.shown:
            gap = shown - self.last_shown
            self.fps = 1 / gap if not self.fps else (1 - EMA) * self.fps + EMA / max(gap, 1e-9)
        self.last_shown = shown
        self.emit(LiveFrame(self.shown, item.index, kind, iterations, taken - item.time, shown - taken, latency,
                            self.fps, self.capture.dropped))
        self.shown += 1
        self.latency_sum += latency
        self.latency_max = max(self.latency_max, latency)
        self.iterations_sum += iterations

    def _style(self) -> str:
        return getattr(self.stylizer, "style", "")

    def _weight(self) -> float:
        return getattr(self.stylizer, "style_weight", math.nan)

    def _on_key(self, key: str | None) -> None:
        action = KEY_ACTIONS.get(key) if key else None
        if action is not None:
            getattr(self, f"_do_{action}")()

    def _do_quit(self) -> None:
        self.end = "quit from the window"
        self.stop.set()

    def _do_pause(self) -> None:
        self.paused = not self.paused
        self.emit(LiveNotice("paused" if self.paused else "resumed"))

    def _do_snapshot(self) -> None:
        if self.view is None:
            return
        path = self._snapshot_path()
        try:
            ok, data = cv2.imencode(".png", self.view.stylized)
            with atomic_output(path, overwrite=False) as tmp:
                tmp.write_bytes(data.tobytes())
            self.emit(LiveNotice(f"snapshot saved: {path}"))
        except OSError as error:  # a full disk must not end the session
            self.emit(LiveNotice(f"snapshot not saved to '{path}': {error.strerror or error}"))
        except OutputError as error:  # the name was taken meanwhile
            self.emit(LiveNotice(f"snapshot not saved: {error}"))

    def _snapshot_path(self) -> Path:
        """A name no file has: an earlier session may have saved the same second's first snapshot."""
        while True:
            self.snapshot_count += 1
            path = self.snapshots / f"live-{time.strftime('%Y%m%d-%H%M%S')}-{self.snapshot_count:03d}.png"
            if not path.exists() and not path.is_symlink():
                return path

    def _switch(self, step: int) -> None:
        switch = getattr(self.stylizer, "switch_style", None)
        if switch is not None and len(getattr(self.stylizer, "styles", ())) > 1:
            self.emit(LiveNotice(f"style: {switch(step)}"))

    def _do_next_style(self) -> None:
        self._switch(1)

    def _do_previous_style(self) -> None:
        self._switch(-1)

    def _scale(self, factor: float) -> None:
        scale = getattr(self.stylizer, "scale_style_weight", None)
        if scale is not None:
            self.emit(LiveNotice(f"style weight: {scale(factor):.3g}"))

    def _do_weight_up(self) -> None:
        self._scale(WEIGHT_STEP)

    def _do_weight_down(self) -> None:
        self._scale(1 / WEIGHT_STEP)

    def _do_keyframe(self) -> None:
        request = getattr(self.stylizer, "request_keyframe", None)  # the fast painter's (--fast)
        if request is not None:
            self.emit(LiveNotice(request()))


def run_live(
    capture: LatestFrameCapture,
    stylizer: LiveStylizer,
    settings: LiveSettings,
    size: tuple[int, int],
    *,
    sar: Fraction = Fraction(1),
    display: Display | None = None,
    record: Path | None = None,
    snapshots: Path = Path("."),
    on_event: Callable[[object], None] | None = None,
    stop: threading.Event | None = None,
) -> LiveResult:
    """Run the live loop until `stop` is set, a quit key, settings.max_seconds, the end of a file, or a lost source.

    capture: opened or not, started here (a file's clock starts now). size: (width, height) of the painted frames,
    even for the recording; sar: the recording's sample aspect ratio (see core.geometry.processing_size). record: write
    what was shown there (see Recorder), with a video file's sound unless it is a GIF; it is complete whenever the
    loop ends without an error, including through `stop` (Ctrl-C). Raises what the stylizer or the recorder raise.
    """
    stop = stop if stop is not None else threading.Event()
    emit = on_event if on_event is not None else (lambda event: None)
    session = _Session(capture, stylizer, settings, size, display or NullDisplay(), emit, stop, Path(snapshots))
    began = time.monotonic()
    deadline = began + settings.max_seconds if settings.max_seconds else math.inf
    with contextlib.ExitStack() as stack:
        capture.open()  # a file's audio streams are known once it is open; its clock starts with `with capture`
        if record is not None:
            session.recorder = stack.enter_context(Recorder(
                record, size, settings.fps, settings.crf, settings.record_preset, sar, settings.overwrite,
                capture.audio, Path(capture.spec.target) if capture.spec.kind == "file" else None))
        stack.enter_context(capture)
        close = getattr(stylizer, "close", None)  # a stylizer with a worker thread (the fast painter's)
        if close is not None:
            stack.callback(close)
        session.run(deadline)
        ended = time.monotonic()
        if session.recorder is not None:
            session.recorder.finish(_recording_end(session, capture, ended, settings.fps))
    captured = capture.captured
    recorded_frames = session.recorder.frames if session.recorder is not None else 0
    return LiveResult(
        shown=session.shown, captured=captured, dropped=max(0, captured - session.shown), seconds=ended - began,
        # Over the whole session: between the first and the last shown frame, two frames 75 ms apart read 26 fps.
        fps=session.shown / (ended - began) if ended > began else 0.0,
        mean_latency=session.latency_sum / session.shown if session.shown else math.nan,
        max_latency=session.latency_max if session.shown else math.nan,
        mean_iterations=session.iterations_sum / session.shown if session.shown else math.nan,
        recorded=record if recorded_frames else None, recorded_frames=recorded_frames,
        end=session.end if not capture.lost else (capture.end_reason or "the source was lost"), lost=capture.lost,
    )


def _recording_end(session: _Session, capture: LatestFrameCapture, ended: float, fps: float) -> float:
    """When the recording's last frame leaves the screen: the session's end, unless the source was lost. Then it
    is one frame after the source's last picture was shown, so the recording does not end in the seconds of
    retries (reconnect_give_up, 30 s by default) that showed the same painting."""
    delivered = capture.last_delivery
    if not capture.lost or delivered is None or not session.shown:
        return ended
    return min(ended, max(delivered, session.last_shown) + 1.0 / fps)


# ---- everything before the loop ----

def live(
    source: str | SourceSpec,
    styles: list[str],
    style_settings: StyleSettings,
    settings: LiveSettings = LiveSettings(),
    *,
    device: str = "auto",
    record: str | Path | None = None,
    display: Display | None = None,
    snapshots: str | Path = ".",
    on_event: Callable[[object], None] | None = None,
    stop: threading.Event | None = None,
    fast: FastSettings | None = None,
) -> LiveResult:
    """Stylize `source` (see media.source_spec.parse_source) live with `styles` (image paths or folders; n / p switch).
    fast: paint with the fast painter (pipeline/fast/live.py: one style, trained in the session or fast.model's).

    Every check that can fail fast runs before the stylizer loads: the source opens and delivers a frame (a missing
    or busy device is an InputError at once), the recording path is writable, the device works.
    """
    check_style_settings(style_settings)
    check_live_settings(settings)
    spec, style_paths, record_path, snapshot_dir = check_live_files(source, styles, record, snapshots,
                                                                    settings.overwrite)
    torch_device = pick_device(device)
    threads = use_threads(style_settings.threads, reserved=LIVE_RESERVED_CPUS)
    capture = LatestFrameCapture(spec, settings)
    capture.open()
    try:
        assert capture.frame_size is not None
        long_side = settings.size or LIVE_DEFAULT_SIZE.get(torch_device.type, LIVE_DEFAULT_SIZE["cpu"])
        # Cameras give square pixels; the SAR only undoes the rounding to even sizes in the recording.
        size, sar = processing_size(*capture.frame_size, Fraction(1), long_side)
        width, height = capture.frame_size
        check_network_size((size[1], size[0]), (height, width), long_side, upscales=False)
        images = [(p.name, load_image(p, "style image", torch_device)) for p in style_paths]
        if fast is not None:
            stylizer: LiveStylizer = fast_live_stylizer(images[0], style_settings, fast, torch_device, on_event,
                                                        settings.overwrite, size)
        else:
            stylizer = BudgetStylizer(images, style_settings, settings, torch_device)
            stylizer.calibrate(size)
        if on_event is not None:
            on_event(LiveStarted(describe_source(spec), capture.frame_size, size, settings.fps,
                                 device_label(torch_device, style_settings.optim.amp),
                                 getattr(stylizer, "style", images[0][0]), record_path, threads,
                                 record_path is not None and bool(capture.audio) and not is_gif(record_path)))
            for path, (_, image) in zip(style_paths, images):
                warning = soft_style_warning(str(path), (image.shape[2], image.shape[3]), size[::-1],
                                             style_settings.style_scale)
                if warning is not None:
                    on_event(StylizeWarning(warning))
    except BaseException:
        capture.close()
        raise
    return run_live(capture, stylizer, settings, size, sar=sar, display=display, record=record_path,
                    snapshots=snapshot_dir, on_event=on_event, stop=stop)


def fast_live_stylizer(style: tuple[str, torch.Tensor], style_settings: StyleSettings, fast: FastSettings,
                       device: torch.device, on_event: Callable[[object], None] | None,
                       overwrite: bool, size: tuple[int, int]) -> LiveStylizer:
    """The fast painter for a live session (pipeline/fast/live.py): fast.model's network, or one trained on
    keyframes of this session, fast.min_steps steps a keyframe, with the core Stylizer painting and scoring;
    overwrite: replace an existing fast.save_model file; size: the session's (width, height), which a model's
    warnings compare with the frames it learnt on."""
    from .core.stylizer import Stylizer
    from .fast.live import FastLiveStylizer
    from .fast.model_file import load_model, mismatch_warnings

    model = load_model(fast.model) if fast.model is not None else None
    if model is not None and on_event is not None:
        for warning in mismatch_warnings(model, size, (style[0],)):
            on_event(StylizeWarning(warning))
    painter = None if model is not None else Stylizer([(style[1], 1.0)], style_settings, device)  # no VGG19 to load
    return FastLiveStylizer(painter, fast, device, steps=fast.min_steps, model=model,
                            preserve_colors=style_settings.preserve_colors,
                            save=None if fast.save_model is None else Path(fast.save_model), overwrite=overwrite,
                            style_name=style[0],
                            emit=on_event or (lambda event: None))
