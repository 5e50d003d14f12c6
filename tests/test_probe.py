"""pipeline.media.probe and pipeline.media.ffmpeg_exe on clips generated with the bundled ffmpeg."""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import pytest

from pipeline.errors import InputError, StylizeError
from pipeline.media.ffmpeg_exe import ffmpeg_exe, ffmpeg_reason, ffmpeg_version
from pipeline.media.probe import bit_depth, channel_count, probe, snap_rate

from media import FFMPEG, make_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe")


# ---- ffmpeg_exe ----


def test_ffmpeg_exe_prefers_the_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    link = tmp_path / "my-ffmpeg"
    link.symlink_to(FFMPEG)
    monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", str(link))
    assert ffmpeg_exe() == str(link)


def test_ffmpeg_exe_rejects_a_bad_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", str(tmp_path / "missing"))
    with pytest.raises(StylizeError, match="STYLIZE_VIDEO_FFMPEG=.*missing' does not exist"):
        ffmpeg_exe()
    (tmp_path / "plain").write_text("not a program")
    monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", str(tmp_path / "plain"))
    with pytest.raises(StylizeError, match="STYLIZE_VIDEO_FFMPEG=.*plain' is not an executable file"):
        ffmpeg_exe()


def test_ffmpeg_exe_takes_a_bare_name_from_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "ffmpeg7").symlink_to(FFMPEG)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", "ffmpeg7")  # as `STYLIZE_VIDEO_FFMPEG=ffmpeg7 stylize-video ...`
    assert ffmpeg_exe() == str(tmp_path / "ffmpeg7")
    monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", "ffmpeg-nowhere")
    with pytest.raises(StylizeError, match="STYLIZE_VIDEO_FFMPEG='ffmpeg-nowhere' does not exist"):
        ffmpeg_exe()


def test_ffmpeg_exe_uses_the_bundled_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STYLIZE_VIDEO_FFMPEG", raising=False)
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_ffmpeg_exe_falls_back_to_path_then_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_binary() -> str:
        raise RuntimeError("no ffmpeg for this platform")

    monkeypatch.delenv("STYLIZE_VIDEO_FFMPEG", raising=False)
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_binary)
    (tmp_path / "ffmpeg").symlink_to(FFMPEG)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ffmpeg_exe() == str(tmp_path / "ffmpeg")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(StylizeError, match="ffmpeg not found") as error:
        ffmpeg_exe()
    assert "\n" not in str(error.value)


def fake_ffmpeg(folder: Path, name: str, banner: str) -> Path:
    """An executable that prints `banner` as `ffmpeg -version` would."""
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{banner}'\n")
    script.chmod(0o755)
    return script


def test_ffmpeg_version_reads_release_numbers() -> None:
    assert ffmpeg_version("ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright (c) 2000-2026") == (9, 0)
    assert ffmpeg_version("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers") == (5, 1)
    assert ffmpeg_version("ffmpeg version 4.2.2-static https://johnvansickle.com/ffmpeg/") == (4, 2)
    assert ffmpeg_version("ffmpeg version 10.1 Copyright") == (10, 1)
    assert ffmpeg_version("ffmpeg version N-117000-g1234abcd Copyright") is None  # a git snapshot


def test_an_ffmpeg_too_old_or_not_ffmpeg_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 5.1 (Debian 12's) gives animated GIFs the wrong length and 4.2 misreads rotation: refused before any work.
    old = fake_ffmpeg(tmp_path, "ffmpeg-5.1", "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026")
    monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", str(old))
    with pytest.raises(StylizeError, match=r"ffmpeg 5\.1 at .*ffmpeg-5\.1' is too old .* at ffmpeg 7\.0 or newer") as error:
        ffmpeg_exe()
    assert "\n" not in str(error.value)
    other = fake_ffmpeg(tmp_path, "not-ffmpeg", "usage: something else")
    monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", str(other))
    with pytest.raises(StylizeError, match="does not answer -version as ffmpeg does"):
        ffmpeg_exe()
    for name, banner in (("ffmpeg-7.0", "ffmpeg version 7.0.2-static"), ("ffmpeg-git", "ffmpeg version N-117000-g12")):
        accepted = fake_ffmpeg(tmp_path, name, banner)
        monkeypatch.setenv("STYLIZE_VIDEO_FFMPEG", str(accepted))
        assert ffmpeg_exe() == str(accepted)


def test_ffmpeg_reason_prefers_the_first_error_over_the_epilogue() -> None:
    lines = [
        "[libx264 @ 0x1] [info] using cpu capabilities",
        "[out#0/mp4 @ 0x55] [error] Could not write header (incorrect codec parameters ?): No space left on device",
        "[vf#0:0 @ 0x56] [error] Task finished with error code: -28 (No space left on device)",
        "[out#0/mp4 @ 0x55] [error] Nothing was written into output file, because at least one of its streams...",
    ]
    assert ffmpeg_reason(lines) == "Could not write header (incorrect codec parameters ?): No space left on device"
    assert ffmpeg_reason(["Input #0", "Error opening input files: Invalid data found", "Conversion failed!"]) == (
        "Error opening input files: Invalid data found"
    )


# ---- probe: properties of generated clips ----


def test_probe_basic_clip(clips: Path) -> None:
    info = probe(make_clip(clips / "basic.mp4", width=64, height=48, frames=10, fps="25", audio=("aac",)))
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.fps == Fraction(25) and isinstance(info.fps, Fraction)
    assert info.frame_count == 10
    assert info.duration == pytest.approx(0.4, abs=0.03)
    assert (info.sar, info.pix_fmt, info.bit_depth) == (Fraction(1), "yuv420p", 8)
    assert info.path == (clips / "basic.mp4").resolve()
    assert [(a.index, a.codec, a.sample_rate, a.channels, a.language) for a in info.audio] == [
        (1, "aac", 48000, 1, None)
    ]


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        ("30000/1001", Fraction(30000, 1001)),
        ("24000/1001", Fraction(24000, 1001)),
        ("25", Fraction(25)),
        ("60000/1001", Fraction(60000, 1001)),
        ("12.5", Fraction(25, 2)),
    ],
)
def test_probe_gives_exact_frame_rates(clips: Path, fps: str, expected: Fraction) -> None:
    info = probe(make_clip(clips / f"rate-{fps.replace('/', '_')}.mp4", frames=8, fps=fps, audio=()))
    assert info.fps == expected
    assert info.frame_count == 8


def test_probe_reads_the_sample_aspect_ratio(clips: Path) -> None:
    info = probe(make_clip(clips / "sar.mp4", width=32, height=32, frames=3, sar="2/1", audio=()))
    assert info.sar == Fraction(2)
    assert (info.width, info.height) == (32, 32)  # display size is before SAR


@pytest.mark.parametrize(("display_rotation", "clockwise"), [(90, 270), (-90, 90), (180, 180)])
def test_probe_rotation_gives_display_size(clips: Path, display_rotation: int, clockwise: int) -> None:
    path = make_clip(
        clips / f"rot{display_rotation}.mp4",
        width=64,
        height=48,
        frames=3,
        sar="2/1",
        display_rotation=display_rotation,
        audio=(),
    )
    info = probe(path)
    assert info.rotation == clockwise
    turned = clockwise in (90, 270)
    assert (info.width, info.height) == ((48, 64) if turned else (64, 48))
    assert info.display_sar == (Fraction(1, 2) if turned else Fraction(2))


def test_probe_lists_every_audio_stream_in_order(clips: Path) -> None:
    path = make_clip(clips / "two.mp4", frames=5, audio=("aac", "mp3"), extra_args=["-metadata:s:a:1", "language=fra"])
    info = probe(path)
    assert [(a.index, a.codec, a.language) for a in info.audio] == [(1, "aac", None), (2, "mp3", "fra")]
    assert [a.sample_rate for a in info.audio] == [48000, 44100]


def test_probe_pcm_alaw_in_mov_and_no_audio(clips: Path) -> None:
    alaw = probe(make_clip(clips / "alaw.mov", frames=5, audio=("pcm_alaw",)))
    assert [(a.codec, a.sample_rate, a.channels) for a in alaw.audio] == [("pcm_alaw", 8000, 1)]
    assert probe(make_clip(clips / "silent.mp4", frames=5, audio=())).audio == ()


def test_probe_ten_bit(clips: Path) -> None:
    info = probe(make_clip(clips / "ten.mkv", frames=4, audio=(), extra_args=["-pix_fmt", "yuv420p10le"]))
    assert (info.pix_fmt, info.bit_depth) == ("yuv420p10le", 10)


@pytest.mark.parametrize("trc, hdr", [("arib-std-b67", "HLG"), ("smpte2084", "PQ"), ("bt709", None), (None, None)])
def test_probe_reads_the_transfer_and_tells_hdr(clips: Path, trc: str | None, hdr: str | None) -> None:
    tags = ("-vf", f"setparams=color_trc={trc}:color_primaries=bt2020:colorspace=bt2020nc") if trc else ()
    info = probe(make_clip(clips / f"trc-{trc}.mp4", frames=2, audio=(), extra_args=tags))
    assert (info.transfer, info.hdr) == (trc or "", hdr)
    assert (info.primaries, info.matrix) == (("bt2020", "bt2020nc") if trc else ("", ""))


def test_probe_reads_partial_colour_tags(clips: Path) -> None:
    only_trc = ("-vf", "setparams=color_trc=arib-std-b67")
    info = probe(make_clip(clips / "only-trc.mp4", frames=2, audio=(), extra_args=only_trc))
    assert (info.matrix, info.primaries, info.transfer) == ("", "", "arib-std-b67")
    all_709 = ("-vf", "setparams=color_trc=bt709:color_primaries=bt709:colorspace=bt709")
    info = probe(make_clip(clips / "bt709.mp4", frames=2, audio=(), extra_args=all_709))
    assert (info.matrix, info.primaries, info.transfer) == ("bt709", "bt709", "bt709")


def test_probe_mkv_frame_count_ignores_longer_audio(clips: Path) -> None:
    # The container lasts as long as the audio (1 s); the video has 10 frames at 25 fps.
    info = probe(make_clip(clips / "long-audio.mkv", frames=10, fps="25", audio=("aac",), audio_seconds=1.0))
    assert info.frame_count == 10
    assert info.duration == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("name", ["-x.mp4", "a:b.mp4", "$(touch p).mp4", "sp ace'q\".mp4"])
def test_probe_odd_file_names_are_plain_local_files(clips: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(clips)
    make_clip(Path(name).absolute(), frames=3, audio=())
    assert probe(name).frame_count == 3
    assert not (clips / "p").exists()


# ---- probe: errors ----


def _error(path: str | os.PathLike) -> str:
    with pytest.raises(InputError) as error:
        probe(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    return message


def test_probe_errors_are_distinct_one_liners(clips: Path) -> None:
    (clips / "empty.mp4").write_bytes(b"")
    # Seeded: some draws of random bytes happen to parse as a subtitle text format (seen once in ~100 runs).
    (clips / "random.mp4").write_bytes(random.Random(0).randbytes(4096))
    audio_only = clips / "audio.m4a"
    make_clip(clips / "with-audio.mp4", frames=5, audio=("aac",))
    from media import ffmpeg

    ffmpeg("-i", str(clips / "with-audio.mp4"), "-map", "0:a", "-c", "copy", "-y", str(audio_only))
    messages = {
        "missing": _error(clips / "missing.mp4"),
        "folder": _error(clips),
        "empty": _error(clips / "empty.mp4"),
        "random": _error(clips / "random.mp4"),
        "audio": _error(audio_only),
    }
    assert "does not exist" in messages["missing"]
    assert "folder" in messages["folder"]
    assert "empty" in messages["empty"]
    assert "neither an image nor a media file" in messages["random"] and "Invalid data" in messages["random"]
    assert "no video stream" in messages["audio"] and "aac" in messages["audio"]
    assert len(set(messages.values())) == 5


def test_an_mp4_cut_before_its_index_is_called_cut_short(tmp_path: Path) -> None:
    # A camera writes the index (moov) after the frames; `head -c 20000 in.mp4` keeps none of it, and was called
    # "neither an image nor a media file ffmpeg can read".
    from media import ffmpeg, top_level_boxes

    front = make_clip(tmp_path / "front.mp4", width=320, height=240, frames=50)
    ffmpeg("-i", f"file:{front}", "-c", "copy", "-y", f"file:{tmp_path / 'camera.mp4'}")  # no +faststart: moov last
    assert top_level_boxes(tmp_path / "camera.mp4")[-1] == "moov"
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((tmp_path / "camera.mp4").read_bytes()[:20000])
    message = _error(cut)
    assert message.startswith(f"'{cut}' looks damaged or cut short: it starts as an MP4/MOV video, but its index")
    assert message.endswith("(ffmpeg: Error opening input files: Invalid data found when processing input)")
    # A broken HEIC photo starts with an 'ftyp' box too, of an image brand: not called a video.
    heic = tmp_path / "photo.heic"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(100))
    assert "neither an image nor a media file" in _error(heic)


# ---- small parsers ----


def test_small_parsers() -> None:
    layouts = {"mono": 1, "stereo": 2, "5.1(side)": 6, "7.1": 8, "7.1.4": 12, "3 channels": 3, "quad": 4, "??": None}
    assert {name: channel_count(name) for name in layouts} == layouts
    depths = {"yuv420p": 8, "yuv420p10le": 10, "p010le": 10, "rgb48le": 16, "gray12be": 12, "nv12": 8}
    assert {name: bit_depth(name) for name in depths} == depths
    rates = {29.97: Fraction(30000, 1001), 23.98: Fraction(24000, 1001), 59.94: Fraction(60000, 1001)}
    rates |= {25.0: Fraction(25), 12.5: Fraction(25, 2), 30.0: Fraction(30)}
    assert {rounded: snap_rate(rounded) for rounded in rates} == rates


def test_probe_names_the_demuxer_and_tells_animations(clips: Path) -> None:
    mp4 = probe(make_clip(clips / "plain.mp4", frames=2, audio=()))
    assert "mp4" in mp4.demuxers.split(",") and not mp4.animation
    gif = probe(make_clip(clips / "anim.gif", frames=2, audio=(), extra_args=("-c:v", "gif")))
    assert gif.demuxers == "gif" and gif.animation
