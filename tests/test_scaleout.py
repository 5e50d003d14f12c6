"""One video across Ray workers (pipeline/scaleout/, `--ray`), on a real local Ray instance with 2 CPUs: a split at
the cuts gives one process's frames bit for bit, a long shot's pieces meet without a seam, a killed worker's segment
is redone, a worker's error is its own one line, a stopped run resumes on Ray or in one process, and nothing of Ray
is left running. Skipped without the `ray` extra, except the test that says it is missing."""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli.main import main
from pipeline.checkpoints import work_folder
from pipeline.config import FastSettings, OptimSettings, RaySettings, StyleSettings, VideoSettings
from pipeline.errors import InputError, Interrupted, UsageError
from pipeline.events import FrameDone, ScaleOutPlan, TrainingDone, WorkerStarted
from pipeline.flicker import pair_errors
from pipeline.scaleout.cluster import check_ray_installed
from pipeline.video import stylize_video

from fakes import MixingStylizer, of
from media import cut_clip, decode_bgr, make_clip, raw_clip, texture

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SETTINGS = StyleSettings(size=48, optim=OptimSettings(iterations=4, max_scales=1))
VIDEO = VideoSettings(frame_iterations=2, min_frame_iterations=2, preset="ultrafast", keep_frames=True)
RAY = RaySettings(chunk_seconds=1000.0, threads=1)  # split at the cuts only

pytestmark = pytest.mark.usefixtures("one_thread")  # 1 thread here, as in each worker: the same arithmetic


def _ray_installed() -> bool:
    try:
        check_ray_installed()
    except UsageError:
        return False
    return True


needs_ray = pytest.mark.skipif(not _ray_installed(), reason="Ray is not installed: pip install -e '.[test,ray]'")


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray instance with 2 CPUs for the module (starting one takes seconds), stopped after it; the workers
    can import tests/fakes.py."""
    from pipeline.scaleout.cluster import import_ray

    ray = import_ray()
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        yield ray
    finally:
        ray.shutdown()


def run(source: Path, out: Path, style: Path, ray: RaySettings | None = RAY, stylizer=None,
        settings: StyleSettings = SETTINGS, video: VideoSettings = VIDEO, stop: threading.Event | None = None,
        on_event=None, fast: FastSettings | None = None):
    events: list[object] = []

    def record(event: object) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    result = stylize_video(source, [(style, 1.0)], out, settings, video, "cpu", record, stop, stylizer, ray, fast)
    return result, events


def kept(out: Path) -> list[np.ndarray]:
    """The finished frames in the work folder of `out` (not a fast run's keyframes, key-*.png)."""
    return [cv2.imread(str(p)) for p in sorted(work_folder(out).glob("[0-9]*.png"))]


def panning_shot(path: Path, frames: int) -> Path:
    """One shot: a texture panning 1 px a frame, 64x48."""
    scene = texture(60, 64 + frames, seed=11, blur=1.2)
    return raw_clip(path, [np.ascontiguousarray(scene[6:54, i:i + 64]) for i in range(frames)])


def test_without_the_extra_ray_is_a_usage_error_naming_it(tmp_path, capsys, monkeypatch, style):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    source = make_clip(tmp_path / "in.mp4", frames=2, audio=())
    code = main([str(source), str(style), str(tmp_path / "out.mp4"), "--ray", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and 'pip install "stylize-video[ray]"' in err
    with pytest.raises(UsageError, match="an optional extra"):  # the library says so too
        stylize_video(source, [(style, 1.0)], tmp_path / "out.mp4", SETTINGS, VIDEO, "cpu", ray=RAY)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_an_address_in_the_place_of_the_files_is_named(tmp_path, capsys, style):
    code = main(["--ray", "in.mp4", str(style), str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and "--ray took 'in.mp4' for a cluster address: put --ray after the files" in err
    source = make_clip(tmp_path / "in.mp4", frames=2, audio=())
    code = main([str(source), str(style), str(tmp_path / "out.mp4"), "--ray", "in.mp4"])  # all there: checked itself
    err = capsys.readouterr().err
    assert code == 2 and "--ray takes a cluster address like host:6379 or auto, got 'in.mp4'" in err


@needs_ray
def test_a_video_split_at_its_cuts_equals_one_process(tmp_path, style, ray_instance):
    # Shots are independent: each stylized whole by one worker gives one process's frames, bit for bit, with the
    # same number of threads (the test runs with 1, and so does each worker).
    source = cut_clip(tmp_path / "cut.mp4")
    one, _ = run(source, tmp_path / "one.mp4", style, ray=None)
    spread, events = run(source, tmp_path / "ray.mp4", style)
    plan = of(events, ScaleOutPlan)[0]
    assert (plan.shots, plan.pieces, plan.keyframes, plan.workers, plan.frames) == (2, 2, 0, 2, 8)
    assert sorted(e.index for e in of(events, FrameDone)) == list(range(8))
    assert {e.worker for e in of(events, FrameDone)} == {e.worker for e in of(events, WorkerStarted)}
    assert all(np.array_equal(a, b) for a, b in zip(kept(tmp_path / "one.mp4"), kept(tmp_path / "ray.mp4")))
    assert len(kept(tmp_path / "ray.mp4")) == 8 == spread.frames == one.frames
    assert np.array_equal(decode_bgr(tmp_path / "one.mp4", 48, 36), decode_bgr(tmp_path / "ray.mp4", 48, 36))


@needs_ray
def test_the_pieces_of_a_long_shot_meet_without_a_seam(tmp_path, style, ray_instance):
    # 24 frames in 3 pieces of 8 (the chunk is 8 frames at 25 fps). A keyframe carried from the one before comes
    # close to where the piece before it arrives, but not all the way: without the pull the boundary pairs stand
    # out; pulled towards the keyframe over the frames before it, they are ordinary pairs. Each frame gets 6
    # iterations: the pull needs a few to act.
    source = panning_shot(tmp_path / "pan.mp4", 24)
    reference = [cv2.resize(f, (48, 36), interpolation=cv2.INTER_AREA) for f in decode_bgr(source, 64, 48)]
    video = replace(VIDEO, frame_iterations=6, min_frame_iterations=6)
    chunked = replace(RAY, chunk_seconds=8 / 25, seam_frames=4)
    errors = {}
    for name, ray in (("one", None), ("pulled", chunked), ("jump", replace(chunked, seam_frames=0))):
        _, events = run(source, tmp_path / f"{name}.mp4", style, ray=ray, video=video)
        errors[name] = pair_errors(kept(tmp_path / f"{name}.mp4"), reference)
    assert of(events, ScaleOutPlan)[0].keyframes == 3  # frames 0, 8 and 16
    boundaries = [7, 15]  # pairs 7-8 and 15-16: the keyframes are frames 8 and 16
    jump = min(errors["jump"][b] for b in boundaries)
    pulled = max(errors["pulled"][b] for b in boundaries)
    assert pulled < 0.5 * jump and pulled <= max(errors["one"]), (pulled, jump)
    assert max(errors["pulled"]) <= 1.3 * max(errors["one"]), (max(errors["pulled"]), max(errors["one"]))


@needs_ray
def test_a_fast_run_on_ray_trains_here_and_its_workers_paint_as_one_process(tmp_path, style, ray_instance):
    # One shot of 50 frames in pieces of 10. The network's frames depend on the one before only through the blend,
    # whose memory fades: a piece first paints the 30 frames before it (or from the shot's start) and returns none
    # of them. The pieces at 10, 20 and 30 reach back to the shot's start and equal one process bit for bit; the
    # one at 40 starts at frame 10, and is off by what the rounding to whole levels keeps of a different start.
    source = panning_shot(tmp_path / "pan.mp4", 50)
    fast = FastSettings(min_steps=4, max_steps=4, batch=2, crop=32, pool_frames=4)
    settings = replace(SETTINGS, threads=1)
    one, _ = run(source, tmp_path / "one.mp4", style, ray=None, stylizer=MixingStylizer, settings=settings, fast=fast)
    spread, events = run(source, tmp_path / "ray.mp4", style, ray=replace(RAY, chunk_seconds=10 / 25),
                         stylizer=MixingStylizer, settings=settings, fast=fast)
    plan = of(events, ScaleOutPlan)[0]
    assert (plan.pieces, plan.keyframes, plan.workers, plan.frames) == (5, 0, 2, 50)
    assert len(of(events, TrainingDone)) == 1 and sorted(e.index for e in of(events, FrameDone)) == list(range(50))
    assert {e.worker for e in of(events, FrameDone)} == {e.worker for e in of(events, WorkerStarted)}
    ours, theirs = kept(tmp_path / "ray.mp4"), kept(tmp_path / "one.mp4")
    assert len(ours) == len(theirs) == spread.frames == one.frames == 50
    assert all(np.array_equal(a, b) for a, b in zip(ours[:40], theirs[:40]))
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(ours[40:], theirs[40:])) <= 3


def _clean_run(tmp_path, style, source, stylizer, ray=RAY, name="clean.mp4"):
    """The decoded output of an uninterrupted run."""
    run(source, tmp_path / name, style, ray=ray, stylizer=stylizer)
    return decode_bgr(tmp_path / name, 48, 36)


@needs_ray
def test_a_killed_worker_s_segment_is_redone_and_no_frame_is_lost_or_doubled(tmp_path, style, ray_instance):
    source = make_clip(tmp_path / "in.mp4", frames=16, audio=("aac",))  # one shot: 2 pieces of 8
    stylizer = functools.partial(MixingStylizer, delay=0.25)
    ray = replace(RAY, chunk_seconds=8 / 25)
    clean = _clean_run(tmp_path, style, source, stylizer, ray)
    pids, killed = {}, []

    def kill_once(event: object) -> None:
        if isinstance(event, WorkerStarted):
            pids[event.worker] = event.pid
        elif isinstance(event, FrameDone) and event.done == 4 and not killed:
            killed.append(event.worker)
            os.kill(pids[event.worker], signal.SIGKILL)  # mid-piece: it has more frames to go

    result, events = run(source, tmp_path / "out.mp4", style, ray=ray, stylizer=stylizer, on_event=kill_once)
    indices = [e.index for e in of(events, FrameDone)]
    assert killed and sorted(indices) == list(range(16))  # every frame once
    assert len(of(events, WorkerStarted)) == 3  # the two, and the one that took over
    assert result.frames == 16 and np.array_equal(decode_bgr(tmp_path / "out.mp4", 48, 36), clean)


@needs_ray
def test_a_worker_that_raises_gives_its_own_one_line_and_keeps_the_frames(tmp_path, style, ray_instance, capsys):
    frames = [np.full((48, 64, 3), 40, np.uint8)] * 6 + [np.full((48, 64, 3), 250, np.uint8)] * 2
    source = raw_clip(tmp_path / "in.mp4", frames)  # one shot (flat grey and white look alike to the cut test)
    stylizer = functools.partial(MixingStylizer, fail_above=0.9)
    with pytest.raises(InputError, match="too bright") as raised:
        run(source, tmp_path / "out.mp4", style, stylizer=stylizer)
    assert raised.value.kept.startswith("6 finished frames are kept")  # those before the white one
    code = main([str(source), str(style), str(tmp_path / "cli.mp4"), "--size", "48", "--device", "cpu", "--quiet",
                 "--ray"], stylizer=stylizer)
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1 and "this frame is too bright for the test's stylizer" in err
    assert "finished frames are kept" in err and "Ray" not in err and "Traceback" not in err
    assert not (tmp_path / "cli.mp4").exists() and work_folder(tmp_path / "cli.mp4").is_dir()


@needs_ray
@pytest.mark.parametrize("where", ["ray", "one process"])
def test_a_run_stopped_on_ray_resumes_on_ray_or_in_one_process(tmp_path, style, ray_instance, where):
    source = cut_clip(tmp_path / "cut.mp4")
    stylizer = functools.partial(MixingStylizer, delay=0.1)
    clean = _clean_run(tmp_path, style, source, stylizer)
    stop = threading.Event()

    def stop_after_three(event: object) -> None:
        if isinstance(event, FrameDone) and event.done == 3:
            stop.set()

    with pytest.raises(Interrupted):
        run(source, tmp_path / "out.mp4", style, stylizer=stylizer, stop=stop, on_event=stop_after_three)
    assert 3 <= len(kept(tmp_path / "out.mp4")) < 8 and not (tmp_path / "out.mp4").exists()
    resumed = replace(VIDEO, resume=True)
    _, events = run(source, tmp_path / "out.mp4", style, ray=RAY if where == "ray" else None, stylizer=stylizer,
                    video=resumed)
    assert len(of(events, FrameDone)) < 8  # only what was missing (in one process: what follows the first gap)
    assert np.array_equal(decode_bgr(tmp_path / "out.mp4", 48, 36), clean)


@needs_ray
def test_the_command_line_on_a_local_ray_instance_leaves_nothing_running(tmp_path, style):
    # Its own instance, started and stopped by the command: the user sees the plan lines, no Ray log line.
    source = cut_clip(tmp_path / "cut.mp4")
    command = subprocess.Popen([sys.executable, "-m", "cli", str(source), str(style), str(tmp_path / "out.mp4"),
                                "--size", "48", "--iterations", "2", "--frame-iterations", "2", "--device", "cpu",
                                "--ray", "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    out, err = command.communicate(timeout=600)
    assert command.returncode == 0, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("frames")]
    assert lines[0].startswith("Stylizing 8 frames") and lines[1].startswith("On a local Ray instance (started in ")
    assert "2 workers on the CPU, 1 thread each; 8 frames to stylize in 2 shots, 2 pieces" in lines[1]
    assert lines[-1] == f"wrote {tmp_path / 'out.mp4'}" and len(lines) == 3, err
    assert out == "" and decode_bgr(tmp_path / "out.mp4", 48, 36).shape[0] == 8
    # Ray's processes name their session folder after the process that started them; they go within seconds.
    deadline, left = time.monotonic() + 30, ["?"]
    while left and time.monotonic() < deadline:
        time.sleep(1)
        found = subprocess.run(["pgrep", "-af", f"session_[0-9_-]*_{command.pid}"], capture_output=True, text=True)
        left = [line for line in found.stdout.splitlines() if "pgrep" not in line]
    assert left == []
