"""The events a video run sends to its caller's callback (see video.stylize_video), and its result."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass(frozen=True)
class VideoPlan:
    """Sent once, after every check and before the first frame. Sizes are (width, height) in pixels; input_size is
    the upright decoded size, size the processing (= output) size. audio: (stream index, codec, "copy"|"aac") per
    audio stream. frames: estimated frames in the selection (None if unknown); resumed: frames already finished in
    the work folder. estimated_seconds: rough time for the remaining frames (None if the frame count is unknown)."""

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


@dataclass(frozen=True)
class FrameStarted:
    """Frame `index` (0-based in the selection) starts. kind: "first" (full coarse-to-fine run from the content),
    "cut" (the same, after a scene cut), "warm" (started from the previous stylized frame) or "repeat" (the picture
    before again, in a variable-rate file: its painting is reused, with 0 iterations). iterations: the
    frame's budget per scale (a warm frame's is chosen by adaptive effort; the optimizer may stop sooner on a
    plateau); None if unknown."""

    index: int
    total_estimate: int | None
    kind: str
    iterations: int | None = None


@dataclass(frozen=True)
class FrameDone:
    """Frame `index` is stylized: `loss` is the objective at the end, `seconds` the wall time it took.
    total_estimate (as in FrameStarted): the probe's count of frames, raised to index + 1 where the file gives
    more (a variable-rate file); None if unknown."""

    index: int
    total_estimate: int | None
    loss: float
    seconds: float


@dataclass(frozen=True)
class VideoWarning:
    """Something the user should know that does not stop the run (a one-line message)."""

    message: str


@dataclass(frozen=True)
class VideoResult:
    """output: the file written; frames: frames in it (a GIF of a video over 50 fps keeps every 2nd or 4th one);
    seconds: wall time of the run; duration: the output's length in seconds (frames / its fps); warnings: every
    VideoWarning message, in order."""

    output: Path
    frames: int
    seconds: float
    duration: float
    warnings: tuple[str, ...]
