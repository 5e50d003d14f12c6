"""Real-world files, faults and hostile input: each case builds the bad input and checks the promised behaviour.

The cases already covered elsewhere (rotation in the reader, SAR, 10-bit, two audio streams, A-law, truncation,
stderr floods, SIGKILL + resume, output = input, weights_only, odd names in probe and sinks) are not repeated here;
the README's "What happens when" lists every case with its test.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import namedtuple
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import pipeline.checkpoints as checkpoints
import pipeline.core.stylizer as stylize_module
import pipeline.video_job as video_job
from cli.main import main
from pipeline.checkpoints import work_folder
from pipeline.config import OptimSettings, StyleSettings, VideoSettings
from pipeline.core.oom import MemoryFallback
from pipeline.errors import Interrupted, OutputError
from pipeline.events import FrameDone, FrameStarted, VideoPlan
from pipeline.media.probe import probe
from pipeline.media.writer import VideoWriter
from pipeline.video import stylize_video

from fakes import IdentityStylizer, of
from media import (
    decode_bgr,
    decoded_count,
    decoded_seconds,
    ffmpeg,
    header,
    make_clip,
    raw_clip,
    texture,
    top_level_boxes,
)

SETTINGS = StyleSettings(size=48, optim=OptimSettings(iterations=4, max_scales=1))
VIDEO = VideoSettings(frame_iterations=2, preset="ultrafast")
ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ["--size", "48", "--iterations", "4", "--frame-iterations", "2", "--device", "cpu", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def run(source: Path, style: Path, out: Path, settings: StyleSettings = SETTINGS, video: VideoSettings = VIDEO,
        device: str = "cpu", stylizer=None):
    events: list[object] = []
    result = stylize_video(source, [(style, 1.0)], out, settings, video, device=device, on_event=events.append,
                           stylizer=stylizer)
    return result, events


def cli(capsys, *args: object, stylizer=None) -> tuple[int, str]:
    code = main([str(a) for a in args], stylizer=stylizer)
    return code, capsys.readouterr().err.strip()


@pytest.fixture()
def identity() -> type[IdentityStylizer]:
    """The stylizer for runs where only the plumbing is under test."""
    return IdentityStylizer


# ---- geometry and colour ----


def test_phone_video_with_rotation_comes_out_upright(tmp_path: Path, style: Path, identity) -> None:
    source = make_clip(tmp_path / "phone.mp4", width=64, height=48, frames=4, display_rotation=90, audio=("aac",))
    out = tmp_path / "out.mp4"
    run(source, style, out, replace(SETTINGS, size=64), stylizer=identity)
    info = probe(out)
    assert (info.width, info.height, info.rotation) == (48, 64, 0)  # the display's size, no rotation left to apply
    upright = decode_bgr(source, 48, 64).astype(int)  # ffmpeg applies the display matrix when decoding
    painted = decode_bgr(out, 48, 64).astype(int)
    assert np.abs(painted - upright).mean() < 5  # two lossy encodes apart
    assert np.abs(painted - upright[:, ::-1, ::-1]).mean() > 30  # upside down would be far


def test_odd_size_is_made_even_and_displays_at_its_aspect(tmp_path: Path, style: Path, identity) -> None:
    source = tmp_path / "odd.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=642x482:rate=25,format=yuv444p,crop=641:481:0:0", "-frames:v", "3", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv444p", "-y", str(source))
    assert (probe(source).width, probe(source).height) == (641, 481)
    out = tmp_path / "out.mp4"
    result, _ = run(source, style, out, replace(SETTINGS, size=1000), stylizer=identity)
    info = probe(out)
    assert (info.width, info.height) == (640, 480) and decoded_count(out) == result.frames == 3
    # 640x480 is 0.05% wider than 641x481; the pixel aspect ratio takes it back, so nothing needs a warning.
    assert info.sar == Fraction(1923, 1924) and Fraction(info.width) * info.sar / info.height == Fraction(641, 481)


def test_colour_bars_keep_their_hues_and_the_output_plays_everywhere(tmp_path: Path, style: Path,
                                                                          identity) -> None:
    source = tmp_path / "bars.mp4"
    ffmpeg("-f", "lavfi", "-i", "smptebars=size=128x96:rate=25", "-f", "lavfi", "-i", "sine=d=0.12", "-frames:v", "3",
           "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", "-c:a", "aac", "-y", str(source))
    out = tmp_path / "out.mp4"
    run(source, style, out, replace(SETTINGS, size=128), VideoSettings(), stylizer=identity)  # the real preset: ultrafast is Baseline
    text = header(out)
    assert "Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive)" in text
    assert top_level_boxes(out).index("moov") < top_level_boxes(out).index("mdat")
    hsv_in = cv2.cvtColor(decode_bgr(source, 128, 96)[1], cv2.COLOR_BGR2HSV_FULL).astype(int)
    hsv_out = cv2.cvtColor(decode_bgr(out, 128, 96)[1], cv2.COLOR_BGR2HSV_FULL).astype(int)
    for bar in range(7):  # the seven bars of the top two thirds, sampled in their middles (away from 4:2:0 edges)
        x = round((bar + 0.5) * 128 / 7)
        a, b = hsv_in[16:48, x - 3 : x + 3].reshape(-1, 3), hsv_out[16:48, x - 3 : x + 3].reshape(-1, 3)
        if a[:, 1].mean() > 60:  # a coloured bar (not the white/grey one): hue within 6 degrees (red wraps at 0)
            hue_change = ((b[:, 0] - a[:, 0] + 128) % 256 - 128).mean()
            assert abs(hue_change) * 360 / 256 < 6, f"bar {bar}"
        assert np.abs(b[:, 2].mean() - a[:, 2].mean()) < 8


# ---- variable frame rate ----


def test_variable_frame_rate_keeps_sound_and_picture_in_sync(tmp_path: Path, style: Path, identity) -> None:
    # One second at 25 fps, then one second at 10 fps; each picture shows its time in 50ths of a second as 7 black or
    # white bars (bit k = column k), and the sound's loudness is 0.45 * time: both clocks can be read back.
    source = tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x48:r=50,format=gray,"
           "geq=lum='255*gt(bitand(round(T*50),pow(2,floor(X/8))),0)',format=yuv420p,"
           "select='if(lt(t,1),not(mod(n,2)),not(mod(n,5)))',trim=end=2",
           "-f", "lavfi", "-i", "aevalsrc=0.45*t*sin(2*PI*440*t):s=48000:d=2", "-fps_mode", "vfr",
           "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-c:a", "aac", "-b:a", "128k", "-y", str(source))
    source_times = np.array([i / 25 for i in range(25)] + [1 + i / 10 for i in range(10)])
    out = tmp_path / "out.mp4"
    result, events = run(source, style, out, replace(SETTINGS, size=64), stylizer=identity)
    # 35 pictures give 37 frames at the average rate: the bar's total grows past the probe's count ("37/35" before).
    done = [e for e in events if isinstance(e, FrameDone)]
    assert len(done) == result.frames > 35 and all(e.total_estimate >= e.index + 1 for e in done)
    # A repeated picture reuses its painting: painted again it cost a warm frame, and differed a little.
    kinds = [e.kind for e in events if isinstance(e, FrameStarted)]
    assert kinds.count("repeat") == 9  # the warning's count
    assert any("(9 frames repeated, 7 dropped)" in w for w in result.warnings)
    fps = probe(out).fps
    assert fps == probe(source).fps  # the average rate: about as many frames out as in
    assert any("variable frame rate" in w and "constant 18.23 fps" in w for w in result.warnings)
    columns = decode_bgr(out, 64, 48)[:, 8:40].astype(float).mean(axis=(1, 3)).reshape(-1, 8, 8).mean(axis=2)
    shown = (columns[:, :7] > 128) @ (2 ** np.arange(7)) / 50
    for k, seen in enumerate(shown):
        t = float(k / fps)
        expected = source_times[source_times <= t + 0.25 / float(fps)].max()  # the picture on screen at t
        assert seen == pytest.approx(expected), f"frame {k} at {t:.3f} s shows the picture of {seen:.2f} s"
        assert t - seen < 0.1 + 1e-9  # never more than one (source) frame behind the sound
    assert float(len(shown) / fps) == pytest.approx(2.0, abs=1.5 / float(fps))
    samples = np.frombuffer(ffmpeg("-i", str(out), "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", "48000", "-",
                                   stdout=subprocess.PIPE).stdout, np.float32)
    assert len(samples) / 48000 == pytest.approx(len(shown) / float(fps), abs=1 / float(fps))
    window = 48000 // 25
    assert np.abs(samples[-window:]).max() == pytest.approx(0.45 * len(samples) / 48000, abs=0.03)



def test_a_repeated_picture_is_not_painted_again(tmp_path: Path, style: Path) -> None:
    # Two pictures a second, then ten: at the average rate (5 fps) the slow part repeats pictures. The real stylizer
    # paints each frame with a new picture once; the repeats are the same painting, byte for byte.
    source = tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=48x32:r=10,select='if(lt(t,1),not(mod(n,5)),1)',trim=end=1.6",
           "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-y", str(source))
    calls = []

    class Counting(stylize_module.Stylizer):
        def stylize(self, content, **kwargs):
            calls.append(1)
            return super().stylize(content, **kwargs)

    result, events = run(source, style, tmp_path / "out.mp4", video=replace(VIDEO, keep_frames=True),
                         stylizer=Counting)
    kinds = [e.kind for e in events if isinstance(e, FrameStarted)]
    assert kinds.count("repeat") >= 2 and len(calls) == len(kinds) - kinds.count("repeat")
    pngs = [p.read_bytes() for p in sorted(work_folder(tmp_path / "out.mp4").glob("*.png"))]
    assert len(pngs) == len(kinds) == result.frames
    for k, kind in enumerate(kinds):
        assert (pngs[k] == pngs[k - 1]) == (kind == "repeat"), f"frame {k} ({kind})"
    # Stopped after the first frame, resumed at a repeat: the same frames as without the stop.
    assert kinds[1] == "repeat"
    stop = threading.Event()
    with pytest.raises(Interrupted):
        stylize_video(source, [(style, 1.0)], tmp_path / "again.mp4", SETTINGS, replace(VIDEO, keep_frames=True),
                      "cpu", lambda e: isinstance(e, FrameDone) and stop.set(), stop)
    run(source, style, tmp_path / "again.mp4", video=replace(VIDEO, keep_frames=True, resume=True))
    again = [p.read_bytes() for p in sorted(work_folder(tmp_path / "again.mp4").glob("*.png"))]
    assert again == pngs

# ---- audio ----


def test_wma_in_asf_is_encoded_to_aac_as_planned_up_front(tmp_path: Path, style: Path, identity) -> None:
    source = make_clip(tmp_path / "in.asf", frames=10, audio=("wmav2",))
    result, events = run(source, style, tmp_path / "out.mp4", stylizer=identity)
    assert events.index(of(events, VideoPlan)[0]) < events.index(of(events, FrameStarted)[0])
    assert of(events, VideoPlan)[0].audio == ((1, "wmav2", "aac"),)
    assert [a.codec for a in probe(tmp_path / "out.mp4").audio] == ["aac"]
    assert decoded_count(tmp_path / "out.mp4") == result.frames == 10
    assert decoded_seconds(tmp_path / "out.mp4", "a:0") == pytest.approx(0.4, abs=0.05)


@pytest.mark.parametrize("audio_seconds", [0.2, 1.0])
def test_audio_shorter_or_longer_keeps_every_frame(tmp_path: Path, style: Path, identity, audio_seconds) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=10, audio=("aac",), audio_seconds=audio_seconds)
    result, _ = run(source, style, tmp_path / "out.mp4", stylizer=identity)
    assert decoded_count(tmp_path / "out.mp4") == result.frames == 10
    # Longer sound is cut at the video's end; shorter sound is kept as it is (copied, so not padded: players play
    # silence after it).
    assert decoded_seconds(tmp_path / "out.mp4", "a:0") == pytest.approx(min(audio_seconds, 0.4), abs=0.03)


# ---- what is not a video ----


def test_bad_inputs_get_one_distinct_line_each(tmp_path: Path, style: Path, capsys) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    with_audio = make_clip(tmp_path / "with-audio.mp4", frames=5, audio=("aac",))
    ffmpeg("-i", str(with_audio), "-map", "0:a", "-c", "copy", "-y", str(tmp_path / "audio.m4a"))
    with_audio.unlink()
    (tmp_path / "folder.mp4").mkdir()
    before = sorted(os.listdir(tmp_path))
    messages = {}
    for name in ("empty.mp4", "random.mp4", "audio.m4a", "missing.mp4", "folder.mp4"):
        code, err = cli(capsys, tmp_path / name, style, tmp_path / "out.mp4", *CONTRACT, "--frames", "2")
        assert code == 1 and len(err.splitlines()) == 1 and err.startswith("stylize-video: error:"), err
        messages[name] = err
    assert "is empty" in messages["empty.mp4"] and "neither an image nor a media file" in messages["random.mp4"]
    assert "no video stream" in messages["audio.m4a"] and "does not exist" in messages["missing.mp4"]
    assert "is a folder" in messages["folder.mp4"] and len(set(messages.values())) == 5
    assert sorted(os.listdir(tmp_path)) == before


def test_decoder_noise_stays_off_the_terminal_and_animated_webp_is_painted(tmp_path: Path, style: Path) -> None:
    # libav writes its complaints to file descriptor 2 itself, so this runs the command in a child process and reads
    # everything it printed: only our line may appear.
    clip = make_clip(tmp_path / "clip.mp4", frames=25, audio=())
    (tmp_path / "cut.mp4").write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    frames = [Image.fromarray(texture(24, 32, seed=s)) for s in range(3)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    names = ["cut.mp4", "anim.webp"]  # OpenCV cannot decode animated WebP or AV1: ffmpeg does, after OpenCV tried
    with contextlib.suppress(AssertionError):  # an ffmpeg without an AV1 encoder: that case is left out
        names.append(make_clip(tmp_path / "av1.mp4", frames=3, audio=(),
                               extra_args=("-c:v", "libsvtav1", "-preset", "12")).name)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    for name in names:
        out = tmp_path / f"{name}.mp4"
        done = subprocess.run([sys.executable, "-m", "cli", str(tmp_path / name), str(style), str(out), *CONTRACT],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        assert "@ 0x" not in done.stderr, done.stderr  # e.g. "[h264 @ 0x55d0...] Invalid NAL unit size"
        if name == "cut.mp4":  # a partial result: exit 3, and its one warning even with --quiet
            assert done.returncode == 3 and re.fullmatch(r"stylize-video: warning: the input ended early: stopped at "
                                                         r"frame \d+ of ~25\n", done.stderr), done.stderr
        else:
            assert done.returncode == 0 and done.stderr == "", done.stderr
    assert decoded_count(tmp_path / "anim.webp.mp4") == 3


def test_animated_gif_is_a_video_and_a_photo_is_a_still(tmp_path: Path, style: Path, capsys, identity,
                                                           monkeypatch) -> None:
    frames = [Image.fromarray(texture(21, 33, seed=s)[:, :, ::-1]) for s in range(4)]  # odd size, as GIFs often are
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    code, err = cli(capsys, tmp_path / "anim.gif", style, tmp_path / "anim.mp4", *CONTRACT, "--frames", "3", stylizer=identity)
    assert code == 0 and err == ""
    info = probe(tmp_path / "anim.mp4")
    assert decoded_count(tmp_path / "anim.mp4") == 3 and info.fps == 10 and (info.width, info.height) == (32, 20)
    # An image OUTPUT for an animation is refused by what the input is (it said ".png cannot hold H.264 video").
    code, err = cli(capsys, tmp_path / "anim.gif", style, tmp_path / "anim.png", *CONTRACT, stylizer=identity)
    assert code == 2 and "anim.gif' is an animation, so OUTPUT" in err and ".mp4, .m4v, .mov, .mkv, .gif" in err
    assert not (tmp_path / "anim.png").exists()
    frames[0].save(tmp_path / "photo.gif")
    code, err = cli(capsys, tmp_path / "photo.gif", style, tmp_path / "photo.png", *CONTRACT, stylizer=identity)
    assert code == 0 and Image.open(tmp_path / "photo.png").size == (48, 31)



def test_a_gif_that_holds_a_picture_keeps_every_picture(tmp_path: Path, style: Path, identity) -> None:
    # Delays of 10, 10, 50 and 10 hundredths: ffmpeg's rate is the average, 5 fps, which dropped pictures 2 and 4.
    # At the shortest delay's rate every picture is kept, and the held one is repeated (not painted again).
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 250)]
    frames = [Image.new("RGB", (32, 24), c) for c in colours]
    frames[0].save(tmp_path / "hold.gif", save_all=True, append_images=frames[1:], duration=[100, 100, 500, 100],
                   loop=0)
    result, events = run(tmp_path / "hold.gif", style, tmp_path / "out.mp4", replace(SETTINGS, size=32), stylizer=identity)
    assert probe(tmp_path / "out.mp4").fps == 10 and result.frames == 8
    shown = decode_bgr(tmp_path / "out.mp4", 32, 24)[:, 8:16, 8:24].mean(axis=(1, 2))[:, ::-1]  # RGB per frame
    nearest = [int(np.argmin([np.abs(frame - c).sum() for c in colours])) for frame in shown]
    assert nearest == [0, 1, 2, 2, 2, 2, 2, 3]
    assert [e.kind for e in events if isinstance(e, FrameStarted)].count("repeat") == 4

# ---- very long input ----


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 2-hour 64x36 clip, at 1 fps so that it is made in a second (7200 frames)."""
    path = tmp_path_factory.mktemp("long") / "two-hours.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x36:rate=1,trim=end_frame=7200", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "250", "-movflags", "+faststart", "-y", str(path))
    return path


def test_disk_space_for_the_checkpoints_is_checked_up_front(tmp_path: Path, style: Path, two_hours: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 20 * 10**6, 20 * 10**6))
    events: list[object] = []
    with pytest.raises(OutputError, match=r"about 30 MB needed for 7200 frames of 64x36, 20 MB free"):
        stylize_video(two_hours, [(style, 1.0)], tmp_path / "out.mp4", replace(SETTINGS, size=64), VIDEO, "cpu",
                      events.append)
    assert events == [] and os.listdir(tmp_path) == []


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def test_memory_stays_flat_over_thousands_of_frames(tmp_path: Path, style: Path, two_hours: Path,
                                                       identity) -> None:
    # The whole 2-hour clip takes minutes even with a trivial stylizer; 1000 frames through the real plumbing
    # (decoding, optical flow, queues, PNG checkpoints, encoding) show whether anything grows per frame.
    samples: dict[int, float] = {}

    def watch(event: object) -> None:
        if isinstance(event, FrameDone) and event.index in (200, 999):
            samples[event.index] = rss_mb()

    video = replace(VIDEO, max_frames=1000)
    stylize_video(two_hours, [(style, 1.0)], tmp_path / "out.mp4", replace(SETTINGS, size=64), video, "cpu", watch)
    assert decoded_count(tmp_path / "out.mp4") == 1000
    assert samples[999] - samples[200] < 4, samples  # 800 frames of 64x36 are 5.5 MB: none may be kept


# ---- ffmpeg dying, interrupts ----


class FullDiskWriter(VideoWriter):
    """ffmpeg writes to /dev/full: every write fails with ENOSPC, as on a full disk."""

    def __init__(self, path, *args, **kwargs) -> None:
        super().__init__(Path("/dev/full"), *args, **kwargs)


def test_ffmpeg_dying_on_a_full_disk_gives_its_reason_and_keeps_the_frames(tmp_path: Path, style: Path, capsys,
                                                                               identity, monkeypatch) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=40, audio=())
    out = tmp_path / "out.mp4"
    with monkeypatch.context() as patch:
        patch.setattr(video_job, "VideoWriter", FullDiskWriter)
        code, err = cli(capsys, source, style, out, *CONTRACT, stylizer=identity)
    assert code == 1 and len(err.splitlines()) == 1 and "ffmpeg" in err and "No space left on device" in err, err
    kept = sorted(p.name for p in work_folder(out).glob("*.png"))
    assert kept and kept[0] == "000000.png" and not out.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["in.mp4", work_folder(out).name])
    code, _ = cli(capsys, source, style, out, *CONTRACT, "--resume", stylizer=identity)  # room again: the run continues
    assert code == 0 and decoded_count(out) == 40


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A 400 KB tmpfs (needs root; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_stops_with_the_reason_and_keeps_the_frames(tmp_path: Path, style: Path, capsys,
                                                                           identity, tiny_disk: Path) -> None:
    # Noise: the up-front estimate (330 KB for 60 frames of 64x48) fits, but the PNGs take 12 KB each.
    rng = np.random.default_rng(0)
    source = raw_clip(tmp_path / "in.mp4", [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(60)])
    out = tiny_disk / "out.mp4"
    code, err = cli(capsys, source, style, out, *CONTRACT, "--size", "64", stylizer=identity)
    assert code == 1 and len(err.splitlines()) == 1 and "No space left on device" in err, err
    kept = sorted(p.name for p in work_folder(out).glob("*.png"))
    assert kept and kept[0] == "000000.png" and not out.exists()
    assert sorted(os.listdir(tiny_disk)) == [work_folder(out).name]  # no partial video left to fill the disk


# A cheap stand-in stylizer whose frames depend on the previous one (as warm starts do), so that a resume that
# got its state wrong would give other pixels. Run here and in the child process (with a delay per frame there).
BLEND = """
class Blend:
    def __init__(self, styles, settings, device):
        self.device = device
    def set_color_reference(self, content):
        pass
    def objective(self, content):
        return lambda image: (image ** 2).mean()
    def stylize(self, content, init=None, **kwargs):
        if DELAY:
            time.sleep(DELAY)
        return content.flip(3) if init is None else 0.5 * content.flip(3) + 0.5 * init
"""
CHILD = "\n".join([
    "import sys, time, torch, cv2", "torch.set_num_threads(1)", "cv2.setNumThreads(1)", "DELAY = 0.1", BLEND,
    "from cli.main import main", "sys.exit(main(sys.argv[1:], stylizer=Blend))",
])


@pytest.fixture(scope="module")
def interrupted_clip(tmp_path_factory: pytest.TempPathFactory, style: Path) -> tuple[Path, np.ndarray]:
    """A 24-frame clip and its uninterrupted result (decoded), made through the command line in this process."""
    folder = tmp_path_factory.mktemp("interrupt")
    source = make_clip(folder / "in.mp4", frames=24, audio=("aac",))
    namespace = {"time": time, "DELAY": 0}
    exec(BLEND, namespace)
    assert main([str(source), str(style), str(folder / "clean.mp4"), *CONTRACT], stylizer=namespace["Blend"]) == 0
    return source, decode_bgr(folder / "clean.mp4", 48, 36)


@pytest.mark.parametrize("signals", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM,)], ids=["ctrl-c-twice", "term"])
def test_interrupts_leave_nothing_broken_and_resume_gives_the_same_video(tmp_path: Path, style: Path, capsys,
                                                                           monkeypatch, interrupted_clip,
                                                                           signals) -> None:
    source, clean = interrupted_clip
    out = tmp_path / "out.mp4"
    child = subprocess.Popen([sys.executable, "-c", CHILD, source, style, out, *CONTRACT], cwd=ROOT,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(work_folder(out).glob("*.png"))) < 2:
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "no frame was finished in 2 minutes"
            time.sleep(0.02)
        for number in signals:  # to the whole process group, as a terminal's Ctrl-C does
            os.killpg(child.pid, number)
            time.sleep(0.03)
        _, err = child.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130 and "interrupted" in err, err
    assert not out.exists() and sorted(os.listdir(tmp_path)) == [work_folder(out).name]  # no partial file
    kept = len(list(work_folder(out).glob("*.png")))
    assert 2 <= kept < 24
    assert err.strip().endswith(f"nothing was written to the output; {kept} finished frames are kept in "
                                f"'{work_folder(out)}': the same command with --resume continues"), err
    namespace = {"time": time, "DELAY": 0}
    exec(BLEND, namespace)
    code, err = cli(capsys, source, style, out, *CONTRACT, "--resume", stylizer=namespace["Blend"])
    assert code == 0 and err == "" and not work_folder(out).exists()
    assert np.array_equal(decode_bgr(out, 48, 36), clean)


# ---- out of GPU memory ----


def oom() -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_policy_smaller_then_cpu_then_stays_there() -> None:
    warnings, moved, calls = [], [], []

    def paint(device: torch.device, scale: float) -> str:
        calls.append((device.type, scale))
        if device.type == "cuda":
            raise oom()
        return "painted"

    fallback = MemoryFallback(torch.device("cuda"), lambda: moved.append(True), warnings.append)
    assert fallback.run(paint) == "painted" and fallback.run(paint) == "painted"
    assert calls == [("cuda", 1.0), ("cuda", 0.5), ("cpu", 1.0), ("cpu", 1.0)] and moved == [True]
    assert len(warnings) == 2 and "painting at 50% of the size" in warnings[0] and "Tried to allocate" in warnings[0]
    assert "continuing on the CPU" in warnings[1]

    def broken(device: torch.device, scale: float) -> str:
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError):
        MemoryFallback(torch.device("cuda"), lambda: None, warnings.append).run(broken)


def test_out_of_memory_mid_video_retries_smaller_and_finishes(tmp_path: Path, style: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_optimize, sizes = stylize_module.optimize, []

    def tight_memory(image, *args, **kwargs):
        sizes.append(tuple(image.shape[2:]))
        if image.shape[2] * image.shape[3] >= 48 * 36:
            raise oom()
        return real_optimize(image, *args, **kwargs)

    monkeypatch.setattr(stylize_module, "optimize", tight_memory)
    source = make_clip(tmp_path / "in.mp4", frames=4, audio=())
    result, events = run(source, style, tmp_path / "out.mp4")
    assert decoded_count(tmp_path / "out.mp4") == result.frames == 4 and (probe(tmp_path / "out.mp4").width == 48)
    assert sizes == [(36, 48)] + [(18, 24)] * 4  # one failure, then every frame at half size
    assert len(result.warnings) == 1 and "out of memory on cpu" in result.warnings[0]
    assert [e.index for e in of(events, FrameDone)] == [0, 1, 2, 3]
    still = cv2.cvtColor(decode_bgr(tmp_path / "out.mp4", 48, 36)[0], cv2.COLOR_BGR2GRAY)
    assert still.std() > 5  # painted, not blank


# ---- hostile names and images ----


@pytest.mark.parametrize("name", ["-x.mp4", "a:b.mp4", "$(touch p).mp4", "sp ace ünï 東京.mp4"])
def test_odd_names_are_plain_local_files(tmp_path: Path, style: Path, monkeypatch, identity, name) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    make_clip(Path(name).absolute(), frames=3, audio=("aac",))
    result, _ = run(Path(name), style, Path("../" + name), video=replace(VIDEO, keep_frames=True), stylizer=identity)
    assert decoded_count(tmp_path / name) == result.frames == 3
    assert sorted(os.listdir(tmp_path)) == sorted([name, f".{name}.frames", "work"])  # beside the output, nowhere else
    assert sorted(os.listdir(tmp_path / "work")) == [name] and not (tmp_path / "p").exists()


def test_a_name_that_is_not_utf8_works_and_is_printed_as_its_bytes(tmp_path: Path, style: Path) -> None:
    # OpenCV crashed (SIGSEGV) on such a name and ffmpeg-python raised UnicodeEncodeError; a child process, so a
    # crash fails this test only. The second run resumes from the kept frames, which reads them back.
    source, out = bytes(tmp_path) + b"/in\xff.mp4", bytes(tmp_path) + b"/out\xe9.mp4"
    os.rename(make_clip(tmp_path / "clip.mp4", frames=3, audio=("aac",)), source)
    command = [sys.executable, "-m", "cli", source, bytes(style), out, *CONTRACT[:-1], "--keep-frames"]
    for extra in ([], ["--resume", "--overwrite"]):
        done = subprocess.run(command + extra, capture_output=True, cwd=ROOT, timeout=300)
        assert done.returncode == 0 and done.stderr.splitlines()[-1] == b"wrote " + out, done.stderr[-400:]
    assert b"Resuming: 3 frames were already done" in done.stderr
    out_path = Path(os.fsdecode(out))
    assert decoded_count(out_path) == 3 and probe(out_path).audio[0].codec == "aac"
    done = subprocess.run([sys.executable, "-m", "cli", "measure", out, "--reference", source], capture_output=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0 and b"  stylized " in done.stdout and out in done.stdout, done.stderr[-400:]


def bomb(path: Path, side: int = 30_000) -> Path:
    """A valid 1-bit PNG of side x side black pixels (900 megapixels): about 100 KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    packer, row = zlib.compressobj(9), bytes(1 + side // 8)
    idat = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.flush()
    ihdr = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_style_is_refused_without_decoding(tmp_path: Path, capsys) -> None:
    style = bomb(tmp_path / "bomb.png")
    assert style.stat().st_size < 1_000_000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, err = cli(capsys, ROOT / "samples" / "tubingen.jpg", style, tmp_path / "out.png", *CONTRACT)
    assert code == 1 and "bomb.png" in err and "too large to decode safely" in err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KiB: never near 900 MB
