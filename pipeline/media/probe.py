"""What a video file holds: size, rotation, exact frame rate, frame count, audio streams.

imageio-ffmpeg ships no ffprobe, so this parses the stream summary `ffmpeg -hide_banner -i FILE` prints on stderr,
and asks OpenCV (which links the same libavformat) for the two numbers that summary rounds: the frame rate as a
double and the container's frame count.
"""

from __future__ import annotations

import math
import os
import re
import struct
import subprocess
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2

from ..errors import InputError
from .ffmpeg_exe import ffmpeg_exe, ffmpeg_reason, input_url, run_ffmpeg, stderr_lines
from .images import is_still_image
from .paths import check_input, opencv_name

PROBE_TIMEOUT_S = 60.0

_STREAM = re.compile(r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\(([^)]*)\))?: (\w+): (.*)$")
_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM_DURATION_TAG = re.compile(r"^DURATION\s*: (\d+):(\d\d):(\d\d(?:\.\d+)?)$")  # Matroska's per-stream tag
_DISPLAY_MATRIX = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_ROTATE_TAG = re.compile(r"^rotate\s*: (-?\d+)$")  # legacy tag, degrees clockwise
_SIZE = re.compile(r"(?:^|\s)(\d+)x(\d+)(?:\s|$)")
_SAR = re.compile(r"SAR (\d+):(\d+)")
_RATE = re.compile(r"^([\d.]+)(k?) (fps|tbr)$")
_NAMED_LAYOUTS = {"mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8, "hexadecagonal": 16}


@dataclass(frozen=True)
class AudioStream:
    """One audio stream. index: absolute stream index in the file (as in `-map 0:index`); sample_rate in Hz."""

    index: int
    codec: str
    sample_rate: int | None
    channels: int | None
    language: str | None


@dataclass(frozen=True)
class MediaInfo:
    """A probed video file.

    width, height: display size in pixels, after rotation, before SAR (the size of the upright decoded frames).
    rotation: degrees clockwise (0/90/180/270) the coded picture is turned for display (OpenCV's convention).
    fps: exact rate, e.g. Fraction(30000, 1001). frame_count: estimate, None if unknown. duration: container
    duration in seconds. sar: sample aspect ratio of the coded picture (1 if absent). bit_depth: bits per component.
    transfer: the stream's transfer characteristic as ffmpeg names it ("bt709", "arib-std-b67" ...; "" if untagged);
    primaries, matrix: its colour primaries and YUV matrix, likewise ("bt2020", "bt2020nc" ...; "" if untagged).
    demuxers: the names of ffmpeg's demuxer for the file ("gif", "mov,mp4,m4a,3gp,3g2,mj2" ...).
    extras: what the file holds besides its picture and sound, which a stylized video does not carry:
    ("2 subtitle streams", "1 data stream", "chapters") and the like; () if nothing.
    """

    path: Path
    width: int
    height: int
    rotation: int
    fps: Fraction
    frame_count: int | None
    duration: float | None
    sar: Fraction
    pix_fmt: str
    bit_depth: int
    audio: tuple[AudioStream, ...] = field(default=())
    transfer: str = ""
    primaries: str = ""
    matrix: str = ""
    demuxers: str = ""
    extras: tuple[str, ...] = ()

    @property
    def hdr(self) -> str | None:
        """"HLG" or "PQ" for an HDR transfer, else None."""
        return HDR_TRANSFERS.get(self.transfer)

    @property
    def animation(self) -> bool:
        """An animated GIF, WebP or PNG: each picture has its own duration, the last one's included."""
        return bool(ANIMATION_DEMUXERS.intersection(self.demuxers.split(",")))

    @property
    def display_sar(self) -> Fraction:
        """Sample aspect ratio of the upright frames (the coded SAR inverted when the picture is turned 90/270)."""
        return 1 / self.sar if self.rotation in (90, 270) else self.sar


@dataclass
class _RawStream:
    index: int
    kind: str
    language: str | None
    desc: str
    extra: list[str]


HDR_TRANSFERS = {"arib-std-b67": "HLG", "smpte2084": "PQ"}
ANIMATION_DEMUXERS = {"gif", "webp_anim", "apng"}


def probe(path: str | os.PathLike) -> MediaInfo:
    """Probe a video file; InputError (one line) if it is missing, a folder, empty, not media, or has no video."""
    source = check_input(path, "video")
    lines = _ffmpeg_header(source)
    if not any(line.startswith("Input #0") for line in lines):
        if _mp4_without_index(source):
            raise InputError(f"'{path}' looks damaged or cut short: it starts as an MP4/MOV video, but its index (the "
                             "'moov' box, which says where the frames are) is missing or cut, as when a download, a "
                             f"copy or a recording stops early (ffmpeg: {ffmpeg_reason(lines)})")
        # Only files no image reader took get here, so the message names both kinds.
        raise InputError(f"'{path}' is neither an image nor a media file ffmpeg can read ({ffmpeg_reason(lines)})")
    demuxers = _demuxers(lines)
    if any(name == "image2" or name.endswith("_pipe") for name in demuxers.split(",")):
        # One picture is not a video. The command line sends every still Pillow reads to the still path, so there
        # this is a damaged photo, or one in a format only ffmpeg reads; `measure` and library callers can get here
        # with a good photo.
        if is_still_image(source):
            raise InputError(f"'{path}' is a still image, not a video")
        raise InputError(f"'{path}' could not be read as a photo (damaged, or a picture format we do not read: "
                         "convert it to PNG or JPEG)")
    streams = _streams(lines)
    videos = [s for s in streams if s.kind == "Video" and "(attached pic)" not in s.desc]
    audio = tuple(_audio_stream(s) for s in streams if s.kind == "Audio")
    if not videos:
        found = ", ".join(f"{s.kind.lower()} {s.desc.split()[0]}" for s in streams) or "no streams"
        raise InputError(f"video '{path}' has no video stream (found: {found})")
    info = _media_info(source, videos[0], _container_duration(lines), audio)
    info = replace(info, demuxers=demuxers, extras=_extras(lines, streams, videos[0]))
    rate = _gif_rate(source) if "gif" in demuxers.split(",") else None
    return info if rate is None else replace(info, fps=rate)


# MP4, MOV and M4V files start with an 'ftyp' box; HEIF and AVIF photos too, with these brands.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


def _mp4_without_index(source: Path) -> bool:
    """Whether `source` starts as an MP4/MOV video (an 'ftyp' box of a video brand) but holds no whole 'moov' box, the
    index of its frames. A camera or an encoder writes it last, so a file cut short (`head -c 20000 in.mp4`, an
    interrupted download) has none, and ffmpeg only says "Invalid data found when processing input"."""
    with open(source, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        head = file.read(12)
        if len(head) < 12 or head[4:8] != b"ftyp" or head[8:12] in _IMAGE_BRANDS:
            return False
        offset = 0
        while offset + 8 <= size:  # the top-level boxes: 32-bit size (1: a 64-bit one follows, 0: to the end), name
            file.seek(offset)
            box_size, name = struct.unpack(">I4s", file.read(8))
            if box_size == 1:
                box_size = struct.unpack(">Q", file.read(8))[0]
            elif box_size == 0:
                box_size = size - offset
            if name == b"moov" and 8 <= box_size <= size - offset:
                return False
            offset += max(box_size, 8)
    return True


# ffmpeg's GIF demuxer takes a delay under 2 hundredths of a second as 10 hundredths, as browsers do.
GIF_MIN_DELAY_MS, GIF_DEFAULT_DELAY_MS = 20, 100


def _gif_rate(source: Path) -> Fraction | None:
    """The rate of a GIF's shortest delay, so the constant-rate conversion drops none of its pictures; None if Pillow
    cannot read the delays. ffmpeg's own rate is sometimes the average: with delays of 10, 10, 50 and 10 hundredths
    that is 5 fps, and 2 of the 4 pictures were dropped. The repeats this adds cost nothing to stylize (pipeline/sequence.py)."""
    from PIL import Image

    try:
        with Image.open(source) as image:
            delays = []
            for index in range(getattr(image, "n_frames", 1)):
                image.seek(index)
                delay = int(image.info.get("duration") or 0)
                delays.append(delay if delay >= GIF_MIN_DELAY_MS else GIF_DEFAULT_DELAY_MS)
    except (OSError, ValueError, EOFError):
        return None
    return Fraction(1000, min(delays)) if delays else None


def _extras(lines: list[str], streams: list[_RawStream], video: _RawStream) -> tuple[str, ...]:
    """MediaInfo.extras: counts of the other video, subtitle, data and attachment streams, and the chapters
    (cover art, an "attached pic" video stream, is not counted: a player shows no picture of it)."""
    kinds = {"Video": "video", "Subtitle": "subtitle", "Data": "data", "Attachment": "attachment"}
    found = []
    for kind, name in kinds.items():
        count = sum(1 for s in streams if s.kind == kind and s is not video and "(attached pic)" not in s.desc)
        if count:
            found.append(f"{count} {'other ' if kind == 'Video' else ''}{name} stream{'s' * (count != 1)}")
    if any(line.strip() == "Chapters:" for line in lines):
        found.append("chapters")
    return tuple(found)


def _demuxers(lines: list[str]) -> str:
    """The demuxer names ffmpeg opened the file with: "Input #0, jpeg_pipe, from 'x.jpg':" gives "jpeg_pipe".
    One-picture files get image2 (chosen by name) or an *_pipe one (by content); animations have their own (gif,
    webp_anim, apng)."""
    header = next((line for line in lines if line.startswith("Input #0, ")), "")
    return header.removeprefix("Input #0, ").rpartition(", from ")[0]


def _ffmpeg_header(source: Path) -> list[str]:
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-protocol_whitelist", "file", "-i", input_url(source)]
    try:
        completed = run_ffmpeg(args, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise InputError(f"video '{source}': ffmpeg could not read it within {PROBE_TIMEOUT_S:.0f} s") from error
    # Exit status is always 1 here ("At least one output file must be specified"): only the text matters.
    return stderr_lines(completed)


def _streams(lines: list[str]) -> list[_RawStream]:
    """Streams of input #0 with their indented metadata/side-data lines."""
    streams: list[_RawStream] = []
    for line in lines:
        match = _STREAM.match(line)
        if match:
            language = match.group(2) if match.group(2) not in (None, "und") else None
            streams.append(_RawStream(int(match.group(1)), match.group(3), language, match.group(4), []))
        elif streams and line.startswith("    "):
            streams[-1].extra.append(line.strip())
    return streams


def _media_info(source: Path, video: _RawStream, duration: float | None, audio: tuple[AudioStream, ...]) -> MediaInfo:
    fields = _split_fields(video.desc)
    size = next((m for m in map(_SIZE.search, fields) if m), None)
    if size is None:
        raise InputError(f"video '{source}' has a video stream of unknown size ({video.desc})")
    coded_w, coded_h = int(size.group(1)), int(size.group(2))
    sar_match = next((m for m in map(_SAR.search, fields) if m), None)
    sar = Fraction(int(sar_match.group(1)), int(sar_match.group(2))) if sar_match and int(sar_match.group(1)) else 1
    rotation = _rotation(video.extra)
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    cv_fps, cv_count = _opencv_rate_and_count(source)
    fps = _exact_fps(cv_fps, fields)
    if fps is None:
        raise InputError(f"video '{source}' has no frame rate in its video stream ({video.desc})")
    pix_field = next((f for f in fields[1:] if re.fullmatch(r"[a-z][a-z0-9_]*(\(.*\))?", f)), "unknown")
    pix_fmt = pix_field.split("(")[0]
    return MediaInfo(
        path=source,
        width=width,
        height=height,
        rotation=rotation,
        fps=fps,
        frame_count=_frame_count(video.extra, cv_count, duration, fps),
        duration=duration,
        sar=Fraction(sar),
        pix_fmt=pix_fmt,
        bit_depth=bit_depth(pix_fmt),
        audio=audio,
        **colour_tags(pix_field),
    )


def _split_fields(desc: str) -> list[str]:
    """Split a stream description on the commas outside parentheses: "yuv420p(tv, bt709)" stays one field."""
    fields, depth, current = [], 0, []
    for char in desc:
        depth += (char in "([") - (char in ")]")
        if char == "," and depth == 0:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return fields


def _rotation(extra: list[str]) -> int:
    """Clockwise display rotation. ffmpeg's display matrix angle is counter-clockwise, the old `rotate` tag not."""
    for line in extra:
        match = _DISPLAY_MATRIX.search(line)
        if match:
            return round(-float(match.group(1)) / 90) * 90 % 360
    for line in extra:
        match = _ROTATE_TAG.match(line)
        if match:
            return round(int(match.group(1)) / 90) * 90 % 360
    return 0


def _exact_fps(cv_fps: float, fields: list[str]) -> Fraction | None:
    """Exact frame rate: OpenCV's double (full precision) if it agrees with ffmpeg's rounded text, else the text."""
    printed = {m.group(3): float(m.group(1)) * (1000 if m.group(2) else 1) for m in map(_RATE.match, fields) if m}
    text_fps = printed.get("fps") or printed.get("tbr")
    if cv_fps > 0 and math.isfinite(cv_fps) and (not text_fps or abs(cv_fps - text_fps) <= 0.01 * text_fps):
        return Fraction(cv_fps).limit_denominator(1001)  # 29.97002997... -> 30000/1001 exactly
    return snap_rate(text_fps) if text_fps else None


def snap_rate(rounded: float) -> Fraction:
    """A rate printed with 2 decimals -> exact Fraction: 29.97 -> 30000/1001, 23.98 -> 24000/1001, 25 -> 25."""
    ntsc = round(rounded * 1.001)
    if abs(rounded - ntsc * 1000 / 1001) < 0.006 and abs(rounded - round(rounded)) > 0.006:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(str(rounded)).limit_denominator(1001)


def _opencv_rate_and_count(source: Path) -> tuple[float, int]:
    """(fps as a double, container frame count or 0). OpenCV reads nb_frames where the container has it (MP4/MOV)."""
    with opencv_name(source) as name:
        capture = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            return 0.0, 0
        return capture.get(cv2.CAP_PROP_FPS), max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        capture.release()


def _frame_count(extra: list[str], cv_count: int, duration: float | None, fps: Fraction) -> int | None:
    """Estimate: Matroska's per-stream duration tag, else the container's count, else container duration x fps."""
    for line in extra:
        match = _STREAM_DURATION_TAG.match(line)
        if match:
            return round(_seconds(*match.groups()) * fps)
    if cv_count > 0:
        return cv_count
    return round(duration * fps) if duration else None


def _container_duration(lines: list[str]) -> float | None:
    for line in lines:
        match = _DURATION.match(line)
        if match:
            return _seconds(*match.groups())
    return None


def _seconds(hours: str, minutes: str, seconds: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _audio_stream(stream: _RawStream) -> AudioStream:
    fields = _split_fields(stream.desc)
    rate_at = next((i for i, f in enumerate(fields) if re.fullmatch(r"\d+ Hz", f)), None)
    sample_rate = int(fields[rate_at].split()[0]) if rate_at is not None else None
    layout = fields[rate_at + 1] if rate_at is not None and rate_at + 1 < len(fields) else ""
    return AudioStream(stream.index, fields[0].split()[0], sample_rate, channel_count(layout), stream.language)


def channel_count(layout: str) -> int | None:
    """Channels of an ffmpeg layout name: "mono" 1, "stereo" 2, "5.1(side)" 6, "7.1.4" 12, "3 channels" 3."""
    name = layout.split("(")[0].strip()
    if name in _NAMED_LAYOUTS:
        return _NAMED_LAYOUTS[name]
    match = re.fullmatch(r"(\d+) channels", name)
    if match:
        return int(match.group(1))
    if re.fullmatch(r"\d+(\.\d+)+", name):
        return sum(int(part) for part in name.split("."))
    return None


def colour_tags(pix_field: str) -> dict[str, str]:
    """The colour tags in a stream's pixel-format field, as MediaInfo's matrix, primaries and transfer:
    "yuv420p10le(tv, bt2020nc/bt2020/arib-std-b67, progressive)" names the three in that order; "yuv420p(tv, bt709)"
    names all three at once (ffmpeg writes one name when they are equal). Untagged ones ("unknown") are ""."""
    inside = pix_field.partition("(")[2].removesuffix(")")
    for part in (p.strip() for p in inside.split(",")):
        if part.count("/") == 2:
            names = ["" if name == "unknown" else name for name in part.split("/")]
            return dict(zip(("matrix", "primaries", "transfer"), names))
        if part.startswith(("bt", "smpte")):
            return {"matrix": part, "primaries": part, "transfer": part}
    return {}


def bit_depth(pix_fmt: str) -> int:
    """Bits per component of a pixel format: yuv420p 8, yuv420p10le 10, p016le 16, rgb48le 16, gray12le 12."""
    match = re.search(r"(\d+)(?:le|be)$", pix_fmt)
    if not match:
        return 8
    bits = int(match.group(1))
    if bits in (9, 10, 12, 14, 16):
        return bits
    if bits in (48, 64):  # rgb48 / rgba64: 16 bits per component
        return 16
    return 32 if bits == 32 else 8  # grayf32 / rgbaf32 are float; rgb565-like packings count as 8
