"""Every event a run sends to its caller's callback, and every run's result. Torch-free, so a display can import them
without the painting side.

Sizes are (width, height) in pixels unless a field says (height, width); times are in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass(frozen=True)
class StylizeWarning:
    """Something the user should know that does not stop the run (a one-line message). partial: the result lacks
    part of what was asked (the input ended early), which a display shows even when told to be quiet."""

    message: str
    partial: bool = False


# ---- one image (a still, or one frame of a video) ----

@dataclass(frozen=True)
class IterationEvent:
    """Progress of one optimization: `iteration` of `iterations` at scale `scale` (0-based) of `scales`,
    `size` = (height, width) of that scale, `loss` the objective's value (a float read back every report)."""

    scale: int
    scales: int
    size: tuple[int, int]
    iteration: int
    iterations: int
    loss: float


@dataclass(frozen=True)
class ScalePlan:
    """Sent before the first scale: the (height, width) of each scale, coarse to fine, and the iterations each may
    run (a coarse scale may stop sooner, once the picture settles). An iteration costs about in proportion to its
    scale's pixels, so a display can weigh them for its ETA."""

    sizes: tuple[tuple[int, int], ...]
    iterations: tuple[int, ...]


@dataclass(frozen=True)
class ScaleDone:
    """One scale of the coarse-to-fine schedule finished after `iterations_run` iterations."""

    scale: int
    scales: int
    iterations_run: int
    iterations: int
    loss: float
    step_scale: float | None = None  # L-BFGS's first step per unit of gradient (core.optimize.Optimized)
    settled: bool = False  # it stopped early because the picture settled (else, if early, the loss)


@dataclass(frozen=True)
class StillPlan:
    """Announced before the slow work: result size (height, width), device name, number of styles, CPU threads of
    the network (None: not said)."""

    size: tuple[int, int]
    device: str
    styles: int
    threads: int | None = None


# ---- a video ----

@dataclass(frozen=True)
class VideoPlan:
    """Sent once, after every check and before the first frame. input_size is the upright decoded size, size the
    processing (= output) size. audio: (stream index, codec, "copy"|"aac") per audio stream. frames: estimated
    frames in the selection (None if unknown); resumed: frames already finished in the work folder.
    estimated_seconds: rough time for the remaining frames (None if the frame count is unknown). threads: CPU
    threads of the network and the optical flow (None: not said)."""

    input: Path
    output: Path
    frames: int | None
    input_size: tuple[int, int]
    size: tuple[int, int]
    fps: Fraction
    audio: tuple[tuple[int, str, str], ...]
    device: str
    resumed: int
    estimated_seconds: float | None
    threads: int | None = None


@dataclass(frozen=True)
class FrameStarted:
    """Frame `index` (0-based in the selection) starts. kind: "first" (full coarse-to-fine run from the content),
    "cut" (the same, after a scene cut), "warm" (started from the previous stylized frame) or "repeat" (the picture
    before again, in a variable-rate file: its stylized frame is reused, with 0 iterations). iterations: the
    frame's budget at the final scale (a warm frame's is chosen by adaptive effort; the optimizer may stop sooner on
    a plateau); None if unknown."""

    index: int
    total_estimate: int | None
    kind: str
    iterations: int | None = None


@dataclass(frozen=True)
class FrameDone:
    """Frame `index` is stylized: `loss` is the objective at the end, `seconds` the wall time it took.
    total_estimate (as in FrameStarted): the probe's count of frames, raised to index + 1 where the file gives
    more (a variable-rate file); None if unknown. On Ray frames finish out of order: `done` counts the frames
    finished so far (None: index + 1) and `worker` names the worker that stylized it."""

    index: int
    total_estimate: int | None
    loss: float
    seconds: float
    done: int | None = None
    worker: str | None = None


@dataclass(frozen=True)
class ScaleOutPlan:
    """A video is stylized across Ray workers (pipeline/scaleout/): where (a local instance or the cluster's
    address), how many workers with how many GPUs and threads each, and how the frames still to stylize are split:
    into shots, and pieces of at most chunk_frames frames with a keyframe each. started_in: seconds Ray took to start
    or join; scanned_in: seconds the pass that found the cuts took."""

    where: str
    workers: int
    gpus: int
    threads: int
    frames: int
    shots: int
    pieces: int
    keyframes: int
    chunk_frames: int
    started_in: float
    scanned_in: float


@dataclass(frozen=True)
class WorkerStarted:
    """A Ray worker is ready: its name in FrameDone.worker, host, process id and device."""

    worker: str
    host: str
    pid: int
    device: str


# ---- the fast painter (pipeline/fast/) ----

@dataclass(frozen=True)
class ScanProgress:
    """The fast painter has analysed `frames` of about `total` frames (None: unknown) looking for keyframes."""

    frames: int
    total: int | None


@dataclass(frozen=True)
class FastPlan:
    """Sent once the fast painter knows its work. keyframes: (frame index, why) of each frame the optimizer paints,
    in order ("first", "cut", or e.g. "62% new"); steps: training steps planned; pool: frames of the clip the
    training also draws from; model: the network file reused instead (--model: no keyframes, no training).
    A resumed run (--resume): kept, how many of the keyframes were painted before and are read back from the work
    folder; or trained_before: model is the network the work folder keeps (no keyframes, no training), saved: the
    --save-model file that holds it too (None: not asked)."""

    frames: int
    shots: int
    keyframes: tuple[tuple[int, str], ...]
    steps: int
    pool: int
    model: Path | None = None
    kept: int = 0
    trained_before: bool = False
    saved: Path | None = None


@dataclass(frozen=True)
class KeyframeDone:
    """Keyframe `number` (0-based) of `keyframes`, frame `index` of the clip, was painted by the optimizer in
    `seconds`, its objective at `loss`."""

    number: int
    keyframes: int
    index: int
    seconds: float
    loss: float


@dataclass(frozen=True)
class TrainingProgress:
    """The network after `step` of `steps` training steps, `seconds` into the training: `loss` is the mean training
    loss of the steps since the last report (the optimizer's objective of the crops, plus the L1 towards the
    keyframes' paintings)."""

    step: int
    steps: int
    loss: float
    seconds: float


@dataclass(frozen=True)
class TrainingDone:
    """Training ended after `steps` steps and `seconds`, the last reported loss `loss`; saved: the model file
    written (--save-model), else None."""

    steps: int
    seconds: float
    loss: float
    saved: Path | None = None


@dataclass(frozen=True)
class VideoResult:
    """output: the file written; frames: frames in it (a GIF of a video over 50 fps keeps every 2nd or 4th one);
    seconds: wall time of the run; duration: the output's length in seconds (frames / its fps); warnings: every
    StylizeWarning message, in order; truncated: the input ended before the frames its header announced, so the
    output holds only the frames that decoded."""

    output: Path
    frames: int
    seconds: float
    duration: float
    warnings: tuple[str, ...]
    truncated: bool = False


# ---- a live session ----

@dataclass(frozen=True)
class LiveStarted:
    """Sent once the source is open and the stylizer ready. threads: CPU threads of the network and the optical flow
    (None: not said); record_sound: the recording carries the source's sound (a video file with sound, recorded as
    a video, not a GIF; a camera's sound is not captured)."""

    source: str
    input_size: tuple[int, int]
    size: tuple[int, int]
    fps: float
    device: str
    style: str
    record: Path | None
    threads: int | None = None
    record_sound: bool = False


@dataclass(frozen=True)
class LiveFrame:
    """A frame was shown. index: shown frames before it; source_index: its index among the frames the source
    delivered. wait: its age when the loop took it; seconds: from taking to showing; latency = wait + seconds.
    kind: "first", "cut" or "warm". fps: running rate of shown frames. dropped: frames replaced unseen so far."""

    index: int
    source_index: int
    kind: str
    iterations: int
    wait: float
    seconds: float
    latency: float
    fps: float
    dropped: int


@dataclass(frozen=True)
class LiveNotice:
    """A one-line message (source reconnecting, style switched, snapshot saved, paused ...)."""

    message: str


@dataclass(frozen=True)
class LiveResult:
    """shown: frames stylized and shown; captured: frames the source delivered; dropped = captured - shown;
    fps: shown frames per second of the session (its first frame's wait included); latencies in seconds from
    arrival to display; recorded: the recording (None without one) and its frame count; end: why the session
    ended; lost: the source failed and did not come back."""

    shown: int
    captured: int
    dropped: int
    seconds: float
    fps: float
    mean_latency: float
    max_latency: float
    mean_iterations: float
    recorded: Path | None
    recorded_frames: int
    end: str
    lost: bool
