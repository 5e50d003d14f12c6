"""pipeline.live / capture / window and `--live`: generated clips played as live sources at their real pace, a
deliberately slow stylizer (frames dropped, not queued, latency bounded), recordings measured with ffmpeg, clean stops
(end of stream, SIGINT, keys), fast failures, reconnection, and the window under Xvfb."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli.main import main
from pipeline.checks import expand_styles
from pipeline.config import LiveSettings, StyleSettings
from pipeline.errors import InputError, Interrupted, UsageError
from pipeline.events import LiveFrame, LiveNotice
from pipeline.live import LiveView, live, run_live
from pipeline.live_stylizer import iterations_for
from pipeline.media.live_sources import LatestFrameCapture
from pipeline.media.probe import probe
from pipeline.media.recorder import Recorder
from pipeline.media.source_spec import parse_source

from media import FFMPEG, decode_bgr, decoded_count, decoded_seconds, ffmpeg, header, make_clip

REPO = Path(__file__).resolve().parent.parent
STYLE = REPO / "samples" / "styles" / "starry_night.jpg"
RATE = 25  # fps of the generated clips: one capture interval is 40 ms
INTERVAL = 1 / RATE
SLACK = 0.03  # thread wake-ups and the loop's own work on a shared CPU
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """6 s of 64x48 testsrc2 at 25 fps (longer than any session that stops on its own)."""
    return make_clip(tmp_path_factory.mktemp("live") / "clip.mp4", frames=6 * RATE, fps=str(RATE), audio=())


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("live") / "short.mp4", frames=RATE, fps=str(RATE), audio=())


class SlowStylizer:
    """Stands in for the stylizer: takes `seconds` per frame (sleeping, so the CPU stays free) and returns the
    camera frame; records each call's budget and whether it was warm-started."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls = seconds, []
        self.styles, self.index, self.style_weight = ["a.jpg", "b.jpg"], 0, 5.0

    @property
    def style(self) -> str:
        return self.styles[self.index]

    def stylize(self, frame, motion, budget, stop):
        self.calls.append((budget, motion is not None))
        time.sleep(self.seconds)
        return frame, 1

    def switch_style(self, step: int) -> str:
        self.index = (self.index + step) % len(self.styles)
        return self.style

    def scale_style_weight(self, factor: float) -> float:
        self.style_weight *= factor
        return self.style_weight


def frames_of(events) -> list[LiveFrame]:
    return [e for e in events if isinstance(e, LiveFrame)]


# ---- the loop ----


def test_slow_stylizer_drops_frames_and_latency_stays_bounded(clip: Path) -> None:
    stylizer, events = SlowStylizer(0.15), []
    settings = LiveSettings(max_seconds=2.5)
    result = run_live(LatestFrameCapture(str(clip), settings), stylizer, settings, (64, 48), on_event=events.append)
    shown = frames_of(events)
    assert result.end == "time limit reached" and not result.lost
    # The source kept its own pace: about 25 frames per second of session, whatever the stylizer's speed.
    assert 2.5 <= result.seconds < 3.0 and abs(result.captured - result.seconds * RATE) <= 3
    # At most one frame per processing period was shown; the rest were dropped, never queued.
    assert 8 <= result.shown == len(shown) <= 2.5 / 0.15 + 1
    assert result.dropped == result.captured - result.shown > 2 * result.shown
    sources = [e.source_index for e in shown]
    assert sources == sorted(set(sources)) and sources[-1] - sources[0] >= 2 * (len(sources) - 1)
    for e in shown:
        # Taken at most one capture interval after it arrived, shown one processing period later.
        assert e.wait <= INTERVAL + SLACK, e
        assert e.seconds >= 0.15 and e.latency == pytest.approx(e.wait + e.seconds)
        assert e.latency <= e.seconds + INTERVAL + SLACK, e
    assert result.max_latency <= 0.15 + INTERVAL + 0.1  # flat: not growing with the session
    assert result.mean_latency == pytest.approx(np.mean([e.latency for e in shown]))
    assert [warm for _, warm in stylizer.calls] == [False] + [True] * (len(stylizer.calls) - 1)  # static clip: no cut



def test_the_time_limit_ends_a_painting_in_progress(clip: Path) -> None:
    # --max-seconds was checked between frames only, so a slow painting ran past it (6 s asked, 7.9 s taken).
    class StoppableStylizer(SlowStylizer):
        def stylize(self, frame, motion, budget, stop):
            self.calls.append((budget, motion is not None))
            finish = time.monotonic() + self.seconds
            while time.monotonic() < finish:  # as optimize() does between iterations
                if stop is not None and stop.is_set():
                    raise Interrupted()
                time.sleep(0.01)
            return frame, 1

    stylizer = StoppableStylizer(0.6)
    settings = LiveSettings(max_seconds=1.0)
    result = run_live(LatestFrameCapture(str(clip), settings), stylizer, settings, (64, 48))
    assert result.end == "time limit reached"
    assert 1.0 <= result.seconds < 1.25 and result.shown == 1  # the second painting was cut off at 1 s
    assert result.fps == pytest.approx(result.shown / result.seconds)  # per second of session, not between frames

def test_end_of_stream_stops_cleanly_with_a_complete_recording(short_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec.mp4"
    settings = LiveSettings(fps=10)
    result = run_live(LatestFrameCapture(str(short_clip), settings), SlowStylizer(0.05), settings, (64, 48),
                      record=out)
    assert result.end == "end of the video" and not result.lost
    assert result.captured == RATE  # every frame of the file was delivered, at its pace
    assert result.recorded == out and sorted(os.listdir(tmp_path)) == ["rec.mp4"]
    assert "10 fps" in header(out) and decoded_count(out) == result.recorded_frames
    # The recording lasts as long as frames were on screen (first shown to the end): about the clip's 1 s.
    assert 6 <= result.recorded_frames <= 12


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory) -> Path:
    """2 s of 64x48 testsrc2 at 25 fps with 2 s of seeded white noise as AAC: a sound whose every moment differs, so
    where a recording's sound comes from in it can be found."""
    path = tmp_path_factory.mktemp("live") / "noisy.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=64x48:rate={RATE},trim=end_frame={2 * RATE}", "-f", "lavfi", "-i",
           "anoisesrc=duration=2:sample_rate=48000:seed=7:amplitude=0.5", "-map", "0:v", "-map", "1:a", "-c:v",
           "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-y",
           f"file:{path}")
    return path


def mono(path: Path, rate: int = 8000) -> np.ndarray:
    """The first audio stream, decoded by ffmpeg to mono float samples at `rate` Hz."""
    out = ffmpeg("-i", f"file:{path}", "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-",
                 stdout=subprocess.PIPE).stdout
    return np.frombuffer(out, np.float32)


class FirstSlowStylizer(SlowStylizer):
    """0.5 s for the first painting (as a first frame's many iterations), then 0.05 s a frame."""

    def stylize(self, frame, motion, budget, stop):
        self.seconds = 0.5 if not self.calls else 0.05
        return super().stylize(frame, motion, budget, stop)


def test_a_recording_of_a_file_keeps_its_sound_aligned_with_the_pictures(noisy_clip: Path, tmp_path: Path) -> None:
    # A recording had no sound. It starts at the first painting, and each painting shows a frame from a little
    # before (its latency; the first one's is long): the sound is taken from the file where it matches them.
    out, settings, events = tmp_path / "rec.mp4", LiveSettings(fps=10), []
    result = run_live(LatestFrameCapture(str(noisy_clip), settings), FirstSlowStylizer(0.05), settings, (64, 48),
                      record=out, on_event=events.append)
    assert result.recorded == out and sorted(os.listdir(tmp_path)) == ["rec.mp4"]  # no temporary file left
    assert "Audio: aac" in header(out)
    recorded = result.recorded_frames / 10
    assert decoded_seconds(out, "a:0") == pytest.approx(recorded, abs=0.05)  # cut at the pictures' end
    # Where the sound should start, from the events alone: a frame of the file's time s (its source index / 25)
    # arrived at the file's clock s and was shown `latency` later; the recording starts at the first one shown.
    shown = frames_of(events)
    at = [f.source_index / RATE + f.latency for f in shown]
    starts = [t - at[0] for t in at]
    held = [end - start for start, end in zip(starts, starts[1:] + [recorded])]
    expected = sum(h * (f.source_index / RATE - start) for h, f, start in zip(held, shown, starts)) / sum(held)
    assert expected > 0.3  # the first painting's 0.5 s moved it: a test that can tell
    # Where it does start: the recording's sound (its middle) found in the file's by cross-correlation.
    rate, source, sound = 8000, mono(noisy_clip), mono(out)
    middle = sound[int(0.1 * rate): len(sound) - int(0.1 * rate)]
    match = np.correlate(source, middle, mode="valid")
    found = int(np.argmax(match)) / rate - 0.1
    assert found == pytest.approx(expected, abs=0.06)
    # The file's own sound: unrelated noise would correlate about 0.01; the same noise, sampled at 8 kHz half a
    # sample apart at worst, 0.64 or more.
    assert np.corrcoef(source[int(np.argmax(match)):][: len(middle)], middle)[0, 1] > 0.5


def test_a_camera_or_a_gif_recording_says_it_has_no_sound(noisy_clip: Path, clip: Path, tmp_path: Path,
                                                          capsys) -> None:
    for source, name, said in ((noisy_clip, "a.mp4", "with the file's sound"), (noisy_clip, "b.gif", "no sound"),
                               (clip, "c.mp4", "no sound")):
        code = main(["--live", str(source), str(STYLE), "--record", str(tmp_path / name), "--no-window", "--size",
                     "64", "--device", "cpu", "--max-seconds", "1"])
        err = capsys.readouterr().err
        assert code == 0 and f"; recording {tmp_path / name} ({said});" in err, err
        assert ("Audio:" in header(tmp_path / name)) == (said == "with the file's sound")


def test_a_recording_can_be_a_gif(short_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec.gif"
    settings = LiveSettings(fps=10)
    result = run_live(LatestFrameCapture(str(short_clip), settings), SlowStylizer(0.05), settings, (64, 48),
                      record=out)
    assert result.recorded == out and os.listdir(tmp_path) == ["rec.gif"]  # the H.264 file it came from is gone
    assert out.read_bytes()[:6] == b"GIF89a" and "64x48" in header(out)
    assert decoded_count(out) == result.recorded_frames >= 6  # every held frame, at 10 fps: about the clip's 1 s
    # Its pictures are the stylizer's (here the clip's own frames), through a 256-colour palette.
    recorded, source = decode_bgr(out, 64, 48).astype(float), decode_bgr(short_clip, 64, 48).astype(float)
    middle = recorded[len(recorded) // 2]
    assert min(np.abs(middle - frame).mean() for frame in source) < 8


def test_a_gif_recording_at_over_50_fps_counts_the_frames_it_holds(short_clip: Path, tmp_path: Path) -> None:
    # Browsers play GIFs at most at 50 fps, so a 60 fps session is recorded at 30: the summary counts those frames.
    out = tmp_path / "rec.gif"
    settings = LiveSettings(fps=60)
    result = run_live(LatestFrameCapture(str(short_clip), settings), SlowStylizer(0.01), settings, (64, 48),
                      record=out)
    assert decoded_count(out) == result.recorded_frames >= 15  # about the clip's 1 s at 30 fps


def test_stop_event_ends_the_session_and_keeps_the_recording(clip: Path, tmp_path: Path) -> None:
    stop, out = threading.Event(), tmp_path / "rec.mkv"
    threading.Timer(1.0, stop.set).start()
    settings = LiveSettings()
    began = time.monotonic()
    result = run_live(LatestFrameCapture(str(clip), settings), SlowStylizer(0.1), settings, (64, 48), record=out,
                      stop=stop)
    assert time.monotonic() - began < 2.0 and result.end == "stopped"
    assert decoded_count(out) == result.recorded_frames > 0 and os.listdir(tmp_path) == ["rec.mkv"]


def test_keys_pause_snapshot_switch_style_weight_and_quit(clip: Path, tmp_path: Path, monkeypatch) -> None:
    # An earlier session's snapshot of the same second keeps its name and its pixels.
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20261126-120000")
    earlier = tmp_path / "live-20261126-120000-001.png"
    earlier.write_bytes(b"an earlier snapshot")
    keys = iter(["s", "n", "+", "-", "-", "space", None, None, "space", "p", "x", "q"])
    seen: list[LiveView] = []

    class ScriptedDisplay:
        def show(self, view: LiveView) -> str | None:
            seen.append(view)
            return next(keys, "q")

    stylizer, events = SlowStylizer(0.02), []
    settings = LiveSettings()
    result = run_live(LatestFrameCapture(str(clip), settings), stylizer, settings, (64, 48),
                      display=ScriptedDisplay(), snapshots=tmp_path, on_event=events.append)
    notices = [e.message for e in events if isinstance(e, LiveNotice)]
    assert notices[0].startswith("snapshot saved") and notices[1:4] == ["style: b.jpg", "style weight: 6.25",
                                                                        "style weight: 5"]
    assert notices[4:] == ["style weight: 4", "paused", "resumed", "style: a.jpg"]
    assert result.end == "quit from the window" and stylizer.style_weight == pytest.approx(4.0)
    assert any(view.paused for view in seen) and seen[-1].style == "a.jpg"
    assert notices[0] == f"snapshot saved: {tmp_path / 'live-20261126-120000-002.png'}"
    assert earlier.read_bytes() == b"an earlier snapshot" and len(list(tmp_path.glob("live-*.png"))) == 2
    assert np.array_equal(cv2.imread(str(tmp_path / "live-20261126-120000-002.png")), seen[0].stylized)


def test_recorder_holds_each_frame_for_as_long_as_it_was_shown(tmp_path: Path) -> None:
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]
    with Recorder(tmp_path / "r.mp4", (32, 16), 10, crf=10, preset="ultrafast") as recorder:
        for at, colour in zip((100.0, 100.5, 100.8), colours):
            recorder.add(np.full((16, 32, 3), colour, np.uint8), at)
        recorder.finish(101.5)
    means = decode_bgr(tmp_path / "r.mp4", 32, 16).reshape(-1, 16 * 32, 3).mean(axis=1)
    runs = [int(np.argmax(m)) for m in means]  # dominant channel: 2 red, 1 green, 0 blue
    assert runs == [2] * 5 + [1] * 3 + [0] * 7


def test_iterations_fit_the_budget() -> None:
    assert iterations_for(1.0, 0.1, 1, 20) == 9  # 9.5 iterations' worth minus the fixed cost of half a one
    assert iterations_for(0.01, 0.1, 1, 20) == 1 and iterations_for(100, 0.1, 1, 20) == 20


# ---- sources ----


class FlakySource:
    """A camera that delivers `frames` frames, then fails, and can be reopened after `failures` failed tries."""

    reconnectable, time, audio = True, None, ()  # a camera's frames have no time in a file, and no sound

    def __init__(self, frames: int, failures: int) -> None:
        self.left, self.failures, self.opens = frames, failures, 0

    def open(self):
        self.opens += 1
        if self.opens > 1 and self.failures > 0:
            self.failures -= 1
            raise InputError("not yet")
        return np.zeros((4, 4, 3), np.uint8)

    def read(self):
        time.sleep(0.005)
        if self.left <= 0 and self.opens == 1:
            return None
        self.left -= 1
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        pass


def flaky_capture(source: FlakySource, give_up: float) -> LatestFrameCapture:
    settings = LiveSettings(reconnect_delay=0.01, reconnect_max_delay=0.05, reconnect_give_up=give_up)
    capture = LatestFrameCapture("0", settings)  # a camera spec; its OpenCV source is replaced before opening
    capture._source = source
    return capture


def test_a_lost_camera_is_retried_with_backoff_then_given_up() -> None:
    source = FlakySource(frames=3, failures=10**6)
    began = time.monotonic()
    with flaky_capture(source, give_up=0.3) as capture:
        while not capture.ended and time.monotonic() - began < 5:
            time.sleep(0.01)
    assert capture.lost and "gave up after 0.3 s" in capture.end_reason
    assert 0.3 <= time.monotonic() - began < 2 and 4 <= source.opens <= 12  # backoff: not a busy loop
    assert list(capture.notices) == ["camera 0 stopped delivering frames; reconnecting"]


def test_a_camera_that_comes_back_keeps_delivering() -> None:
    source = FlakySource(frames=3, failures=2)
    with flaky_capture(source, give_up=5) as capture:
        frame = capture.take(10, timeout=3)
    assert frame is not None and not capture.lost and capture.captured > 10
    assert list(capture.notices)[1].startswith("camera 0 is back after")


def test_a_lost_source_ends_the_recording_where_its_pictures_stopped(tmp_path: Path) -> None:
    # 100 frames in about 0.5 s, then a second and a half of failed retries: the recording must not hold the last
    # painting through the retries (it did, for the default 30 s).
    class TimedSource(FlakySource):
        def read(self):
            pixels = super().read()
            if pixels is not None:
                self.last_read = time.monotonic()
            return pixels

    source, out = TimedSource(frames=100, failures=10**6), tmp_path / "rec.mp4"
    settings = LiveSettings(fps=10)
    began = time.monotonic()
    result = run_live(flaky_capture(source, give_up=1.5), SlowStylizer(0.02), settings, (16, 16), record=out)
    assert result.lost and "gave up after 1.5 s" in result.end and result.seconds >= 1.5
    delivering = source.last_read - began  # about 0.5 s
    assert decoded_count(out) == result.recorded_frames
    assert 1 <= result.recorded_frames <= round(delivering * 10) + 2, (result.recorded_frames, delivering)


def test_sources_are_told_apart_and_bad_ones_fail_at_once(tmp_path: Path) -> None:
    assert parse_source("0").kind == "camera" and parse_source("rtsp://cam/stream").kind == "stream"
    with pytest.raises(UsageError, match="scheme 'ftp' is not one of rtsp"):
        parse_source("ftp://host/x")
    with pytest.raises(InputError, match="device '/dev/video99' does not exist"):
        parse_source("/dev/video99")
    with pytest.raises(InputError, match="live source .* does not exist"):
        parse_source(str(tmp_path / "nope.mp4"))
    began = time.monotonic()
    with pytest.raises(InputError, match="camera 57 could not be opened"):
        LatestFrameCapture("57").open()
    assert time.monotonic() - began < 3


# ---- the command line ----


def test_contract_command_records_and_reports_dropped(clip: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.mp4"
    # 64 px, not 32: below ~32 px OpenCV's DIS lowers its finest scale for good, and temporal.py keeps one DIS per
    # thread, so in this process later flows (test_temporal) would come out different.
    code = main(["--live", str(clip), str(STYLE), "--record", str(out), "--no-window", "--size", "64",
                 "--device", "cpu", "--max-seconds", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (line,) = captured.out.strip().splitlines()
    shown = int(line.split(" frames shown")[0].split()[-1])
    dropped = int(line.split(" dropped")[0].split()[-1])
    assert shown >= 1 and dropped >= 1 and "mean latency" in line and "fps" in line
    assert decoded_count(out) > 0 and "64x48" in header(out) and os.listdir(tmp_path) == ["out.mp4"]
    # The start line says the thread count (OMP_NUM_THREADS, which conftest.py sets to 1).
    assert re.search(r"^live: clip.mp4 64x48 as 64x48 on cpu( \(bfloat16\))? with 1 thread, target 15 fps",
                     captured.err, re.MULTILINE), captured.err


def test_a_small_style_image_is_warned_about_as_in_stills_and_videos(clip: Path, tmp_path: Path, capsys) -> None:
    # A 24x18 thumbnail enlarged 2.7x for the 64 px painting: soft strokes. Stills and videos said so; live did not.
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(STYLE)), (24, 18), interpolation=cv2.INTER_AREA))
    code = main(["--live", str(clip), f"{small},{STYLE}", "--no-window", "--size", "64", "--device", "cpu",
                 "--max-seconds", "0.5"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0
    assert (f"live: warning: the style image '{small}' is only 24x18 px: it is enlarged 2.7x to 64 px, so its strokes "
            "come out soft") in err
    assert err.count("warning:") == 1  # the full-size painting is not named


def listening(port: int) -> bool:
    """True once a local TCP socket listens on `port` (Linux: /proc/net/tcp, state 0A)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in rows.readlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                if int(local.rsplit(":", 1)[1], 16) == port and state == "0A":
                    return True
    return False


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds the server's socket in /proc/net/tcp (Linux)")
def test_a_network_stream_is_painted_live_and_recorded(clip: Path, tmp_path: Path, capsys) -> None:
    # ffmpeg serves the clip over TCP as MPEG-TS at its real pace, as a camera or an encoder on the network would.
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    server = subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy",
                               "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"], stdin=subprocess.DEVNULL)
    try:
        began = time.monotonic()
        while not listening(port) and time.monotonic() - began < 10:
            time.sleep(0.05)
        out = tmp_path / "out.mp4"
        code = main(["--live", f"tcp://127.0.0.1:{port}", str(STYLE), "--record", str(out), "--no-window",
                     "--size", "64", "--device", "cpu", "--max-seconds", "3"])
    finally:
        server.kill()
        server.wait()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"stream tcp://127.0.0.1:{port} 64x48" in captured.err  # the plan line names the stream and its size
    shown = int(captured.out.split(" frames shown")[0].split()[-1])
    assert shown >= 2 and decoded_count(out) > 0 and "64x48" in header(out)


def test_recording_keeps_the_sources_aspect_after_even_rounding(tmp_path: Path) -> None:
    # 90x50 (9:5) at 64 px is 64x35.6, coded 64x36 (yuv420p needs even sizes); SAR 81/80 shows it at 9:5 again.
    source = make_clip(tmp_path / "wide.mp4", width=90, height=50, frames=RATE, fps=str(RATE), audio=())
    out = tmp_path / "out.mp4"
    code = main(["--live", str(source), str(STYLE), "--record", str(out), "--no-window", "--size", "64",
                 "--device", "cpu", "--quiet"])
    assert code == 0
    info = probe(out)
    assert (info.width, info.height, info.sar) == (64, 36, Fraction(81, 80))
    assert Fraction(info.width, info.height) * info.sar == Fraction(90, 50)


@pytest.mark.parametrize("source, message", [
    ("/dev/video99", "device '/dev/video99' does not exist"),
    ("63", "camera 63 could not be opened"),
    ("missing.mp4", "live source 'missing.mp4' does not exist"),
])
def test_missing_device_fails_fast_with_one_line(source, message, tmp_path, capsys) -> None:
    began = time.monotonic()
    code = main(["--live", source, str(STYLE), "--no-window", "--device", "cpu", "--record", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and message in err and len(err.splitlines()) == 1
    assert time.monotonic() - began < 3 and os.listdir(tmp_path) == []


@pytest.mark.parametrize("weight", ["nan", "-1"])
def test_an_impossible_temporal_weight_is_a_usage_error_before_the_source_opens(clip, tmp_path, capsys, weight):
    code = main(["--live", str(clip), str(STYLE), "--no-window", "--device", "cpu", "--temporal-weight", weight])
    err = capsys.readouterr().err
    assert code == 2 and err == (f"stylize-video: error: --temporal-weight must be a number >= 0, got {float(weight)}; "
                                 "see stylize-video --live --help\n")
    # The library checks it too.
    with pytest.raises(UsageError, match="--temporal-weight must be a number >= 0, got nan"):
        live(str(clip), [str(STYLE)], StyleSettings(), LiveSettings(temporal_weight=float("nan")), device="cpu")
    # Its other checks name the options too, not LiveSettings' fields.
    with pytest.raises(UsageError, match="^--fps must be a number > 0, got 0$"):
        live(str(clip), [str(STYLE)], StyleSettings(), LiveSettings(fps=0), device="cpu")


def test_an_empty_style_name_is_refused_not_taken_as_the_current_folder(tmp_path, monkeypatch) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="style image name is empty"):
        expand_styles(["", "a.jpg"])


def test_a_style_folder_lists_phone_photos_too(tmp_path) -> None:
    for name in ("b.heic", "a.jpg", "c.AVIF", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in expand_styles([str(tmp_path)])] == ["a.jpg", "b.heic", "c.AVIF"]


def test_a_missing_snapshot_folder_fails_at_once_not_at_the_s_key(clip, tmp_path, capsys) -> None:
    code = main(["--live", str(clip), str(STYLE), "--no-window", "--device", "cpu", "--max-seconds", "1",
                 "--snapshots", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 1 and err == f"stylize-video: error: snapshot folder '{tmp_path / 'nope'}' does not exist\n"


def test_a_recording_name_without_extension_is_a_usage_error(clip, tmp_path, capsys) -> None:
    code = main(["--live", str(clip), str(STYLE), "--no-window", "--device", "cpu", "--record", str(tmp_path / "rec")])
    err = capsys.readouterr().err
    assert code == 2 and "has no extension; end it in one of .mp4" in err and os.listdir(tmp_path) == []


def test_an_existing_recording_is_kept_unless_overwrite_is_asked(clip, tmp_path, capsys) -> None:
    out = tmp_path / "rec.mp4"
    out.write_bytes(b"last session")
    code = main(["--live", str(clip), str(STYLE), "--no-window", "--device", "cpu", "--record", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "already exists" in err and "--overwrite" in err and out.read_bytes() == b"last session"
    code = main(["--live", str(clip), str(STYLE), "--no-window", "--device", "cpu", "--record", str(out), "--size",
                 "32", "--max-seconds", "1", "--quiet", "--overwrite"])
    assert code == 0 and decoded_count(out) > 0 and os.listdir(tmp_path) == ["rec.mp4"]


def test_without_a_display_the_window_says_how_to_run_headless(clip, monkeypatch, capsys) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["--live", str(clip), str(STYLE), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot open a window" in err and "--no-window --record" in err


def live_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", "--live", *args]


def wait_for_line(stream, text: str, timeout: float) -> str:
    """Read lines until one contains `text` (fail after `timeout` s)."""
    lines, found = [], threading.Event()

    def read() -> None:
        for line in stream:
            lines.append(line)
            if text in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), f"no '{text}' within {timeout} s: {lines}"
    return lines[-1]


def test_sigint_stops_cleanly_and_the_recording_is_complete(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    child = subprocess.Popen(live_command(str(clip), str(STYLE), "--record", str(out), "--no-window", "--size", "32",
                                          "--device", "cpu"),
                             cwd=REPO, env=CHILD_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(child.stderr, "live: ", timeout=60)
        time.sleep(1.5)
        child.send_signal(signal.SIGINT)
        stdout, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0 and "dropped" in stdout and "stopped by a signal" in stdout
    assert decoded_count(out) > 0 and os.listdir(tmp_path) == ["out.mp4"]


@pytest.fixture
def xvfb():
    """A virtual X display (:N), or a skip saying what is missing."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install xvfb xdotool)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def test_window_under_xvfb_shows_frames_and_q_quits(clip: Path, xvfb: str) -> None:
    env = {**CHILD_ENV, "DISPLAY": xvfb}
    from cli.window import TITLE

    probe = subprocess.run([sys.executable, "-c", "from cli.window import window_unavailable as w; print(w())"],
                           env=env, capture_output=True, text=True, cwd=REPO)
    if probe.stdout.strip() != "None":
        pytest.skip(f"OpenCV cannot open a window under Xvfb here: {probe.stdout.strip() or probe.stderr[-300:]}")
    child = subprocess.Popen(live_command(str(clip), str(STYLE), "--size", "32", "--device", "cpu", "--side-by-side"),
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(child.stderr, "live: ", timeout=60)
        window = subprocess.run(["xdotool", "search", "--sync", "--name", TITLE], env=env, capture_output=True,
                                text=True, timeout=20).stdout.split()[0]
        time.sleep(1.0)  # a few frames
        geometry = subprocess.run(["xdotool", "getwindowgeometry", window], env=env, capture_output=True,
                                  text=True).stdout
        subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True, timeout=10)
        subprocess.run(["xdotool", "key", "q"], env=env, check=True, timeout=10)
        stdout, stderr = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 0, stderr
    assert "ended: quit from the window" in stdout and "dropped" in stdout
    assert "1024x384" in geometry  # 32x24 side by side, enlarged to a 512 px tall picture each
