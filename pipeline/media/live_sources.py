"""Live sources, read by a thread that keeps only the newest frame.

A source (source_spec.py) is a camera index ("0"), a device path ("/dev/video0"), a stream URL (rtsp, http, udp ...)
or a video file, which is played at its own pace (each frame is published at its timestamp, as a camera would deliver it). Frames are
HxWx3 BGR uint8 arrays as OpenCV gives them; times are time.monotonic() seconds.

Why a thread and a single slot: a camera delivers frames whether or not we are ready. Queuing them would make the
latency grow without bound on a slow machine; keeping only the newest one bounds it by one processing period plus one
capture interval. Frames replaced before anyone took them are counted as dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ..config import LiveSettings
from ..errors import InputError
from .probe import AudioStream
from .reader import VideoReader
from .source_spec import SourceSpec, parse_source

JOIN_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Captured:
    """One frame from the source: index counts every frame the source delivered (0-based), time is when it
    arrived (time.monotonic()), pixels HxWx3 BGR uint8; source_time: its time in a video file (seconds from the
    file's start, where its sound is), None for a camera or a stream."""

    index: int
    time: float
    pixels: np.ndarray
    source_time: float | None = None


class Source(Protocol):
    """What LatestFrameCapture reads: open() opens and returns a first frame (InputError if it cannot), read() the
    next one or None (the source ended or failed), close(). reconnectable: a failed source is reopened; time: the
    file time of the frame read() returned last (None for a camera or a stream); audio: a file's audio streams."""

    reconnectable: bool
    time: float | None
    audio: tuple[AudioStream, ...]

    def open(self) -> np.ndarray: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class _OpenCvSource:
    """A camera, device or stream through cv2.VideoCapture: it can be reopened after a failure."""

    reconnectable = True
    time = None  # OpenCV gives a camera's or a stream's frames no time in a file
    audio: tuple[AudioStream, ...] = ()  # nor its sound

    def __init__(self, spec: SourceSpec, settings: LiveSettings) -> None:
        self.spec, self.settings = spec, settings
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> np.ndarray:
        """Open and read one frame (InputError at once if either fails); returns that frame."""
        self.close()
        if self.spec.kind == "stream":
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.settings.open_timeout * 1000),
                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.settings.read_timeout * 1000)]
            capture = cv2.VideoCapture(self.spec.target, cv2.CAP_FFMPEG, timeouts)
        else:
            capture = cv2.VideoCapture(self.spec.target, cv2.CAP_ANY)
        if not capture.isOpened():
            capture.release()
            hint = "unreachable or wrong URL?" if self.spec.kind == "stream" else "missing, or busy in another program?"
            raise InputError(f"{self.spec.label} could not be opened ({hint})")
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a camera's own queue of old frames adds latency
        ok, pixels = capture.read()
        if not ok or pixels is None:
            capture.release()
            raise InputError(f"{self.spec.label} opened but delivered no frame (busy in another program?)")
        self._capture = capture
        return pixels

    def read(self) -> np.ndarray | None:
        """The next frame, or None if the source failed (disconnected, or silent for read_timeout)."""
        if self._capture is None:
            return None
        ok, pixels = self._capture.read()
        return pixels if ok and pixels is not None else None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class _FileSource:
    """A video file played at its own pace: frame k is published at start + its timestamp (never earlier)."""

    reconnectable = False

    def __init__(self, spec: SourceSpec, halt: threading.Event) -> None:
        self.spec, self._halt = spec, halt
        self._reader: VideoReader | None = None
        self._frames = iter(())
        self._pending = None  # the frame open() decoded: published first, when the clock starts
        self._zero: float | None = None
        self.time: float | None = None  # the file time of the frame read() returned last
        self.audio: tuple[AudioStream, ...] = ()  # the file's audio streams

    def open(self) -> np.ndarray:
        self.close()
        self._reader = VideoReader(self.spec.target)
        self.audio = self._reader.info.audio
        self._frames = iter(self._reader)
        first = next(self._frames, None)
        if first is None:
            raise InputError(f"{self.spec.label}: no frame could be decoded")
        self._pending, self._zero = first, None
        return first.pixels

    def read(self) -> np.ndarray | None:
        frame = self._pending if self._pending is not None else next(self._frames, None)
        self._pending = None
        if frame is None:
            return None
        now = time.monotonic()
        if self._zero is None:
            self._zero = now - frame.time
        delay = self._zero + frame.time - now
        if delay > 0:
            self._halt.wait(delay)
        self.time = frame.time
        return frame.pixels

    def close(self) -> None:
        if self._reader is not None:
            self._frames = iter(())
            self._reader.close()
            self._reader = None


class LatestFrameCapture:
    """Context manager: a daemon thread reads the source and keeps only the newest frame (see the module doc).

    `open()` (also done by `with`) opens the source at once, so a missing or busy device fails before any slow work;
    `with` then starts the thread. A file's clock starts with the thread. A camera or stream that fails after that
    is reopened with backoff (LiveSettings.reconnect_*) and, after reconnect_give_up seconds without a frame, the
    capture ends with `lost` True. `notices` collects one-line messages (reconnecting ...) for the caller to drain.
    """

    def __init__(self, source: SourceSpec | str, settings: LiveSettings = LiveSettings()) -> None:
        self.spec = source if isinstance(source, SourceSpec) else parse_source(source)
        self.settings = settings
        self._halt = threading.Event()
        self._source: Source = _FileSource(self.spec, self._halt) if self.spec.kind == "file" else \
            _OpenCvSource(self.spec, settings)
        self._cond = threading.Condition()
        self._latest: Captured | None = None
        self._taken = -1
        self._first: np.ndarray | None = None
        self._thread: threading.Thread | None = None
        self.frame_size: tuple[int, int] | None = None  # (width, height) of the first frame
        self.captured = 0  # frames delivered by the source since the thread started
        self.dropped = 0  # frames replaced by a newer one before they were taken
        self.ended = False
        self.lost = False  # ended because the source failed and did not come back
        self.end_reason: str | None = None
        self.error: BaseException | None = None
        self.notices: deque[str] = deque(maxlen=100)

    def open(self) -> None:
        if self.frame_size is None:
            self._first = self._source.open()
            self.frame_size = (self._first.shape[1], self._first.shape[0])

    def __enter__(self) -> LatestFrameCapture:
        self.open()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread. It releases the source itself: releasing it under a blocked read() crashes OpenCV."""
        self._halt.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self.settings.read_timeout + JOIN_TIMEOUT_S)
        elif self.frame_size is not None:
            self._source.close()

    @property
    def audio(self) -> tuple[AudioStream, ...]:
        """The audio streams of a video file source (known once open); () for a camera or a stream."""
        return self._source.audio

    @property
    def last_delivery(self) -> float | None:
        """time.monotonic() when the source last delivered a frame (None before the first)."""
        with self._cond:
            return None if self._latest is None else self._latest.time

    def take(self, after: int, timeout: float) -> Captured | None:
        """The newest frame if its index is above `after`, waiting up to `timeout` s; None if none came (or the
        capture ended: see `ended`). A taken frame no longer counts as dropped when replaced."""
        with self._cond:
            self._cond.wait_for(lambda: self.ended or (self._latest is not None and self._latest.index > after),
                                timeout)
            latest = self._latest
            if latest is None or latest.index <= after:
                return None
            self._taken = latest.index
            return latest

    def _publish(self, pixels: np.ndarray) -> None:
        with self._cond:
            if self._latest is not None and self._latest.index > self._taken:
                self.dropped += 1
            self._latest = Captured(self.captured, time.monotonic(), pixels, self._source.time)
            self.captured += 1
            self._cond.notify_all()

    def _end(self, reason: str, lost: bool = False) -> None:
        with self._cond:
            self.ended, self.lost, self.end_reason = True, lost, reason
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            while not self._halt.is_set():
                pixels = self._source.read()
                if pixels is not None:
                    self._publish(pixels)
                elif self._halt.is_set():
                    break
                elif not self._source.reconnectable:
                    self._end("end of the video")
                elif not self._reconnect():
                    break
                if self.ended:
                    break
            if not self.ended:
                self._end("stopped")
        except BaseException as error:  # raised in the caller's thread by the live loop
            self.error = error
            self._end(f"capture failed: {error}", lost=True)
        finally:
            self._source.close()

    def _reconnect(self) -> bool:
        """Reopen a failed camera or stream with exponential backoff; False (and ended) after giving up."""
        settings = self.settings
        began, delay = time.monotonic(), settings.reconnect_delay
        self.notices.append(f"{self.spec.label} stopped delivering frames; reconnecting")
        while not self._halt.wait(delay):
            try:
                self._source.open()  # its first frame is stale by the time the loop gets it: not published
                self.notices.append(f"{self.spec.label} is back after {time.monotonic() - began:.1f} s")
                return True
            except InputError:
                pass
            if time.monotonic() - began >= settings.reconnect_give_up:
                self._end(f"{self.spec.label} stopped delivering frames; gave up after "
                          f"{settings.reconnect_give_up:g} s of retries", lost=True)
                return False
            delay = min(2 * delay, settings.reconnect_max_delay)
        return False
