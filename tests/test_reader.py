"""pipeline.media.reader.VideoReader on generated clips, checked against ffmpeg's own decoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pipeline.media.reader as sources
from pipeline.errors import InputError, UsageError
from pipeline.media.ffmpeg_decoder import FfmpegCapture
from pipeline.media.reader import VideoReader, count_frames

from media import decode_bgr, decoded_count, ffmpeg, make_clip, texture, truncate


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sources")
    make_clip(folder / "ntsc.mp4", frames=23, fps="30000/1001", audio=())
    make_clip(folder / "p25.mp4", width=32, height=32, frames=30, fps="25", audio=("aac",))
    make_clip(folder / "upright.mp4", width=48, height=32, frames=4, audio=())
    for rotation in (90, 180, -90):
        make_clip(folder / f"rot{rotation}.mp4", width=48, height=32, frames=4, display_rotation=rotation, audio=())
    return folder


@pytest.fixture(params=["opencv", "ffmpeg"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with OpenCV's decoder and again with the ffmpeg binary's, the fallback for codecs OpenCV lacks
    (forced here by making OpenCV's open fail)."""
    if request.param == "ffmpeg":
        monkeypatch.setattr(VideoReader, "_open_cv", lambda self: None)
    return request.param


def read_all(path: Path, **selection: float) -> tuple[VideoReader, list]:
    with VideoReader(path, **selection) as reader:
        frames = list(reader)
    return reader, frames


def test_reader_gives_every_decoded_frame_with_times(clips: Path, decoder: str) -> None:
    reader, frames = read_all(clips / "ntsc.mp4")
    assert reader.info.fps == Fraction(30000, 1001)
    assert len(frames) == reader.frames_read == decoded_count(clips / "ntsc.mp4") == 23
    assert [f.index for f in frames] == list(range(23))
    assert [f.time for f in frames] == pytest.approx([i * 1001 / 30000 for i in range(23)], abs=1e-3)
    assert all(f.pixels.shape == (48, 64, 3) and f.pixels.dtype == np.uint8 for f in frames)
    assert not reader.truncated


def test_reader_frames_are_the_right_frames(clips: Path, decoder: str) -> None:
    _, frames = read_all(clips / "ntsc.mp4")
    reference = decode_bgr(clips / "ntsc.mp4", 64, 48).astype(np.int16)  # ffmpeg's own decoding, in order
    for frame in frames:
        distances = np.abs(reference - frame.pixels.astype(np.int16)).mean(axis=(1, 2, 3))
        assert distances[frame.index] == distances.min()  # ties: the first testsrc2 frames can be identical
        assert distances[frame.index] < 3  # OpenCV and ffmpeg may round the YUV->BGR conversion differently


def test_count_frames_decodes(clips: Path) -> None:
    assert count_frames(clips / "ntsc.mp4") == 23
    assert count_frames(clips / "p25.mp4") == 30


@pytest.mark.parametrize("auto_orient", [True, False])
@pytest.mark.parametrize(("display_rotation", "ccw_quarter_turns"), [(90, 1), (180, 2), (-90, -1)])
def test_reader_frames_are_upright(clips: Path, monkeypatch: pytest.MonkeyPatch, auto_orient: bool,
                                   display_rotation: int, ccw_quarter_turns: int, decoder: str) -> None:
    # With AUTO_ORIENT off OpenCV leaves frames as coded and the reader must turn them itself.
    monkeypatch.setattr(sources, "AUTO_ORIENT", auto_orient)
    _, upright = read_all(clips / "upright.mp4")
    reader, turned = read_all(clips / f"rot{display_rotation}.mp4")
    assert len(turned) == len(upright) == 4
    for plain, rotated in zip(upright, turned, strict=True):
        assert rotated.pixels.shape == (reader.info.height, reader.info.width, 3)
        assert np.array_equal(np.rot90(plain.pixels, ccw_quarter_turns), rotated.pixels)  # rotation is lossless


@pytest.mark.parametrize("seek", ["decode", "seek", "overshoot"])
def test_start_duration_and_max_frames_select_exact_frames(
    clips: Path, monkeypatch: pytest.MonkeyPatch, seek: str, decoder: str
) -> None:
    if seek != "decode":
        monkeypatch.setattr(sources, "SEEK_MIN_S", 0.0)
        # "overshoot" seeks past the start: the reader must notice and decode from the beginning.
        monkeypatch.setattr(sources, "SEEK_PREROLL_S", 0.3 if seek == "seek" else -0.3)
    _, everything = read_all(clips / "p25.mp4")
    reader, part = read_all(clips / "p25.mp4", start=0.4, duration=0.4)
    assert [f.index for f in part] == list(range(10))
    assert [f.time for f in part] == pytest.approx([i * 0.04 for i in range(10)], abs=1e-3)
    assert reader.first_time == pytest.approx(0.4, abs=1e-3)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(part, everything[10:20], strict=True))
    assert not reader.truncated and reader.frames_read == 10

    reader, between = read_all(clips / "p25.mp4", start=0.42, max_frames=3)  # 0.42 s lies between frames 10 and 11
    assert len(between) == reader.frames_read == 3
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(between, everything[11:14], strict=True))
    _, tail = read_all(clips / "p25.mp4", start=1.0)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(tail, everything[25:], strict=True))


def test_truncated_file_stops_cleanly(clips: Path, decoder: str, tmp_path: Path) -> None:
    full = make_clip(tmp_path / "full.mp4", width=32, height=32, frames=30, audio=())
    cut = truncate(full, tmp_path / "cut.mp4", keep=0.5)
    reader, frames = read_all(cut)
    assert reader.info.frame_count == 30  # the index at the front still promises 30
    assert 0 < len(frames) == reader.frames_read < 30
    assert reader.truncated
    reader, frames = read_all(cut, max_frames=3)  # the selection ends before the damage
    assert len(frames) == 3 and not reader.truncated


def test_healthy_mkv_with_longer_audio_is_not_truncated(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "a.mkv", frames=12, fps="24000/1001", audio=("aac",), audio_seconds=1.0)
    reader, frames = read_all(path)
    assert len(frames) == 12 and not reader.truncated


def test_reader_releases_the_decoder_when_left_early(clips: Path) -> None:
    with VideoReader(clips / "p25.mp4") as reader:
        for _ in reader:
            assert reader._capture is not None
            break
    assert reader._capture is None


def test_reader_rejects_a_bad_selection(clips: Path) -> None:
    with pytest.raises(UsageError):
        VideoReader(clips / "p25.mp4", start=-1.0)
    with pytest.raises(UsageError):
        VideoReader(clips / "p25.mp4", duration=0.0)


def write_hdr(source_args: list[str], to_linear: str, path: Path, transfer: str) -> Path:
    """Encode a picture given in linear light (1.0 = 203 nits, the HDR reference white of ITU-R BT.2408) as 10-bit
    HLG or PQ BT.2020, the way an HDR camera places SDR white."""
    chain = f"{to_linear},format=gbrpf32le,zscale=tin=linear:pin=bt709:t={transfer}:p=bt2020:m=bt2020nc:r=tv:npl=203"
    ffmpeg(*source_args, "-vf", f"{chain},format=yuv420p10le", "-c:v", "ffv1", "-color_trc", transfer,
           "-color_primaries", "bt2020", "-colorspace", "bt2020nc", "-y", f"file:{path}")
    return path


@pytest.mark.parametrize("transfer", ["arib-std-b67", "smpte2084"])
def test_hdr_mid_tones_keep_their_sdr_levels(tmp_path: Path, transfer: str) -> None:
    # One grey clip, written as SDR (BT.709) and as HDR with SDR white at 203 nits. Decoded to 8-bit, the HDR file's
    # mid-tones must come back at the SDR file's levels, not darker or flatter (OpenCV wheels before 4.13 ignore the
    # transfer: on a bikes.mp4 made HDR this way, the mean level was 91 for HLG and 89 for PQ, with half the
    # contrast, instead of 104). Grey, so that the YUV matrix cannot matter and the levels test the transfer curve.
    grey = "testsrc2=size=64x48:rate=25,trim=end_frame=2,format=gray,format=yuv420p"
    ffmpeg("-f", "lavfi", "-i", f"{grey},setparams=color_trc=bt709:color_primaries=bt709:colorspace=bt709",
           "-c:v", "ffv1", "-y", f"file:{tmp_path / 'sdr.mkv'}")
    to_linear = "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=linear:p=bt709:npl=203"
    hdr = write_hdr(["-f", "lavfi", "-i", grey], to_linear, tmp_path / "hdr.mkv", transfer)
    _, sdr = read_all(tmp_path / "sdr.mkv")
    reference = np.stack([f.pixels for f in sdr]).astype(np.float64)
    reader, frames = read_all(hdr)
    assert reader.info.transfer == transfer and reader.info.bit_depth == 10
    pixels = np.stack([f.pixels for f in frames]).astype(np.float64)
    # Below the tone curve's knee (half of SDR white's light: level 180 of BT.709) nothing may change.
    mid = reference < 170
    assert 0.5 < mid.mean() < 0.95 and reference[mid].std() > 30  # most of the picture, with contrast to lose
    assert np.abs(pixels - reference)[mid].mean() < 2
    # Above it the levels are compressed to make room for highlights, but keep their order and stay bright.
    assert np.all(pixels[reference >= 230] > 200)


@pytest.mark.parametrize("transfer", ["arib-std-b67", "smpte2084"])
def test_hdr_highlights_are_rolled_off_not_clipped(tmp_path: Path, transfer: str) -> None:
    # A grey ramp in linear light from a quarter of SDR white to 4x (about 50 to 800 nits): the bright sky of a phone
    # video. OpenCV's own conversion clips all that is above SDR white to level 255, one flat white.
    light = np.geomspace(0.25, 4.0, 256, dtype=np.float32)
    planes = np.broadcast_to(light, (3, 16, 256))  # G, B, R planes of a grey picture
    (tmp_path / "ramp.raw").write_bytes(np.ascontiguousarray(planes).tobytes())
    source = ["-f", "rawvideo", "-pix_fmt", "gbrpf32le", "-s", "256x16", "-i", f"file:{tmp_path / 'ramp.raw'}"]
    hdr = write_hdr(source, "null", tmp_path / "ramp.mkv", transfer)
    _, frames = read_all(hdr)
    levels = frames[0].pixels[8, :, 1].astype(int)
    above_white = levels[light > 1.0]
    assert np.all(np.diff(levels[2:-2]) >= 0)  # (the ends: chroma subsampling at the picture's edge)
    assert len(np.unique(above_white)) > 20 and above_white.max() < 255  # distinct greys, not one clipped white


def test_hdr_without_primaries_or_matrix_tags_is_decoded(tmp_path: Path) -> None:
    # Some encoders tag only the transfer; zscale then finds "no path between colorspaces" unless BT.2020 is assumed.
    clip = make_clip(tmp_path / "hlg.mp4", frames=3, audio=(), extra_args=(
        "-vf", "setparams=color_trc=arib-std-b67", "-pix_fmt", "yuv420p10le"))
    reader, frames = read_all(clip)
    assert (reader.info.hdr, reader.info.primaries, reader.info.matrix) == ("HLG", "", "")
    assert len(frames) == 3 and frames[0].pixels.std() > 20


def test_av1_is_decoded(tmp_path: Path) -> None:
    # AV1 (YouTube downloads, screen recorders, newer phones): the opencv-python wheels' FFmpeg has no AV1 decoder,
    # so without the ffmpeg fallback this clip gave "no frame could be decoded".
    try:
        clip = make_clip(tmp_path / "av1.mp4", frames=12, audio=(), extra_args=("-c:v", "libsvtav1", "-preset", "12"))
    except AssertionError:
        pytest.skip("this ffmpeg cannot encode AV1")
    reader, frames = read_all(clip)
    assert len(frames) == 12 and [f.time for f in frames] == pytest.approx([i * 0.04 for i in range(12)], abs=1e-3)
    reference = decode_bgr(clip, 64, 48).astype(np.int16)
    assert all(np.abs(reference[f.index] - f.pixels).mean() < 3 for f in frames)


def test_animated_webp_is_decoded_at_its_own_pace(tmp_path: Path) -> None:
    pictures = [texture(24, 32, seed) for seed in range(4)]
    images = [Image.fromarray(p[:, :, ::-1]) for p in pictures]
    # 100 ms each but the third 200 ms: at the file's average rate the third is shown twice.
    images[0].save(tmp_path / "anim.webp", save_all=True, append_images=images[1:], duration=[100, 100, 200, 100],
                   loop=0, lossless=True)
    reader, frames = read_all(tmp_path / "anim.webp")
    times = [f.time for f in frames]
    assert np.all(np.diff(times) > 0) and times[0] == 0.0
    shown = [int(np.argmin([np.abs(f.pixels.astype(int) - p).mean() for p in pictures])) for f in frames]
    assert shown[0] == 0 and shown[-1] == 3 and sorted(set(shown)) == [0, 1, 2, 3] and shown == sorted(shown)
    for frame, index in zip(frames, shown):
        assert np.abs(frame.pixels.astype(int) - pictures[index]).mean() < 3  # lossless WebP, RGB->BGR right
    assert shown.count(2) >= shown.count(1)  # the long picture lasts at least as long


def test_a_gif_keeps_its_length_when_its_last_picture_lasts_longest(tmp_path: Path, decoder: str) -> None:
    # A GIF that pauses on its last picture (100 ms each, then 1 s): the last picture used to get the one before's
    # 100 ms, and the 1.4 s animation came out as 0.56 s.
    pictures = [texture(24, 32, seed) for seed in range(5)]
    images = [Image.fromarray(p[:, :, ::-1]) for p in pictures]
    images[0].save(tmp_path / "pause.gif", save_all=True, append_images=images[1:],
                   duration=[100, 100, 100, 100, 1000], loop=0)
    reader, frames = read_all(tmp_path / "pause.gif")
    assert reader.info.animation and reader.info.duration == pytest.approx(1.4)
    assert len(frames) / float(reader.info.fps) == pytest.approx(1.4, abs=0.01)
    assert len(frames) == reader.expected_frames
    shown = [int(np.argmin([np.abs(f.pixels.astype(int) - p).mean() for p in pictures])) for f in frames]
    assert shown[0] == 0 and shown.count(4) >= 0.7 * len(frames) - 1  # the pause holds 5/7 of the time


def test_a_gif_with_a_long_gap_before_its_last_picture_keeps_its_length(tmp_path: Path, decoder: str) -> None:
    # The last picture (100 ms) came after a 500 ms one: it was held 500 ms too, and 1.2 s came out as 1.6 s.
    pictures = [texture(24, 32, seed) for seed in range(6)]
    images = [Image.fromarray(p[:, :, ::-1]) for p in pictures]
    images[0].save(tmp_path / "uneven.gif", save_all=True, append_images=images[1:],
                   duration=[100, 100, 300, 100, 500, 100], loop=0)
    reader, frames = read_all(tmp_path / "uneven.gif")
    assert len(frames) / float(reader.info.fps) == pytest.approx(1.2, abs=0.01)
    assert not reader.truncated


def test_a_variable_rate_mkv_keeps_its_length_and_is_not_called_truncated(tmp_path: Path, decoder: str) -> None:
    # 10 pictures in 1 s, in bursts, the last at 29/30 s after a 7/30 s gap; the container says 30 fps. The last
    # picture was held for the gap (36 frames, 1.2 s), and 10 pictures against ~30 frames read as a truncated file.
    source = make_clip(tmp_path / "cfr.mkv", frames=30, fps="30", audio=())
    ffmpeg("-i", f"file:{source}", "-vf", r"select='lt(mod(n\,10)\,3)+eq(n\,29)'", "-fps_mode", "passthrough",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", f"file:{tmp_path / 'vfr.mkv'}")
    reader, frames = read_all(tmp_path / "vfr.mkv")
    assert reader.info.fps == 30 and len(frames) == 30
    assert not reader.truncated and (reader.repeated, reader.dropped) == (20, 0)


def test_a_file_neither_decoder_reads_is_named(clips: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(VideoReader, "_open_cv", lambda self: None)
    original = FfmpegCapture._args
    monkeypatch.setattr(FfmpegCapture, "_args", lambda self: [*original(self)[:-1], "-vf", "nosuchfilter", "pipe:"])
    with pytest.raises(InputError, match=r"p25.mp4': neither OpenCV nor ffmpeg could decode it \(.*nosuchfilter"):
        read_all(clips / "p25.mp4")
