"""What a video run decided before its first frame, its frames at the processing size, and the writer thread that
checkpoints and encodes the stylized ones: the parts a run in one process (video.py) and a run across Ray workers
(scaleout/driver.py) share. Frames are HxWx3 BGR uint8."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import cv2
import numpy as np
import torch

from .checkpoints import Checkpoints
from .config import StyleSettings, VideoSettings
from .media.reader import VideoReader
from .media.writer import VideoWriter
from .sequence import SequenceStylizer
from .threads import POLL_S

if TYPE_CHECKING:  # the fast painter's module needs this one: only its name here
    from .fast.painter import NetworkSequence


@dataclass
class ReadEnd:
    """How the reader's pass ended: frames read, whether the file ended before its expected frames, and the source
    time (s) of the first selected frame (where the audio is cut)."""

    frames_read: int
    truncated: bool
    first_time: float | None


@dataclass
class VideoJob:
    """Everything decided before the first frame."""

    source: Path
    output: Path
    settings: StyleSettings
    video: VideoSettings
    reader: VideoReader
    size: tuple[int, int]  # (width, height) of the stylized frames
    sar: Fraction  # of the output: restores the input's display aspect (see core.geometry.processing_size)
    total: int | None
    checkpoints: Checkpoints
    device: torch.device
    styles: list[tuple[torch.Tensor, float]] = field(default_factory=list)  # (1x3xHxW image, blend weight)
    init_image: torch.Tensor | None = None  # an --init image, 1x3xHxW
    style_paths: list[tuple[Path, float]] = field(default_factory=list)  # the style files, with their blend weights
    # None when the frames are stylized elsewhere (Ray workers); a fast run's is fast.painter.NetworkSequence, which
    # has the same interface.
    sequence: SequenceStylizer | NetworkSequence | None = None

    @property
    def resume_from(self) -> int:
        return self.checkpoints.finished

    def end(self) -> ReadEnd:
        """How the reader's last pass ended."""
        return ReadEnd(self.reader.frames_read, self.reader.truncated, self.reader.first_time)


def frames_at_size(job: VideoJob) -> Iterator[tuple[int, np.ndarray, bool]]:
    """(index, pixels at the processing size, repeat) of every frame of the selection, decoded once and resized
    by area averaging; job.end() tells how the pass ended."""
    with job.reader as reader:
        for frame in reader:
            pixels = frame.pixels
            if frame.size != job.size:
                pixels = cv2.resize(pixels, job.size, interpolation=cv2.INTER_AREA)
            yield frame.index, pixels, frame.repeat


def write_frames(job: VideoJob, inbox: queue.Queue, abort: threading.Event, video_path: Path) -> None:
    """Writer thread: checkpoint then encode each (index, bgr, step_scale) in the order they come - bgr None means
    "already checkpointed, load it"; None ends the file.

    After an abort it still checkpoints what is queued (finished work is never lost) but stops encoding."""
    width, height = job.size
    encoder = VideoWriter(video_path, width, height, job.reader.info.fps, job.video.crf, job.sar, job.video.preset)
    encoder.open()
    try:
        while True:
            try:
                item = inbox.get(timeout=POLL_S)
            except queue.Empty:
                if abort.is_set():
                    break
                continue
            if item is None:
                break
            index, bgr, step_scale = item
            if bgr is not None:
                job.checkpoints.save(index, bgr, step_scale)
            if not abort.is_set():
                encoder.write(bgr if bgr is not None else job.checkpoints.load(index, job.size))
    except BaseException:
        encoder.abort()
        raise
    if abort.is_set():
        encoder.abort()
    else:
        encoder.close()
