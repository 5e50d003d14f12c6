"""Reading a video file as a stream of upright BGR frames, with frame-accurate selection of a time range."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError, UsageError
from .ffmpeg_decoder import FfmpegCapture
from .ffmpeg_exe import ffmpeg_exe, ffmpeg_reason, input_url, run_ffmpeg, stderr_lines
from .paths import opencv_name
from .probe import MediaInfo, probe

# Starts later than this are reached by seeking (to SEEK_PREROLL_S before the start, then decoding forward);
# earlier ones by decoding from the first frame, which is always exact and cheap over a few seconds.
SEEK_MIN_S = 5.0
SEEK_PREROLL_S = 2.0
# Ask OpenCV to apply the display rotation itself; the reader checks the result and rotates if it did not.
AUTO_ORIENT = True

_ROTATE_CLOCKWISE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class Frame:
    """One decoded picture of a stream.

    index: 0-based position in the decoded stream; time: presentation time in seconds from the stream's start;
    pixels: HxWx3 BGR uint8 array (C-contiguous, never modified after creation). repeat: the frame before's picture
    again, where a variable-rate file runs slower than its constant rate (VideoReader).
    """

    index: int
    time: float
    pixels: np.ndarray
    repeat: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.pixels.shape[1], self.pixels.shape[0]



class VideoReader:
    """Iterate the frames of `path` from `start` seconds, for `duration` seconds and/or at most `max_frames`.

    Yields Frame(index from 0 in the selection, time in seconds from `start`, pixels HxWx3 BGR uint8 upright, of
    size info.width x info.height). A frame belongs to the selection if its timestamp t has
    start <= t < start + duration (to a quarter of a frame). A file that ends early (truncated) stops at its last
    decodable frame without an exception; afterwards `frames_read` and `truncated` tell what happened.

    Frames come at the constant rate info.fps (the file's average rate): frame k is the picture on screen at
    first_time + k / fps. A constant-rate file gives each decoded picture its own frame; a variable-rate one (phones,
    GIFs, screen recordings) has pictures repeated where it runs slower than the average and dropped where it runs
    faster, so each frame stays within one frame of its true time and the audio stays in sync. Afterwards
    `repeated` and `dropped` count them (both 0 for a constant-rate file).
    """

    def __init__(
        self, path: str | os.PathLike, start: float = 0.0, duration: float | None = None, max_frames: int | None = None
    ) -> None:
        if start < 0 or (duration is not None and duration <= 0) or (max_frames is not None and max_frames < 0):
            got = f"start={start}, duration={duration}, max_frames={max_frames}"
            raise UsageError(f"video selection: expected start >= 0, duration > 0 and max_frames >= 0, got {got}")
        self.info: MediaInfo = probe(path)
        self.start = float(start)
        self.duration = duration
        self.max_frames = max_frames
        self.frames_read = 0
        self.truncated = False
        self.repeated = self.dropped = 0
        self._pictures = 0  # pictures decoded inside the selection, before the constant-rate conversion
        self.first_time: float | None = None  # source timestamp (s) of the first selected frame, e.g. to cut audio
        self._capture: cv2.VideoCapture | FfmpegCapture | None = None
        self._use_ffmpeg: bool | None = None  # decided at the first open (see _open)
        self._auto_oriented = False
        self._tolerance = 0.25 / float(self.info.fps)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the decoder (safe to call twice)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    @property
    def expected_frames(self) -> int | None:
        """The probe's estimate of the frames in the selection (None if the file's count is unknown)."""
        if self.info.frame_count is None:
            return None
        fps = self.info.fps
        total = self.info.frame_count  # pictures; an animation's duration is the sum of its delays, so exact
        if self.info.animation and self.info.duration:
            total = math.ceil(self.info.duration * fps - 0.25)
        counts = [total - math.ceil(self.start * fps - 0.25)]
        if self.duration is not None:
            counts.append(math.ceil(self.duration * fps - 0.25))
        if self.max_frames is not None:
            counts.append(self.max_frames)
        return max(0, min(counts))

    def __iter__(self) -> Iterator[Frame]:
        return self._pass(self._selected)

    def pictures(self) -> Iterator[Frame]:
        """The selection's pictures as the file times them, without the constant-rate conversion: Frame(picture
        index, its time in seconds from `start`, upright pixels). A GIF's pictures keep their own delays."""
        return self._pass(self._as_pictures)

    def _pass(self, frames: Callable[[Iterator[tuple[float, np.ndarray]]], Iterator[Frame]]) -> Iterator[Frame]:
        """One pass over the file from the start of the selection, counters reset, the decoder released after."""
        self.close()
        self.frames_read, self.truncated, self.first_time = 0, False, None
        self.repeated = self.dropped = self._pictures = 0
        try:
            yield from frames(self._decoded())
        finally:
            self.close()

    def _as_pictures(self, decoded: Iterator[tuple[float, np.ndarray]]) -> Iterator[Frame]:
        for time, pixels in self._in_range(decoded):
            yield Frame(self._pictures - 1, max(0.0, time - self.start), self._upright(pixels))

    def _selected(self, decoded: Iterator[tuple[float, np.ndarray]]) -> Iterator[Frame]:
        limit = math.inf if self.max_frames is None else self.max_frames
        upright = None
        for time, pixels, repeat in self._constant_rate(self._in_range(decoded)):
            if self.frames_read >= limit:
                return
            upright = upright if repeat and upright is not None else self._upright(pixels)
            yield Frame(self.frames_read, max(0.0, time - self.start), upright, repeat and self.frames_read > 0)
            self.frames_read += 1
        # The file ran out before the selection did. The probe's estimate counts pictures (the container's count) or
        # frames at the rate (its duration x fps): a variable-rate file has fewer pictures than frames.
        expected = self.expected_frames
        short = expected is not None and max(self._pictures, self.frames_read) < expected
        self.truncated = short and self.frames_read < limit

    def _in_range(self, decoded: Iterator[tuple[float, np.ndarray]]) -> Iterator[tuple[float, np.ndarray]]:
        """The decoded (time, picture) pairs of the time selection."""
        end = math.inf if self.duration is None else self.start + self.duration - self._tolerance
        for time, pixels in decoded:
            if time >= end:
                return
            if time < self.start - self._tolerance:
                continue
            if self.first_time is None:
                self.first_time = time
            self._pictures += 1
            yield time, pixels

    def _constant_rate(self, pictures: Iterator[tuple[float, np.ndarray]]) -> Iterator[tuple[float, np.ndarray, bool]]:
        """(slot time, picture, repeat) at info.fps from the first picture's time: slot k shows the last picture that
        started by then (to a quarter of a frame); repeat is True from a picture's second slot on. A picture's last
        slot is known when the next one arrives; the last picture is taken to last as long as the one before it, but
        not past the file's end; in an animation until the file's end (a GIF often holds its last picture longest)."""
        period = 1.0 / float(self.info.fps)
        origin, held, held_time, gap, slot = None, None, 0.0, period, 0
        end = math.inf if self.duration is None else self.start + self.duration

        def slots_until(time: float) -> int:
            return max(0, math.ceil((min(time, end) - self._tolerance - origin) / period) - slot)

        for time, pixels in pictures:
            if held is None:
                origin = time
            else:
                count = slots_until(time)
                yield from ((origin + (slot + k) * period, held, k > 0) for k in range(count))
                slot += count
                self.repeated, self.dropped = self.repeated + max(0, count - 1), self.dropped + (count == 0)
                gap = time - held_time
            held, held_time = pixels, time
        if held is not None:
            held_end = held_time + gap
            container_end = self.info.duration
            if container_end and held_time < container_end:
                # Never past the container's end (a variable-rate file's last gap can be long), and in an animation
                # until it exactly. The end can lie later, with a longer audio track: then the gap rule stands.
                held_end = container_end if self.info.animation else min(held_end, container_end)
            count = max(1, slots_until(held_end)) if slot == 0 else slots_until(held_end)
            yield from ((origin + (slot + k) * period, held, k > 0) for k in range(count))
            self.repeated, self.dropped = self.repeated + max(0, count - 1), self.dropped + (count == 0)

    def _decoded(self) -> Iterator[tuple[float, np.ndarray]]:
        """(timestamp s, BGR frame) from the first frame at or before `start`, to the end of the file."""
        self._capture = self._open()
        previous = None
        if self.start >= SEEK_MIN_S:
            self._capture.set(cv2.CAP_PROP_POS_MSEC, (self.start - SEEK_PREROLL_S) * 1000.0)
            first = self._read(previous=None)
            if first is None or first[0] > self.start - self._tolerance:
                # The seek overshot the start (or failed): decode from the beginning instead, which is exact.
                self._capture.release()
                self._capture = self._open()
            else:
                yield first
                previous = first[0]
        while (item := self._read(previous)) is not None:
            previous = item[0]
            yield item

    def _read(self, previous: float | None) -> tuple[float, np.ndarray] | None:
        assert self._capture is not None
        ok, pixels = self._capture.read()
        if not ok or pixels is None:
            return None
        time = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if previous is not None and time <= previous:
            time = previous + 1.0 / float(self.info.fps)  # no usable timestamps: assume a constant rate
        return time, pixels

    def _open(self) -> cv2.VideoCapture | FfmpegCapture:
        """OpenCV's decoder, or the ffmpeg binary's (see ffmpeg_decoder.py) for HDR, which it tone-maps where OpenCV
        clips, and when OpenCV cannot decode the first frame: its FFmpeg lacks some codecs (AV1, animated WebP).
        Decided once per reader. A file that neither decodes ends in InputError with ffmpeg's reason (raised by the
        first read)."""
        if self._use_ffmpeg is None:
            self._use_ffmpeg = bool(self.info.hdr) or not self._opencv_decodes()
        capture = FfmpegCapture(self.info) if self._use_ffmpeg else self._open_cv()
        if capture is None:
            raise InputError(f"video '{self.info.path}' could not be opened for decoding by OpenCV")
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1 if AUTO_ORIENT else 0)  # the default differs between versions
        self._auto_oriented = bool(capture.get(cv2.CAP_PROP_ORIENTATION_AUTO))
        return capture

    def _opencv_decodes(self) -> bool:
        """True if OpenCV opens the file and decodes its first frame (released after: a grab cannot be undone)."""
        trial = self._open_cv()
        if trial is None:
            return False
        try:
            return trial.grab()
        finally:
            trial.release()

    def _open_cv(self) -> cv2.VideoCapture | None:
        # OpenCV's FFmpeg backend refuses CAP_PROP_ORIENTATION_AUTO as an open() parameter: set it after opening.
        with opencv_name(self.info.path) as name:
            capture = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            return None
        return capture

    def _upright(self, pixels: np.ndarray) -> np.ndarray:
        """Turn a decoded frame upright unless OpenCV already did; check it has the probed display size."""
        info, (h, w) = self.info, pixels.shape[:2]
        if info.rotation in (90, 270) and (w, h) == (info.height, info.width):
            pixels = cv2.rotate(pixels, _ROTATE_CLOCKWISE[info.rotation])
        elif info.rotation == 180 and not self._auto_oriented:
            pixels = cv2.rotate(pixels, cv2.ROTATE_180)  # same shape either way: trust OpenCV's own flag
        if pixels.shape[:2] != (info.height, info.width) or pixels.ndim != 3 or pixels.dtype != np.uint8:
            raise InputError(
                f"video '{info.path}': decoded frame {pixels.shape} differs from the probed "
                f"{info.height}x{info.width}x3 uint8 (size change mid-stream?)"
            )
        return np.ascontiguousarray(pixels)


def count_frames(path: str | os.PathLike) -> int:
    """Exact number of decodable frames of the first video stream (decodes it all with ffmpeg, no conversion)."""
    info = probe(path)
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-protocol_whitelist", "file"]
    # 0:V skips cover pictures; passthrough: count what the decoder gives, no duplication or dropping.
    args += ["-i", input_url(info.path), "-map", "0:V:0", "-fps_mode", "passthrough"]
    args += ["-f", "null", "-progress", "pipe:1", "-"]
    completed = run_ffmpeg(args)
    frames = [line for line in completed.stdout.decode("ascii", "replace").splitlines() if line.startswith("frame=")]
    if completed.returncode != 0 or not frames:
        reason = ffmpeg_reason(stderr_lines(completed))
        raise InputError(f"video '{path}': ffmpeg could not decode it to count frames ({reason})")
    return int(frames[-1].split("=", 1)[1])
