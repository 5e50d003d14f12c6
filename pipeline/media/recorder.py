"""The live recorder: what the viewer saw, written at a constant rate as a video (with a video file's sound) or a
GIF."""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from .containers import is_gif
from .gif import gif_frame_count, write_gif
from .paths import atomic_output, partial_file
from .probe import AudioStream
from .writer import VideoWriter, mux_audio


class Recorder:
    """Context manager writing what the viewer saw to `path` at a constant `fps` (same writer as video mode, to a
    temporary file renamed at the end).

    Why constant rate with held frames: the stylizer shows frames irregularly (a few per second on a CPU), and the
    writer takes a constant rate. Each shown frame is written as many times as it stayed on screen, rounded to the
    recording's frame grid, so the file plays at the session's real pace: 30 s of paintings on screen last 30 s. It
    starts at the first painting; the moment before it (loading, the first frame's iterations) had nothing to show.
    A frame shown for less than one frame interval may not appear (as on a screen refreshing at `fps`).
    A `.gif` path is made at the end from an H.264 recording beside it (one palette for the whole session, see
    gif_args), at gif_rate(fps). With `audio` streams of the video file `audio_source` (the live source), a video
    recording gets them too, muxed in at the end from where audio_start says (a GIF holds no sound).
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: float, crf: int, preset: str,
                 sar: Fraction = Fraction(1), overwrite: bool = False, audio: tuple[AudioStream, ...] = (),
                 audio_source: Path | None = None) -> None:
        self.path, self.size, self.sar, self.overwrite = path, size, Fraction(sar), overwrite
        self.fps = Fraction(fps).limit_denominator(1001)
        self.audio = () if is_gif(path) or audio_source is None else tuple(audio)
        self._audio_source = audio_source
        self._crf, self._preset = crf, preset
        self._stack = contextlib.ExitStack()
        self._writer: VideoWriter | None = None
        self._held: np.ndarray | None = None
        self._zero = 0.0
        self._showing: tuple[float, float | None] | None = None  # the frame on screen: (since, its source time)
        self._offsets = [0.0, 0.0]  # for audio_start: sums of (seconds on screen) * offset and of seconds on screen

    @property
    def frames(self) -> int:
        """Frames in the recording (for a GIF, those its lower rate keeps)."""
        written = 0 if self._writer is None else self._writer.frames_written
        return gif_frame_count(written, Fraction(self.fps)) if is_gif(self.path) else written

    def __enter__(self) -> Recorder:
        with self._stack as stack:
            tmp = stack.enter_context(atomic_output(self.path, self.overwrite))
            encoded = tmp
            if is_gif(self.path) or self.audio:
                encoded = partial_file(self.path, "video", ".mkv" if is_gif(self.path) else None)
                stack.callback(_remove_quietly, encoded)

                def complete(kind: type[BaseException] | None, *exc: object) -> bool:
                    # After the writer has closed, before atomic_output commits; not when an error passes.
                    if kind is None and is_gif(self.path):
                        write_gif(encoded, tmp, self.fps)
                    elif kind is None:
                        assert self._audio_source is not None and self._writer is not None
                        mux_audio(encoded, self._audio_source, tmp, self.audio, self.audio_start(),
                                  float(self._writer.frames_written / self.fps))
                    return False

                stack.push(complete)
            writer = VideoWriter(encoded, *self.size, self.fps, self._crf, self.sar, preset=self._preset)
            self._writer = stack.enter_context(writer)
            self._stack = stack.pop_all()
        return self

    def add(self, bgr: np.ndarray, at: float, source_time: float | None = None) -> None:
        """`bgr` (HxWx3 BGR uint8 of `size`) appeared on screen at `at` (time.monotonic()); source_time: the time in
        the audio source of the frame it was painted from (None: unknown)."""
        if self._held is None:
            self._zero = at
        else:
            self._fill(at)
            self._left_screen(at)
        self._held, self._showing = bgr, (at, source_time)

    def finish(self, at: float) -> None:
        """The last frame stayed on screen until `at`."""
        if self._held is not None:
            end = max(at, self._zero + 1 / float(self.fps))
            self._fill(end)
            self._left_screen(end)
            self._held = None

    def _left_screen(self, at: float) -> None:
        """The frame on screen was replaced at `at`: count its offset for audio_start, weighted by its time shown."""
        assert self._showing is not None
        since, source = self._showing
        if source is not None:
            self._offsets[0] += (at - since) * (source - (since - self._zero))
            self._offsets[1] += at - since

    def audio_start(self) -> float:
        """Seconds into the audio source where the recording's sound starts (>= 0).

        The recording runs at the session's pace from the first painting on, and each painting shows a frame from a
        little before it appeared (its latency: the first, painted longest, most). The sound is taken from the file
        shifted by the mean of (source time - time in the recording) over the paintings, weighted by how long each
        stayed on screen, so that it matches the pictures on average, as lip sync wants."""
        weighted, held = self._offsets
        return max(0.0, weighted / held) if held > 0 else 0.0

    def _fill(self, until: float) -> None:
        assert self._writer is not None and self._held is not None
        due = round((until - self._zero) * self.fps)
        while self._writer.frames_written < due:
            self._writer.write(self._held)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool | None:
        if exc_type is None and self.frames == 0:
            # Nothing was shown: leave no empty file behind (atomic_output removes it when an exception passes).
            with contextlib.suppress(_NothingRecorded):
                self._stack.__exit__(_NothingRecorded, _NothingRecorded(), None)
            return None
        return self._stack.__exit__(exc_type, exc, tb)


class _NothingRecorded(Exception):
    pass


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
