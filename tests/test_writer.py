"""pipeline.media.writer: the ffmpeg argument lists, real round trips measured with ffmpeg, failures and audio
muxing."""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import OutputError, UsageError
from pipeline.media.probe import AudioStream, probe
from pipeline.media.reader import VideoReader
from pipeline.media.writer import VideoWriter, audio_plan, mux_args, mux_audio, video_args

from media import (
    decode_bgr,
    decoded_count,
    decoded_seconds,
    ffmpeg_packets,
    framemd5,
    header,
    make_clip,
    top_level_boxes,
)

NTSC = Fraction(30000, 1001)


def option(args: list[str], name: str) -> list[str]:
    """Every value given to option `name` in an argv."""
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == name]


def frames(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """Distinct BGR uint8 frames: a gradient that moves by frame number."""
    y, x = np.mgrid[0:height, 0:width]
    return [
        np.stack([(x * 4 + i * 8) % 256, (y * 5) % 256, np.full_like(x, 128)], -1).astype(np.uint8)
        for i in range(count)
    ]


def write_clip(path: Path, count: int, fps: Fraction, width: int = 64, height: int = 48, **kwargs: object) -> Path:
    with VideoWriter(path, width, height, fps, **kwargs) as writer:
        for frame in frames(count, width, height):
            writer.write(frame)
    return path


# ---- argument lists ----


def test_video_args_are_complete(tmp_path: Path) -> None:
    args = video_args(tmp_path / "out.mp4", 64, 48, NTSC, crf=20, sar=Fraction(2), preset="fast")
    assert args[-1] == "-y" and f"file:{tmp_path / 'out.mp4'}" in args
    assert option(args, "-f") == ["rawvideo", "mp4"]
    assert option(args, "-pix_fmt") == ["bgr24", "yuv420p"]
    assert option(args, "-s") == ["64x48"] and option(args, "-i") == ["pipe:"]
    assert option(args, "-framerate") == ["30000/1001"] and option(args, "-r") == ["30000/1001"]
    assert option(args, "-vcodec") == ["libx264"] and option(args, "-profile:v") == ["high"]
    assert option(args, "-crf") == ["20"] and option(args, "-preset") == ["fast"]
    for name in ("-colorspace", "-color_primaries", "-color_trc"):
        assert option(args, name) == ["bt709"]
    assert option(args, "-color_range") == ["tv"]
    assert option(args, "-movflags") == ["+faststart"]
    graph = option(args, "-filter_complex")[0]
    assert "setsar=2/1" in graph and "out_color_matrix=bt709" in graph and "crop" not in graph


def test_crf_0_writes_a_lossless_video(tmp_path: Path) -> None:
    # x264 codes lossless only in High 4:4:4 Predictive; with High forced, --crf 0 failed ("Error setting profile
    # high") after the first frames were painted.
    rng = np.random.default_rng(0)
    sources = [np.repeat(rng.integers(16, 236, (48, 64, 1), dtype=np.uint8), 3, axis=2) for _ in range(3)]  # greys:
    error = {}  # 4:2:0 loses nothing of them, so all a lossless code may leave is the limited-range rounding
    for crf in (0, 18):
        path = tmp_path / f"crf{crf}.mp4"
        with VideoWriter(path, 64, 48, Fraction(10), crf=crf) as writer:
            for frame in sources:
                writer.write(frame)
        with VideoReader(path) as reader:
            decoded = [frame.pixels.astype(int) for frame in reader]
        assert len(decoded) == 3
        error[crf] = max(np.abs(d - s).max() for d, s in zip(decoded, sources))
    assert error[0] <= 1 < error[18], error


def test_video_args_odd_size_names_and_containers(tmp_path: Path) -> None:
    odd = video_args(tmp_path / "-x.mkv", 33, 21, Fraction(25))
    assert "crop=32:20:0:0" in option(odd, "-filter_complex")[0]
    assert f"file:{tmp_path}/-x.mkv" in odd and option(odd, "-f") == ["rawvideo", "matroska"]
    assert option(odd, "-movflags") == []  # +faststart is an MP4/MOV flag
    assert option(video_args("/dev/full", 64, 48, Fraction(25)), "-f")[-1] == "mp4"
    with pytest.raises(UsageError, match=r"'\.webm' is not supported; videos are written as H\.264 in \.mp4"):
        video_args(tmp_path / "out.webm", 64, 48, Fraction(25))


# ---- round trips ----


def test_round_trip_rate_size_tags_faststart(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "out.mp4", 20, NTSC, sar=Fraction(2))
    assert decoded_count(path) == 20
    timebase, packets = framemd5(path, "v:0")
    assert {packet.duration * timebase for packet in packets} == {1 / NTSC}  # every frame lasts exactly 1001/30000 s
    text = header(path)
    assert "Video: h264 (High)" in text
    assert "yuv420p(tv, bt709, progressive), 64x48 [SAR 2:1 DAR 8:3]" in text
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")
    assert probe(path).fps == NTSC


def test_round_trip_colours_follow_the_bt709_tags(tmp_path: Path) -> None:
    # Converting with BT.601 while tagging BT.709 would shift this colour by ~9 levels.
    colour = np.zeros((48, 64, 3), np.uint8)
    colour[:] = (40, 180, 220)
    with VideoWriter(tmp_path / "c.mp4", 64, 48, Fraction(25)) as writer:
        for _ in range(3):
            writer.write(colour)
    decoded = decode_bgr(tmp_path / "c.mp4", 64, 48)
    assert np.abs(decoded.astype(int) - colour).max() <= 4


def test_odd_size_is_cropped_at_the_right_and_bottom(tmp_path: Path) -> None:
    image = np.full((21, 33, 3), 100, np.uint8)
    image[-1, :] = image[:, -1] = 255  # the row and column that must go
    with VideoWriter(tmp_path / "odd.mp4", 33, 21, Fraction(25)) as writer:
        assert writer.cropped and writer.size == (32, 20)
        for _ in range(3):
            writer.write(image)
    decoded = decode_bgr(tmp_path / "odd.mp4", 32, 20)
    assert decoded.shape == (3, 20, 32, 3)
    assert np.abs(decoded.astype(int) - 100).max() <= 1  # and a flat grey survives (accurate rounding)
    assert not VideoWriter(tmp_path / "even.mp4", 32, 20, Fraction(25)).cropped


def test_write_checks_the_frame_shape(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "x.mp4", 64, 48, Fraction(25)) as writer:
        with pytest.raises(ValueError, match="expected a 48x64x3 uint8 frame"):
            writer.write(np.zeros((64, 48, 3), np.uint8))
        with pytest.raises(ValueError):
            writer.write(np.zeros((48, 64, 3), np.float32))
        writer.write(np.zeros((48, 64, 3), np.uint8))
    assert decoded_count(tmp_path / "x.mp4") == 1


# ---- failures and process handling ----


def test_ffmpeg_reason_reaches_the_exception_on_a_full_disk() -> None:
    with pytest.raises(OutputError, match="No space left on device") as error:
        write_clip(Path("/dev/full"), 10, Fraction(25), preset="ultrafast")
    assert "\n" not in str(error.value)


def test_ffmpeg_dying_early_gives_its_reason(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="No such file or directory"):
        write_clip(tmp_path / "missing-folder" / "out.mp4", 200, Fraction(25), preset="ultrafast")


def test_stderr_flood_does_not_block(tmp_path: Path) -> None:
    # loglevel debug prints many lines per frame: far more than a pipe buffer holds.
    done: list[VideoWriter] = []

    def run() -> None:
        with VideoWriter(tmp_path / "flood.mp4", 64, 48, Fraction(25), preset="ultrafast", loglevel="debug") as writer:
            for frame in frames(30):
                writer.write(frame)
        done.append(writer)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done, "the writer blocked"
    assert len(done[0]._stderr.tail) == done[0]._stderr.tail.maxlen  # the flood really happened, bounded
    assert decoded_count(tmp_path / "flood.mp4") == 30


def test_ffmpeg_runs_in_its_own_session_and_finishes_on_an_exception(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "kept.mp4", 64, 48, Fraction(25), preset="ultrafast")
    with pytest.raises(KeyboardInterrupt), writer:
        assert os.getsid(writer._process.pid) != os.getsid(0)  # Ctrl-C in the terminal does not reach it
        for frame in frames(7):
            writer.write(frame)
        raise KeyboardInterrupt
    assert writer._process.returncode == 0 and writer._process.stdin.closed
    assert decoded_count(tmp_path / "kept.mp4") == 7  # what was written before the interrupt is a playable file


# ---- audio ----


def _stream(codec: str, index: int = 1) -> AudioStream:
    return AudioStream(index, codec, 48000, 2, None)


def test_audio_plan_copies_what_the_container_takes() -> None:
    streams = tuple(_stream(c, i + 1) for i, c in enumerate(["aac", "mp3", "pcm_alaw", "opus", "vorbis", "pcm_s16le"]))
    plan = lambda container: [action for _, action in audio_plan(streams, container)]  # noqa: E731
    assert plan("out.mp4") == ["copy", "copy", "aac", "copy", "aac", "aac"]
    assert plan(".mov") == ["copy", "copy", "copy", "aac", "aac", "copy"]
    assert plan("x.m4v") == ["copy", "aac", "aac", "aac", "aac", "aac"]
    assert plan("x.mkv") == ["copy", "copy", "aac", "copy", "copy", "copy"]
    assert [stream for stream, _ in audio_plan(streams, "out.mp4")] == list(streams)
    with pytest.raises(UsageError):
        audio_plan(streams, "x.webm")


def _stylize(source: Path, target: Path, **selection: float) -> tuple[Path, VideoReader]:
    """Copy the frames of a selection of `source` through VideoReader and VideoWriter: a stand-in stylizer."""
    reader = VideoReader(source, **selection)
    info = reader.info
    with reader, VideoWriter(target, info.width, info.height, info.fps, preset="ultrafast") as writer:
        for frame in reader:
            writer.write(frame.pixels)
    return target, reader


def test_mux_copies_aac_bit_for_bit_and_keeps_the_video(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "src.mp4", frames=25, fps="25", audio=("aac",))
    video, reader = _stylize(source, tmp_path / "video.mp4")
    out = tmp_path / "out.mp4"
    mux_audio(video, source, out, reader.info.audio, start=0.0, duration=1.0)
    assert ffmpeg_packets(out, "a:0") == ffmpeg_packets(source, "a:0")
    assert ffmpeg_packets(out, "v:0") == ffmpeg_packets(video, "v:0")
    assert top_level_boxes(out).index("moov") < top_level_boxes(out).index("mdat")
    args = mux_args(video, source, out, reader.info.audio, 0.0, 1.0)
    assert "-shortest" not in args and option(args, "-c:v") == ["copy"]


def test_mux_encodes_alaw_to_aac_of_the_right_length(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "src.mov", frames=25, fps="25", audio=("pcm_alaw",))
    video, reader = _stylize(source, tmp_path / "video.mp4")
    out = tmp_path / "out.mp4"
    mux_audio(video, source, out, reader.info.audio, start=0.0, duration=1.0)
    assert [(a.codec, a.sample_rate) for a in probe(out).audio] == [("aac", 8000)]
    assert decoded_seconds(out, "a:0") == pytest.approx(1.0, abs=0.03)
    assert decoded_count(out) == 25


def test_mux_keeps_two_streams_in_order_and_none_as_none(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "two.mp4", frames=10, fps="25", audio=("aac", "mp3"))
    video, reader = _stylize(source, tmp_path / "video.mp4")
    mux_audio(video, source, tmp_path / "two-out.mp4", reader.info.audio, 0.0, 0.4)
    assert [a.codec for a in probe(tmp_path / "two-out.mp4").audio] == ["aac", "mp3"]
    for spec in ("a:0", "a:1"):
        assert ffmpeg_packets(tmp_path / "two-out.mp4", spec) == ffmpeg_packets(source, spec)

    silent = make_clip(tmp_path / "silent.mp4", frames=10, fps="25", audio=())
    video, reader = _stylize(silent, tmp_path / "video2.mp4")
    mux_audio(video, silent, tmp_path / "silent-out.mp4", reader.info.audio, 0.0, 0.4)
    assert probe(tmp_path / "silent-out.mp4").audio == ()
    assert decoded_count(tmp_path / "silent-out.mp4") == 10


def test_mux_trims_audio_to_the_selection(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "src.mp4", frames=50, fps="25", audio=("aac",))  # 2 s
    video, reader = _stylize(source, tmp_path / "video.mp4", start=0.5, duration=1.0)
    assert reader.frames_read == 25 and reader.first_time == pytest.approx(0.52)  # 0.5 s falls between two frames
    out = tmp_path / "out.mp4"
    mux_audio(video, source, out, reader.info.audio, start=reader.first_time, duration=1.0)
    assert decoded_count(out) == 25
    assert decoded_seconds(out, "a:0") == pytest.approx(1.0, abs=0.03)
    # Copied packets are a contiguous run of the source's (with decoder preroll before 0, hidden by an edit list),
    # and the output's time 0 is the source's first_time.
    timebase, kept = framemd5(out, "a:0")
    _, original = framemd5(source, "a:0")
    first = [p.md5 for p in original].index(kept[0].md5)
    assert [p.md5 for p in original[first : first + len(kept)]] == [p.md5 for p in kept]
    assert float((original[first].pts - kept[0].pts) * timebase) == pytest.approx(0.52, abs=1e-3)


def test_mux_into_matroska_starts_audio_and_video_together_after_a_seek(tmp_path: Path) -> None:
    # Matroska has no edit list: the copied audio from the keyframe before the start (0 s here) used to come first,
    # with the pictures 0.5 s later and the file 1.5 s long.
    source = make_clip(tmp_path / "src.mp4", frames=50, fps="25", audio=("aac",))  # 2 s, one keyframe at 0
    video, reader = _stylize(source, tmp_path / "video.mp4", start=0.5, duration=1.0)
    out = tmp_path / "out.mkv"
    mux_audio(video, source, out, reader.info.audio, start=reader.first_time, duration=1.0)
    assert decoded_count(out) == 25 and probe(out).duration == pytest.approx(1.0, abs=0.05)
    pictures = framemd5(out, "v:0")[1]
    timebase, kept = framemd5(out, "a:0")
    original = framemd5(source, "a:0")[1]
    assert pictures[0].pts == 0 and 0 <= float(kept[0].pts * timebase) < 0.03  # from the first packet after 0.52
    # The packets are the source's from there, each 0.52 s earlier (a sine repeats packets: match by time).
    source_timebase = framemd5(source, "a:0")[0]
    times = np.array([float(p.pts * source_timebase) for p in original])
    for packet in kept[:-1]:  # (Matroska keeps milliseconds)
        nearest = int(np.argmin(np.abs(times - float(packet.pts * timebase) - 0.52)))
        assert abs(times[nearest] - float(packet.pts * timebase) - 0.52) < 1.5e-3
        assert original[nearest].md5 == packet.md5


def test_mux_audio_shorter_than_video_keeps_every_frame(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "src.mp4", frames=25, fps="25", audio=("aac",), audio_seconds=0.4)
    video, reader = _stylize(source, tmp_path / "video.mp4")
    out = tmp_path / "out.mp4"
    mux_audio(video, source, out, reader.info.audio, start=0.0, duration=1.0)
    assert decoded_count(out) == 25
    assert decoded_seconds(out, "a:0") == pytest.approx(0.4, abs=0.03)


def test_mux_failure_carries_ffmpeg_reason(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "src.mp4", frames=5, fps="25", audio=("aac",))
    with pytest.raises(OutputError, match="No such file or directory"):
        mux_audio(tmp_path / "missing.mp4", source, tmp_path / "out.mp4", probe(source).audio, 0.0, 0.2)


def test_odd_output_names_are_plain_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    source = make_clip(tmp_path / "-src $(touch p).mp4", frames=5, fps="25", audio=("aac",))
    video = write_clip(Path("-a:b.mp4"), 5, Fraction(25), preset="ultrafast")
    mux_audio(video, source, Path("-out:$(touch p).mov"), probe(source).audio, 0.0, 0.2)
    assert decoded_count(tmp_path / "-out:$(touch p).mov") == 5
    assert not (tmp_path / "p").exists()
