"""Writing frames to an H.264 file through ffmpeg, and muxing the source's audio back in at the end.

Odd sizes: H.264 in yuv420p needs even width and height. The writer crops the last column and/or row (ffmpeg's crop
filter, anchored top-left) rather than padding, so no invented border appears on screen; `VideoWriter.cropped` and
`.size` tell the caller so it can say so.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from ..core.geometry import even_size
from ..errors import OutputError, UsageError
from .containers import container_of
from .ffmpeg_exe import FileUrls, StderrDrain, ffmpeg_reason, run_ffmpeg, stderr_lines
from .probe import AudioStream

_MOV_FAMILY = ("mp4", "ipod", "mov")
_PCM = {f"pcm_{k}" for k in ("s16le", "s16be", "s24le", "s24be", "s32le", "s32be", "f32le", "f32be", "u8", "s8")}
_COMPRESSED = {"aac", "mp3", "mp2", "ac3", "eac3", "alac"}
# Audio codecs copied bit for bit, per muxer; anything else is encoded to AAC. The sets are what this ffmpeg's muxers
# accept AND common players decode: MP4 also takes PCM and Vorbis, but few players play them there; MOV refuses
# Opus and FLAC; the iPod flavour (.m4v) takes only AAC, AC-3 and ALAC.
COPYABLE_AUDIO: dict[str, frozenset[str]] = {
    "mp4": frozenset(_COMPRESSED | {"opus", "flac"}),
    "ipod": frozenset({"aac", "ac3", "alac"}),
    "mov": frozenset(_COMPRESSED | _PCM | {"pcm_alaw", "pcm_mulaw"}),
    "matroska": frozenset(_COMPRESSED | _PCM | {"opus", "flac", "vorbis", "dts", "truehd"}),
}
AAC_KBPS_PER_CHANNEL = 96
CLOSE_TIMEOUT_S = 120.0  # after stdin closes ffmpeg only flushes its lookahead and moves the index (+faststart)


def video_args(
    path: str | os.PathLike,
    width: int,
    height: int,
    fps: Fraction,
    crf: int = 18,
    sar: Fraction = Fraction(1),
    preset: str = "medium",
    loglevel: str = "error",
) -> list[str]:
    """The full ffmpeg argv that reads width x height bgr24 frames on stdin and writes `path` as H.264 High (High
    4:4:4 Predictive for the lossless crf 0), 4:2:0, BT.709."""
    fps, sar = Fraction(fps), Fraction(sar)
    urls = FileUrls()
    rate = f"{fps.numerator}/{fps.denominator}"
    stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{width}x{height}", framerate=rate)
    out_w, out_h = even_size(width, height)
    if (out_w, out_h) != (width, height):
        stream = stream.filter("crop", out_w, out_h, 0, 0)
    # The matrix must match the BT.709 tags (swscale's historical default is BT.601); accurate_rnd keeps flat
    # greys exact instead of ~2 levels dark.
    stream = stream.filter("scale", out_color_matrix="bt709", out_range="tv", flags="accurate_rnd")
    # The encoder takes its colour tags from the frames; setparams makes them say what the pixels are.
    stream = stream.filter("setparams", colorspace="bt709", color_primaries="bt709", color_trc="bt709", range="tv")
    # max: setsar otherwise rounds the ratio to terms of at most 100 (135/136 would become 99/100).
    stream = stream.filter("setsar", f"{sar.numerator}/{sar.denominator}", max=65535)
    muxer = container_of(path)
    options: dict[str, object] = {
        "vcodec": "libx264",
        # crf 0 is lossless, which x264 codes only in the High 4:4:4 Predictive profile (it refuses High); that
        # plays in ffmpeg-based players and editors, not in browsers or QuickTime.
        "profile:v": "high444" if crf == 0 else "high",
        "preset": preset,
        "crf": crf,
        "pix_fmt": "yuv420p",
        "colorspace": "bt709",
        "color_primaries": "bt709",
        "color_trc": "bt709",
        "color_range": "tv",
        "r": rate,  # exact output rate: no drift against the audio over long videos
        "format": muxer,
    }
    if muxer in _MOV_FAMILY:
        options["movflags"] = "+faststart"
    output = stream.output(urls(path), **options)
    output = output.global_args("-hide_banner", "-nostats", "-loglevel", f"level+{loglevel}").overwrite_output()
    return urls.compile(output)


class VideoWriter:
    """Context manager that encodes HxWx3 BGR uint8 frames (H = height, W = width) to a video-only H.264 file.

    fps is exact (e.g. Fraction(30000, 1001)); sar is the output's sample aspect ratio. Odd sizes are cropped (see
    the module docstring): `size` is the (width, height) written, `cropped` whether it differs from the input.
    ffmpeg runs in its own session, so a terminal's Ctrl-C reaches only Python; leaving the block always closes
    ffmpeg's stdin and waits, so the frames written so far end up in a playable file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: Fraction,
        crf: int = 18,
        sar: Fraction = Fraction(1),
        preset: str = "medium",
        *,
        loglevel: str = "error",
    ) -> None:
        if width < 2 or height < 2 or Fraction(fps) <= 0:
            raise UsageError(f"video output needs width, height >= 2 and fps > 0; got {width}x{height} at {fps} fps")
        self.path = Path(path).absolute()
        self.width, self.height = width, height
        self.size = even_size(width, height)
        self.cropped = self.size != (width, height)
        self.args = video_args(self.path, width, height, Fraction(fps), crf, Fraction(sar), preset, loglevel)
        self.frames_written = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: StderrDrain | None = None

    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(OutputError):  # keep what was written; never hide the exception on its way
            self.close()

    def open(self) -> None:
        """Start ffmpeg (done by `with`)."""
        if self._process is not None:
            return
        try:
            self._process = subprocess.Popen(
                self.args,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise OutputError(f"could not start ffmpeg '{self.args[0]}': {error.strerror or error}") from error
        self._stderr = StderrDrain(self._process.stderr)

    def write(self, bgr: np.ndarray) -> None:
        """Append one frame: HxWx3 BGR uint8 of exactly the size given to the constructor."""
        if bgr.shape != (self.height, self.width, 3) or bgr.dtype != np.uint8:
            raise ValueError(
                f"expected a {self.height}x{self.width}x3 uint8 frame, got shape {bgr.shape} dtype {bgr.dtype}"
            )
        if self._process is None or self._process.stdin is None or self._process.stdin.closed:
            raise OutputError(f"video writer for '{self.path}' is not open")
        try:
            self._process.stdin.write(np.ascontiguousarray(bgr).data)
        except (BrokenPipeError, ConnectionResetError) as error:
            self._finish()
            raise OutputError(f"ffmpeg stopped writing '{self.path}': {self._reason()}") from error
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file: close stdin, wait for ffmpeg; OutputError with ffmpeg's reason if it failed."""
        if self._process is None:
            return
        code = self._finish()
        if code != 0:
            raise OutputError(f"ffmpeg failed writing '{self.path}' (exit {code}): {self._reason()}")

    def abort(self) -> None:
        """Kill ffmpeg without finishing the file (the caller throws the file away)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self._finish()

    def _finish(self) -> int:
        """Close stdin, wait for ffmpeg (killing it after CLOSE_TIMEOUT_S) and its stderr; return the exit code."""
        process = self._process
        assert process is not None and process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.close()  # may fail if ffmpeg already exited; its exit code and stderr say why
        try:
            code = process.wait(timeout=CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if self._stderr is not None:
            self._stderr.join()
        return code

    def _reason(self) -> str:
        return self._stderr.reason() if self._stderr is not None else "no message from ffmpeg"


def audio_plan(audio: tuple[AudioStream, ...], container: str | os.PathLike) -> list[tuple[AudioStream, str]]:
    """For each audio stream, in order: "copy" (bit for bit) if `container` (path or suffix) takes it, else "aac"."""
    copyable = COPYABLE_AUDIO[container_of(container)]
    return [(stream, "copy" if stream.codec in copyable else "aac") for stream in audio]


def mux_args(
    video_path: str | os.PathLike,
    source_path: str | os.PathLike,
    output_path: str | os.PathLike,
    audio: tuple[AudioStream, ...],
    start: float,
    duration: float,
) -> list[str]:
    """ffmpeg argv of mux_audio: the video copied, every audio stream of the source in order, cut on the input side."""
    muxer, urls = container_of(output_path), FileUrls()
    video = ffmpeg.input(urls(video_path), protocol_whitelist="file")
    streams, options = [video["v:0"]], {"c:v": "copy", "map_chapters": -1, "format": muxer}
    if audio:
        cut = {"ss": f"{start:.6f}"} if start > 0 else {}
        source = ffmpeg.input(urls(source_path), protocol_whitelist="file", t=f"{duration:.6f}", **cut)
        options["map_metadata"] = 1  # the source's title, date... (the video-only file has none)
        for number, (stream, action) in enumerate(audio_plan(audio, output_path)):
            streams.append(source[str(stream.index)])
            options[f"c:a:{number}"] = action
            if action == "copy" and start > 0 and muxer not in _MOV_FAMILY:
                # A seek lands on the video's keyframe before `start`, and copied audio keeps the packets from
                # there with negative times. MP4/MOV hide them with an edit list; Matroska has none and shifted the
                # whole file instead (seconds of sound before the first picture). Drop them.
                options[f"copypriorss:a:{number}"] = 0
            if action == "aac":
                kbps = AAC_KBPS_PER_CHANNEL * min(stream.channels or 2, 8)
                options[f"b:a:{number}"] = f"{kbps}k"
    if muxer in _MOV_FAMILY:
        options["movflags"] = "+faststart"
    output = ffmpeg.output(*streams, urls(output_path), **options)
    output = output.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+error")
    return urls.compile(output.overwrite_output())


def mux_audio(
    video_path: str | os.PathLike,
    source_path: str | os.PathLike,
    output_path: str | os.PathLike,
    audio: tuple[AudioStream, ...],
    start: float,
    duration: float,
) -> None:
    """Write `output_path`: the video-only file's video (copied) plus `audio` streams of the source, in order.

    Audio is taken from `start` s of the source for `duration` s (seconds, the video's length) and copied or encoded
    per audio_plan. Audio shorter than the video leaves the video whole (no -shortest, which drops final frames).
    Subtitles, data streams and chapters are not carried over. Raises OutputError with ffmpeg's reason.
    """
    completed = run_ffmpeg(mux_args(video_path, source_path, output_path, audio, start, duration))
    if completed.returncode != 0:
        reason = ffmpeg_reason(stderr_lines(completed))
        raise OutputError(f"ffmpeg could not mux the audio into '{output_path}': {reason}")
