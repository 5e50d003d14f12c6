"""Progress displays: a rich one for people, a silent twin for --quiet and tests. Both take pipeline events."""

from __future__ import annotations

import math
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from pipeline.events import (
    FastPlan,
    FrameDone,
    FrameStarted,
    IterationEvent,
    KeyframeDone,
    ScaleDone,
    ScaleOutPlan,
    ScalePlan,
    ScanProgress,
    StillPlan,
    StylizeWarning,
    TrainingDone,
    TrainingProgress,
    VideoPlan,
)


class FramePace:
    """A video's pace and ETA, from its events: the mean seconds of the frames after the first painted one (the first
    is painted coarse to fine from the photo and costs many warm frames), times the frames left. Until one of them is
    done, what is left of the plan's estimate (VideoPlan.estimated_seconds). The pace and the ETA beside it agree:
    34 frames left at 38.6 s a frame read 21:52. Times are time.monotonic() seconds."""

    def __init__(self, planned: float | None, total: int | None, done: int, now: float) -> None:
        self.planned, self.planned_at, self.total, self.done = planned, now, total, done
        self.first: float | None = None  # seconds of the first frame painted from the photo
        self.later: list[float] = []  # seconds of each frame after it (warm, after a cut, repeated)
        self._kinds: dict[int, str] = {}
        self._at = now  # when the last frame finished
        self.workers: dict[str, list[float]] = {}  # on Ray: each worker's seconds a frame
        self._since_plan = 0  # frames finished on Ray since the plan

    def started(self, index: int, kind: str) -> None:
        self._kinds[index] = kind

    def finished(self, index: int, total: int | None, seconds: float, now: float, done: int | None = None,
                 worker: str | None = None) -> None:
        """Frame `index` took `seconds`; `done` frames are finished (None: index + 1). On Ray (a `worker` named)
        frames finish side by side and out of order: the pace is then the wall time per frame since the plan."""
        if worker is not None:
            self.workers.setdefault(worker, []).append(seconds)
            self._since_plan += 1
        elif self._kinds.pop(index, "") == "first":
            self.first = seconds
        else:
            self.later.append(seconds)
        self.total, self.done, self._at = total, index + 1 if done is None else done, now

    def per_frame(self) -> float | None:
        """Mean seconds of the later frames (None before the first is done); on Ray, the wall time per frame."""
        if self.workers:
            return (self._at - self.planned_at) / self._since_plan
        return sum(self.later) / len(self.later) if self.later else None

    def remaining(self, now: float) -> float | None:
        """Seconds left; None while unknown (no frame total, or the plan's estimate used up before a later frame)."""
        if self.total is None:
            return None
        left = max(0, self.total - self.done)
        pace = self.per_frame()
        if pace is not None:  # counts down through the frame in progress, but never below the frames after it
            return max(pace * (left - 1), pace * left - (now - self._at), 0.0)
        if self.planned is None:
            return None
        rest = self.planned - (now - self.planned_at)
        return rest if rest > 0 else None

    def label(self) -> str:
        """'frames (7.6 s a frame)', 'frames (first 95.2 s)' or 'frames'; on Ray each worker's pace."""
        if self.workers:
            return "frames (" + ", ".join(f"{name} {_pace(sum(times) / len(times))}"
                                          for name, times in sorted(self.workers.items())) + ")"
        pace = self.per_frame()
        if pace is not None:
            return f"frames ({_pace(pace)})"
        return "frames" if self.first is None else f"frames (first {self.first:.1f} s)"


class EtaColumn(TimeRemainingColumn):
    """rich's time remaining, but from a FramePace where a task has one (field "pace"): rich's own needs several
    updates of a bar before it says anything, so a video's frames showed -:--:-- for ten frames."""

    max_refresh = None  # the pace's ETA counts down by itself

    def render(self, task: Task) -> Text:
        pace = task.fields.get("pace")
        if not isinstance(pace, FramePace):
            return super().render(task)
        seconds = pace.remaining(time.monotonic())
        if seconds is None:
            return Text("-:--:--", style="progress.remaining")
        minutes, secs = divmod(round(seconds), 60)
        return Text(f"{minutes // 60:d}:{minutes % 60:02d}:{secs:02d}", style="progress.remaining")


class QuietDisplay:
    """Draws nothing but a warning that the result is partial (StylizeWarning.partial), which a script's log should
    hold; the twin of RichDisplay for --quiet."""

    def __enter__(self) -> "QuietDisplay":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: object) -> None:
        if isinstance(event, StylizeWarning) and event.partial:
            print(f"stylize-video: warning: {event.message}", file=sys.stderr, flush=True)

    def say(self, message: str) -> None:
        return None

    def warn(self, message: str) -> None:
        return None


class RichDisplay:
    """Still images: one bar over all iterations of all scales, with the loss, elapsed time and ETA.
    Messages go to stderr so stdout stays clean for scripts.

    The bar fills by work, not by iterations: an iteration counts in proportion to its scale's pixels (see
    ScalePlan), so the ETA holds from the first scale (docs/design.md, "The command line").
    The count beside the bar is the current scale's iteration (or a video's frame).
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
            TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TextColumn("ETA"), EtaColumn(),
            console=self.console, transient=False,
        )
        self.task = None  # iterations of the current image (a still, or one frame of a video)
        self.frames_task = None  # frames of a video
        self.pace: FramePace | None = None  # of the video's frames
        self.scan_task = None  # the fast painter's pass that finds its keyframes
        self.keys_task = None  # its keyframes
        self.train_task = None  # and its training
        self._weights: list[float] = []  # per scale: its pixels / the final scale's (see ScalePlan)
        self._caps: tuple[int, ...] = ()  # per scale: the iterations it may run
        self._started = False

    def __enter__(self) -> "RichDisplay":
        return self  # the bars start with the first message or event: an error before that stays one line

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.progress.stop()

    def _start(self) -> None:
        if not self._started:
            self.progress.start()
            self._started = True

    def say(self, message: str) -> None:
        self._start()
        # Plain text (a file name like "take[2].mp4" is not markup), and one line however narrow the terminal: a
        # pipe is 80 columns to rich, which would break the line inside a word.
        self.progress.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        self._start()
        self.progress.console.print(Text.assemble(("warning:", "yellow"), " ", message), soft_wrap=True)

    def __call__(self, event: object) -> None:
        self._start()
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, event)

    def _on_still_plan(self, event: StillPlan) -> None:
        h, w = event.size
        styles = "1 style" if event.styles == 1 else f"{event.styles} styles"
        self.say(f"Painting a {w}x{h} image {on_device(event.device, event.threads)}, {styles}")

    def _on_scale_plan(self, event: ScalePlan) -> None:
        final = event.sizes[-1][0] * event.sizes[-1][1]
        self._weights = [h * w / final for h, w in event.sizes]
        self._caps = tuple(event.iterations)

    def _work(self, scales: int, scale: int, iterations: int, iteration: int) -> tuple[float, float]:
        """(done, total) in final-scale iterations, a scale's iterations weighed by its pixels; a coarse scale that
        settled early counts as done. Scales weigh the same, with `iterations` each, when no ScalePlan came."""
        planned = len(self._weights) == scales == len(self._caps)
        weights = self._weights if planned else [1.0] * scales
        caps = self._caps if planned else (iterations,) * scales
        work = [w * c for w, c in zip(weights, caps)]
        return sum(work[:scale]) + weights[scale] * iteration, sum(work)

    def _on_iteration(self, event: IterationEvent) -> None:
        done, total = self._work(event.scales, event.scale, event.iterations, event.iteration)
        if self.task is None:
            self.task = self.progress.add_task("painting", total=total, loss="-", count="")
        h, w = event.size
        self.progress.update(self.task, total=total, completed=done, loss=f"{event.loss:.4g}",
                             count=f"{event.iteration}/{event.iterations}",
                             description=f"scale {event.scale + 1}/{event.scales} {w}x{h}")

    def _on_scale_done(self, event: ScaleDone) -> None:
        if self.task is not None:
            done, _ = self._work(event.scales, event.scale, event.iterations, event.iterations)
            self.progress.update(self.task, completed=done)
        if self.frames_task is None and event.iterations_run < event.iterations:  # a still's: why it ended early
            why = "the picture had stopped changing" if event.settled else "the loss had stopped improving"
            self.say(f"scale {event.scale + 1}/{event.scales} settled at {event.iterations_run} of {event.iterations} "
                     f"iterations: {why}")

    def _on_video_plan(self, event: VideoPlan) -> None:
        (iw, ih), (w, h) = event.input_size, event.size
        audio = ", ".join(f"#{i} {codec} ({how})" for i, codec, how in event.audio) or "none"
        frames = "? frames" if event.frames is None else f"{event.frames} frame{'s' * (event.frames != 1)}"
        eta = "" if event.estimated_seconds is None else f", {_estimate(event.estimated_seconds)}"
        self.say(f"Stylizing {frames} of {iw}x{ih} as {w}x{h} at {float(event.fps):.3f} fps "
                 f"{on_device(event.device, event.threads)}{eta}; audio: {audio}")
        if event.resumed:
            done = "1 frame was" if event.resumed == 1 else f"{event.resumed} frames were"
            self.say(f"Resuming: {done} already done")
        self.pace = FramePace(event.estimated_seconds, event.frames, event.resumed, time.monotonic())
        self.frames_task = self.progress.add_task("frames", total=event.frames, loss="-", completed=event.resumed,
                                                  count=_count(event.resumed, event.frames), pace=self.pace)

    def _on_frame_started(self, event: FrameStarted) -> None:
        if self.pace is not None:
            self.pace.started(event.index, event.kind)
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None

    def _on_frame_done(self, event: FrameDone) -> None:
        if self.frames_task is None or self.pace is None:
            return
        done = event.index + 1 if event.done is None else event.done  # on Ray, frames finish out of order
        self.pace.finished(event.index, event.total_estimate, event.seconds, time.monotonic(), done, event.worker)
        loss = "-" if math.isnan(event.loss) else f"{event.loss:.4g}"  # the fast painter computes none
        self.progress.update(self.frames_task, completed=done, total=event.total_estimate, loss=loss,
                             count=_count(done, event.total_estimate), description=self.pace.label())

    def _on_scale_out_plan(self, event: ScaleOutPlan) -> None:
        started = f" (started in {event.started_in:.1f} s)" if event.started_in else ""
        on = f"{event.gpus} GPU{'s' * (event.gpus != 1)}" if event.gpus else \
            f"the CPU, {event.threads} thread{'s' * (event.threads != 1)} each"
        pieces = f"{event.pieces} piece{'s' * (event.pieces != 1)}"
        keyframes = f" ({event.keyframes} keyframe{'s' * (event.keyframes != 1)})" if event.keyframes else ""
        self.say(f"On {event.where}{started}: {event.workers} worker{'s' * (event.workers != 1)} on {on}; "
                 f"{event.frames} frame{'s' * (event.frames != 1)} to stylize in {event.shots} "
                 f"shot{'s' * (event.shots != 1)}, {pieces} of at most {event.chunk_frames} frames{keyframes}")

    def _on_warning(self, event: StylizeWarning) -> None:
        self.warn(event.message)

    def _on_scan(self, event: ScanProgress) -> None:
        if self.scan_task is None:
            self.scan_task = self.progress.add_task("finding keyframes", total=event.total, loss="-", count="")
        self.progress.update(self.scan_task, completed=event.frames, total=event.total,
                             count=_count(event.frames, event.total))

    def _on_fast_plan(self, event: FastPlan) -> None:
        if event.trained_before:
            saved = f", also in '{event.saved}'" if event.saved is not None else ""
            self.say(f"Fast painter: every frame through the network the interrupted run trained ({event.steps} "
                     f"steps), kept in '{event.model}'{saved}")
            return
        if event.model is not None:
            self.say(f"Fast painter: every frame through the network in '{event.model}' (no keyframes, no training)")
            return
        keys = len(event.keyframes)
        listed = ", ".join(f"{index} ({why})" for index, why in event.keyframes[:8]) + (" ..." if keys > 8 else "")
        self.say(f"Fast painter: {keys} keyframe{'s' * (keys != 1)} of {event.frames} frames in {event.shots} "
                 f"shot{'s' * (event.shots != 1)}: {listed}; then {event.steps} training steps on "
                 f"{'them' if keys != 1 else 'it'} and "
                 f"{event.pool} frames of the clip; then every frame through the network")
        if event.kept:
            self.say(f"{event.kept} of the keyframes {'was' if event.kept == 1 else 'were'} painted before: read "
                     "back from the work folder")
        self.keys_task = self.progress.add_task("keyframes", total=keys, loss="-", completed=event.kept,
                                                count=_count(event.kept, keys))

    def _on_keyframe_done(self, event: KeyframeDone) -> None:
        if self.task is not None:  # the keyframe's iterations bar
            self.progress.remove_task(self.task)
            self.task = None
        if self.keys_task is not None:
            self.progress.update(self.keys_task, completed=event.number + 1, loss=f"{event.loss:.4g}",
                                 count=_count(event.number + 1, event.keyframes))

    def _on_training(self, event: TrainingProgress) -> None:
        if self.train_task is None:
            self.train_task = self.progress.add_task("training", total=event.steps, loss="-", count="")
        self.progress.update(self.train_task, completed=event.step, loss=f"{event.loss:.4g}",
                             count=_count(event.step, event.steps))

    def _on_training_done(self, event: TrainingDone) -> None:
        saved = f"; the network is in '{event.saved}'" if event.saved is not None else ""
        self.say(f"Trained the network: {event.steps} steps in {event.seconds:.0f} s, loss {event.loss:.4g}{saved}")

    # Dispatch by type, so a renamed event class is a NameError here, not a handler silently never called.
    _handlers = {StillPlan: _on_still_plan, ScalePlan: _on_scale_plan, IterationEvent: _on_iteration,
                 ScaleDone: _on_scale_done, VideoPlan: _on_video_plan, FrameStarted: _on_frame_started,
                 FrameDone: _on_frame_done, StylizeWarning: _on_warning, ScaleOutPlan: _on_scale_out_plan,
                 ScanProgress: _on_scan, FastPlan: _on_fast_plan, KeyframeDone: _on_keyframe_done,
                 TrainingProgress: _on_training, TrainingDone: _on_training_done}


def on_device(device: str, threads: int | None) -> str:
    """'on cpu with 2 threads', 'on cpu (bfloat16) with 1 thread', 'on cuda:0': the thread count where the network
    runs on the CPU."""
    if threads is None or not device.startswith("cpu"):
        return f"on {device}"
    return f"on {device} with {threads} thread{'s' * (threads != 1)}"


def _count(done: int, total: int | None) -> str:
    """'12/46', or '12/?' while the total is unknown."""
    return f"{done}/{'?' if total is None else total}"


def _pace(seconds_per_frame: float) -> str:
    """The mean pace of the frames so far: '7.6 s a frame' on a CPU, '2.31 fps' when faster than one a second."""
    if seconds_per_frame >= 1:
        return f"{seconds_per_frame:.1f} s a frame"
    return f"{1 / max(seconds_per_frame, 1e-9):.2f} fps"


def _estimate(seconds: float) -> str:
    """'about 2 h 05 min', 'about 7 min', 'about 40 s', 'under 1 s'."""
    if seconds < 0.5:
        return "under 1 s"
    if seconds >= 3600:
        return f"about {int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"about {round(seconds / 60)} min" if seconds >= 90 else f"about {round(seconds)} s"
