"""Decoding a video with the ffmpeg binary, for codecs OpenCV's own FFmpeg lacks and for HDR.

The opencv-python wheels (4.13 to 5.0) decode neither AV1 (no dav1d or libaom in their FFmpeg) nor animated WebP,
which the ffmpeg that imageio-ffmpeg bundles decodes. They do convert HDR to SDR, but by clipping everything brighter
than SDR white, which flattens a bright sky to white; ffmpeg's filters can roll those highlights off instead.
FfmpegCapture offers the part of cv2.VideoCapture that reader.VideoReader uses, so the reader's frame selection,
constant-rate conversion and checks stay one code path.

Each frame's timestamp comes from ffmpeg's `showinfo` filter on stderr, which logs a frame before the frame reaches
stdout; frames are raw BGR on stdout, already turned upright (ffmpeg applies the display rotation by default).
"""

from __future__ import annotations

import contextlib
import math
import re
import subprocess
import threading

import cv2
import numpy as np

from ..errors import InputError
from .ffmpeg_exe import StderrDrain, ffmpeg_exe, input_url
from .probe import MediaInfo

# A frame's timestamp must follow its pixels within this long (it is logged first; this only bounds a stalled pipe).
TIMESTAMP_TIMEOUT_S = 30.0
_SHOWINFO = re.compile(r"Parsed_showinfo.*\bn:\s*(\d+)\s+pts:\s*\S+\s+pts_time:\s*(\S+)")
# HLG/PQ to SDR. Linear light with 1.0 at the HDR reference white of ITU-R BT.2408 (203 nits), which becomes SDR
# white, as OpenCV (>= 4.13) and BT.2408's own SDR mapping place it; then a tone curve instead of OpenCV's clipping.
# ffmpeg's mobius curve is the identity below HDR_KNEE and compresses [HDR_KNEE, peak] into [HDR_KNEE, 1], so
# mid-tones keep their SDR levels (up to level 180 of 255) and highlights up to the peak stay distinct; it
# scales R, G and B together (by their maximum), so hues are kept (desat=0: no greying of bright colours).
HDR_REFERENCE_NITS = 203.0
HDR_KNEE = 0.5  # linear, relative to reference white: half of SDR white's light
# The brightest level kept: HLG's nominal display peak, and the mastering peak of most consumer PQ (HDR10) video;
# brighter PQ content is clipped there. (A file's own MaxCLL travels in frame side data, unknown at this point.)
HDR_PEAK_NITS = 1000.0


def hdr_to_sdr(info: MediaInfo) -> str:
    """The filter chain from `info`'s HLG/PQ to SDR BT.709. zscale refuses untagged primaries or matrix ("no path
    between colorspaces"): HDR video is BT.2020, so that is assumed where the file does not say."""
    assumed = "".join(f":{option}=bt2020{suffix}" for option, suffix, tag in
                      (("pin", "", info.primaries), ("min", "nc", info.matrix)) if not tag)
    return ",".join([
        f"zscale=t=linear:p=bt709:npl={HDR_REFERENCE_NITS:g}{assumed}",
        "format=gbrpf32le",
        f"tonemap=mobius:param={HDR_KNEE:g}:desat=0:peak={HDR_PEAK_NITS / HDR_REFERENCE_NITS:.4f}",
        "zscale=t=bt709:m=bt709:r=tv",
    ])


class FfmpegCapture:
    """The cv2.VideoCapture subset VideoReader uses, decoding `info`'s file with the ffmpeg binary.

    read() -> (True, HxWx3 BGR uint8 of info.height x info.width, upright) or (False, None) at the end;
    get(cv2.CAP_PROP_POS_MSEC): the last frame's time in ms from the stream's start;
    set(cv2.CAP_PROP_POS_MSEC, ms) before reading: start at that time (ffmpeg's seek: from the keyframe before,
    decoding forward); get(cv2.CAP_PROP_ORIENTATION_AUTO) is 1 (ffmpeg rotates). A file ffmpeg cannot decode at all
    raises InputError with ffmpeg's reason from read().
    """

    def __init__(self, info: MediaInfo) -> None:
        self.info = info
        self._seek = 0.0
        self._time = 0.0
        self._frames = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._times: dict[int, float] = {}  # showinfo's frame number -> pts_time (NaN if it had none)
        self._logged = threading.Condition()
        self._ended = False  # stderr closed: no more timestamps will come
        self._stderr: StderrDrain | None = None

    def isOpened(self) -> bool:  # cv2.VideoCapture's name
        return True

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self._time * 1000.0
        if prop == cv2.CAP_PROP_ORIENTATION_AUTO:
            return 1.0
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_MSEC and self._process is None:
            self._seek = max(0.0, value / 1000.0)
            return True
        return prop == cv2.CAP_PROP_ORIENTATION_AUTO

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._process is None:
            self._start()
        assert self._process is not None and self._process.stdout is not None
        size = self.info.width * self.info.height * 3
        data = self._process.stdout.read(size)
        if len(data) < size:
            self._finish()
            return False, None
        with self._logged:
            self._logged.wait_for(lambda: self._frames in self._times or self._ended,
                                  timeout=TIMESTAMP_TIMEOUT_S)
            pts_time = self._times.pop(self._frames, math.nan)
        # Without a timestamp the time stays the previous frame's, and the reader assumes a constant rate.
        if math.isfinite(pts_time):
            self._time = pts_time + self._seek  # ffmpeg counts from the seek point
        self._frames += 1
        return True, np.frombuffer(data, np.uint8).reshape(self.info.height, self.info.width, 3).copy()  # writable

    def release(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._stderr is not None:
            self._stderr.join()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def _args(self) -> list[str]:
        seek = ["-ss", f"{self._seek:.6f}"] if self._seek > 0 else []
        chain = ([hdr_to_sdr(self.info)] if self.info.hdr else []) + ["format=bgr24", "showinfo"]
        return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info",
                "-protocol_whitelist", "file", *seek, "-i", input_url(self.info.path), "-map", "0:v:0",
                "-vf", ",".join(chain), "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:"]

    def _start(self) -> None:
        try:
            self._process = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, start_new_session=True)
        except OSError as error:
            raise InputError(f"video '{self.info.path}': could not start ffmpeg: {error.strerror or error}") from error
        self._stderr = StderrDrain(self._process.stderr, on_line=self._timestamp, on_close=self._stderr_closed)

    def _timestamp(self, line: str) -> None:
        """On the drain's thread: a showinfo line gives one frame's pts_time."""
        match = _SHOWINFO.search(line)
        if match:
            with self._logged:
                self._times[int(match.group(1))] = _number(match.group(2))
                self._logged.notify_all()

    def _stderr_closed(self) -> None:
        with self._logged:
            self._ended = True
            self._logged.notify_all()

    def _finish(self) -> None:
        """At the end of stdout: wait for ffmpeg; a file it could not decode at all is an InputError."""
        assert self._process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=TIMESTAMP_TIMEOUT_S)
        if self._stderr is not None:
            self._stderr.join()
        if self._frames == 0 and self._process.returncode not in (0, None):
            reason = self._stderr.reason() if self._stderr is not None else "no message from ffmpeg"
            raise InputError(f"video '{self.info.path}': neither OpenCV nor ffmpeg could decode it ({reason})")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "NOPTS"
        return math.nan
