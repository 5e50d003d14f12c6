"""Test helpers: generate tiny clips with the bundled ffmpeg and measure files independently of pipeline.media.probe."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
_ENCODERS = {"mp3": "libmp3lame", "opus": "libopus", "vorbis": "libvorbis"}
_SAMPLE_RATES = {"pcm_alaw": 8000, "pcm_mulaw": 8000, "mp3": 44100}


def texture(height: int, width: int, seed: int = 0, blur: float = 1.5) -> np.ndarray:
    """HxWx3 BGR uint8 smooth random texture (rich enough for optical flow)."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), blur), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


# Display P3's primaries as an ICC profile stores them: XYZ, adapted to the D50 white (Bradford), as in Apple's
# "Display P3" profile; and sRGB's, as in littleCMS's built-in sRGB.
P3_D50 = ((0.5151, 0.2412, -0.0011), (0.2919, 0.6922, 0.0419), (0.1572, 0.0666, 0.7841))
SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def icc_profile(primaries: Sequence[Sequence[float]], gamma: float, name: str = "test RGB") -> bytes:
    """A minimal ICC v2 RGB display profile (matrix and a pure-gamma curve per channel): the kind a camera, a phone
    or a scanner embeds. `primaries`: the XYZ (D50) of full red, green and blue."""
    curve = _curve(gamma)
    tags = [(tag, b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz))
            for tag, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries)]
    tags += [(tag, curve) for tag in (b"rTRC", b"gTRC", b"bTRC")]
    return _icc(b"RGB ", name, tags)


def grey_icc_profile(gamma: float, name: str = "test grey") -> bytes:
    """A minimal ICC v2 greyscale display profile: one pure-gamma curve (kTRC), as Photoshop's "Gray Gamma 2.2"."""
    return _icc(b"GRAY", name, [(b"kTRC", _curve(gamma))])


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))


def _icc(colour_space: bytes, name: str, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2 display profile of `colour_space` (4 bytes) with a description, a copyright, a D50 white point and
    `tags`."""
    ascii_name = name.encode("ascii") + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(ascii_name)) + ascii_name + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    white = b"XYZ \0\0\0\0" + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", desc), (b"cprt", b"text\0\0\0\0test\0"), (b"wtpt", white), *tags]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for tag, data in tags:
        table += tag + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = offset + len(body)
    header = struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntr" + colour_space + b"XYZ "
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def ffmpeg(*args: str, stdout: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[bytes]:
    """Run the bundled ffmpeg; fail the test with its stderr if it fails."""
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *args]
    done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise AssertionError(f"ffmpeg {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done


def make_clip(
    path: Path,
    width: int = 64,
    height: int = 48,
    frames: int = 10,
    fps: str = "25",
    audio: Sequence[str] = ("aac",),
    audio_seconds: float | None = None,
    display_rotation: int | None = None,
    sar: str | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Write a testsrc2 clip (H.264 yuv420p, moov first) with one sine audio stream per codec in `audio`.

    Audio lasts `audio_seconds` (default: as long as the video); stream i has frequency 440*(i+1) Hz.
    display_rotation is ffmpeg's counter-clockwise angle, set by remuxing (encoding would apply it to the pixels).
    """
    rate = Fraction(fps)
    seconds = audio_seconds if audio_seconds is not None else float(frames / rate)
    # trim ends the video stream itself (-frames:v would end the whole file, cutting longer audio).
    video_filter = f"testsrc2=size={width}x{height}:rate={fps},trim=end_frame={frames}"
    video_filter += f",setsar={sar}" if sar else ""
    args = ["-f", "lavfi", "-i", video_filter]
    for i, codec in enumerate(audio):
        sample_rate = _SAMPLE_RATES.get(codec, 48000)
        args += ["-f", "lavfi", "-i", f"sine=frequency={440 * (i + 1)}:sample_rate={sample_rate}:duration={seconds}"]
    args += ["-map", "0:v"] + [arg for i in range(len(audio)) for arg in ("-map", f"{i + 1}:a")]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10"]
    for i, codec in enumerate(audio):
        args += [f"-c:a:{i}", _ENCODERS.get(codec, codec)]
    if path.suffix in (".mp4", ".mov", ".m4v"):
        args += ["-movflags", "+faststart"]
    target = path if display_rotation is None else path.with_name(f"unrotated-{path.name}")
    ffmpeg(*args, *extra_args, "-y", f"file:{target.absolute()}")
    if display_rotation is not None:
        remux = ["-display_rotation", str(display_rotation), "-i", f"file:{target.absolute()}", "-map", "0"]
        ffmpeg(*remux, "-c", "copy", "-movflags", "+faststart", "-y", f"file:{path.absolute()}")
    return path


def truncate(source: Path, target: Path, keep: float) -> Path:
    """Copy the first `keep` fraction (0..1) of `source`'s bytes: a file cut off mid-download (index intact)."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@dataclass(frozen=True)
class Packet:
    """One line of ffmpeg's framemd5: times in units of `timebase` seconds, size in bytes."""

    dts: int
    pts: int
    duration: int
    size: int
    md5: str


def framemd5(path: Path, stream_spec: str, copy: bool = True) -> tuple[Fraction, list[Packet]]:
    """(timebase, packets) of one stream: per packet with copy=True, per decoded frame otherwise."""
    codec = ["-c", "copy"] if copy else []
    args = ["-i", f"file:{path.absolute()}", "-map", f"0:{stream_spec}", *codec, "-f", "framemd5", "-"]
    out = ffmpeg(*args, stdout=subprocess.PIPE).stdout.decode()
    timebase, packets = Fraction(1), []
    for line in out.splitlines():
        if line.startswith("#tb 0:"):
            timebase = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            # Lines may end with side data ("S=1, 10, <md5>"): the first six fields are the packet's.
            _, dts, pts, duration, size, md5 = (part.strip() for part in line.split(",")[:6])
            packets.append(Packet(int(dts), int(pts), int(duration), int(size), md5))
    return timebase, packets


def ffmpeg_packets(path: Path, stream_spec: str) -> list[str]:
    """Per-packet md5s of a stream, copied without decoding: equal lists mean bit-identical streams."""
    return [packet.md5 for packet in framemd5(path, stream_spec)[1]]


def decoded_count(path: Path, stream_spec: str = "v:0") -> int:
    """Frames (or audio frames) the decoder really produces."""
    return len(framemd5(path, stream_spec, copy=False)[1])


def decoded_seconds(path: Path, stream_spec: str) -> float:
    """Duration of a decoded stream: sum of its frames' durations."""
    timebase, frames = framemd5(path, stream_spec, copy=False)
    return float(sum(frame.duration for frame in frames) * timebase)


def header(path: Path) -> str:
    """The stream summary `ffmpeg -i` prints (its own text, not pipeline.media.probe's reading of it)."""
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-i", f"file:{path.absolute()}"]
    return subprocess.run(argv, capture_output=True, check=False).stderr.decode(errors="replace")


def decode_bgr(path: Path, width: int, height: int) -> np.ndarray:
    """All frames as NxHxWx3 BGR uint8, decoded by ffmpeg (its colour conversion follows the stream's tags)."""
    args = ["-i", f"file:{path.absolute()}", "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    out = ffmpeg(*args, stdout=subprocess.PIPE).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)


def top_level_boxes(path: Path) -> list[str]:
    """Names of an MP4/MOV file's top-level boxes in file order ("ftyp", "moov", "mdat"...)."""
    data, names, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        names.append(name.decode("latin-1"))
        offset += max(size, 8)
    return names


def raw_clip(path: Path, frames: list[np.ndarray], fps: str = "25") -> Path:
    """A near-lossless H.264 clip (4:4:4, qp 0) of BGR frames, piped to ffmpeg."""
    h, w = frames[0].shape[:2]
    argv = [FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
            "-framerate", fps, "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", "-y", str(path)]
    subprocess.run(argv, input=b"".join(f.tobytes() for f in frames), check=True, capture_output=True)
    return path


def cut_clip(path: Path) -> Path:
    """8 frames: a texture panning 1 px per frame for 4 frames, then another one (a scene cut at frame 4)."""
    a, b = texture(60, 80, seed=1), texture(60, 80, seed=2, blur=3)
    frames = [a[i : i + 48, i : i + 64] for i in range(4)] + [b[i : i + 48, 0:64] for i in range(4)]
    return raw_clip(path, [np.ascontiguousarray(f) for f in frames])


def panning_clip(count: int = 6, size: int = 64) -> list[np.ndarray]:
    """A textured scene panning 1 px right and down per frame."""
    scene = texture(size + 2 * count, size + 2 * count)
    return [np.ascontiguousarray(scene[count - i : count - i + size, count - i : count - i + size])
            for i in range(count)]


def flickered(frames: list[np.ndarray], amplitude: float, seed: int = 1) -> list[np.ndarray]:
    """Frames with a random brightness offset in [-amplitude, amplitude] and noise of sd amplitude/2 ([0, 1] units)."""
    rng = np.random.default_rng(seed)
    out = []
    for frame in frames:
        offset = rng.uniform(-amplitude, amplitude)
        noise = rng.normal(0, amplitude / 2, frame.shape)
        out.append((np.clip(frame / 255.0 + offset + noise, 0, 1) * 255).round().astype(np.uint8))
    return out


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    """A lossless (FFV1) clip of the frames."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path
