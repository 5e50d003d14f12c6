"""pipeline.checkpoints: the work folder, its manifest and refusals, and a resume after SIGKILL that gives exactly
the frames of an uninterrupted run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import namedtuple
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import pipeline.checkpoints as checkpoints
from pipeline.checkpoints import Checkpoints, build_manifest, check_free_space, recorded_threads, work_folder
from pipeline.config import OptimSettings, StyleSettings, VideoSettings
from pipeline.errors import OutputError, UsageError
from pipeline.events import FrameStarted, VideoPlan
from pipeline.video import stylize_video

from fakes import IdentityStylizer
from media import decode_bgr, decoded_count, make_clip

SETTINGS = StyleSettings(size=48, optim=OptimSettings(iterations=4, max_scales=1))
VIDEO = VideoSettings(frame_iterations=2, preset="ultrafast")


# One thread here and in the subprocess runs (see the script below): the same arithmetic in both, so resumed
# and uninterrupted runs can be compared pixel for pixel.
pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture()
def files(tmp_path: Path):
    """A fake input (2.5 MiB, so head and tail hashes differ) and two style images."""
    source = tmp_path / "in.mp4"
    source.write_bytes(os.urandom(5 << 19))
    styles = []
    for seed in (1, 2):
        path = tmp_path / f"style{seed}.png"
        cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8))
        styles.append(path)
    return namedtuple("Files", "source styles output")(source, styles, tmp_path / "out.mp4")


def manifest(files, style: int = 0, weight: float = 1.0, settings=SETTINGS, video=VIDEO, size=(48, 36),
             arithmetic: str = "float32") -> dict:
    return build_manifest(files.source, [(files.styles[style], weight)], settings, video, size, arithmetic)


def test_manifest_identifies_input_styles_and_pixel_settings(files) -> None:
    data = files.source.read_bytes()
    found = manifest(files)
    stat = files.source.stat()
    assert found["input"] == {
        "path": str(files.source.resolve()),
        "size": len(data),
        "mtime_ns": stat.st_mtime_ns,
        "sha256_head": hashlib.sha256(data[: 1 << 20]).hexdigest(),
        "sha256_tail": hashlib.sha256(data[-(1 << 20) :]).hexdigest(),
    }
    assert found["styles"] == [{"sha256": hashlib.sha256(files.styles[0].read_bytes()).hexdigest(), "weight": 1.0}]
    assert found["settings"]["optim"]["iterations"] == 4 and found["settings"]["size"] == 48
    assert found["video"]["frame_iterations"] == 2 and found["video"]["start"] == 0.0
    assert found["video"]["duration"] is None and "crf" not in found["video"] and "resume" not in found["video"]
    assert found["size"] == [48, 36]
    assert json.loads(json.dumps(found)) == found


def test_frames_are_written_atomically_and_read_back(files) -> None:
    work = Checkpoints.inspect(files.output, manifest(files), resume=False)
    assert work.folder == files.output.parent / ".out.mp4.frames" == work_folder(files.output)
    assert not work.folder.exists() and work.finished == 0  # inspecting writes nothing
    work.start()
    assert json.loads((work.folder / "manifest.json").read_text()) == manifest(files)
    frames = [np.random.default_rng(i).integers(0, 255, (36, 48, 3), dtype=np.uint8) for i in range(4)]
    for index in (0, 1, 3):  # frame 2 missing: only 0 and 1 form the finished prefix
        work.save(index, frames[index])
    assert sorted(p.name for p in work.folder.iterdir()) == ["000000.png", "000001.png", "000003.png", "manifest.json"]
    again = Checkpoints.inspect(files.output, manifest(files), resume=True)
    assert again.existed and again.finished == 2
    assert np.array_equal(again.load(1, (48, 36)), frames[1])
    with pytest.raises(OutputError, match="expected a 64x48 PNG"):
        again.load(1, (64, 48))


def test_a_frame_keeps_its_step_scale_exactly(files) -> None:
    # The next frame starts L-BFGS at this float: a resumed run must get the very same one.
    work = Checkpoints.inspect(files.output, manifest(files), resume=False)
    work.start()
    pixels = np.random.default_rng(0).integers(0, 255, (36, 48, 3), dtype=np.uint8)
    step = 0.1 + 2 ** -40  # a float that a short decimal would not give back
    work.save(0, pixels, step)
    work.save(1, pixels)  # Adam, or no accepted step: none
    assert work.load_step_scale(0) == step and work.load_step_scale(1) is None and work.load_step_scale(7) is None
    assert np.array_equal(work.load(0, (48, 36)), pixels)  # still a PNG that decodes to the frame
    with Image.open(work.folder / "000000.png") as png:
        assert png.text == {"stylize-video step scale": repr(step)}
        png.load()  # Pillow checks the chunks' CRCs as it reads


def test_a_fast_runs_keyframes_and_network_are_kept_told_and_removed(files) -> None:
    work = Checkpoints.inspect(files.output, manifest(files), resume=False)
    work.start()
    assert work.kept() is None and work.load_keyframe(4, (48, 36)) is None
    pixels = np.random.default_rng(0).integers(0, 255, (36, 48, 3), dtype=np.uint8)
    work.save_keyframe(4, pixels, 0.25)
    kept = work.load_keyframe(4, (48, 36))
    assert kept is not None and np.array_equal(kept[0], pixels) and kept[1] == 0.25
    assert work.kept() == "1 painted keyframe" and work.finished == 0  # a keyframe is not a finished frame
    work.network.write_bytes(b"weights")
    work.save(0, pixels)
    assert work.kept() == "1 finished frame, 1 painted keyframe and the trained network"
    (work.folder / "notes.txt").write_text("mine")
    work.remove()
    assert [p.name for p in work.folder.iterdir()] == ["notes.txt"]


def test_existing_folder_needs_resume_and_a_matching_manifest(files) -> None:
    Checkpoints.inspect(files.output, manifest(files), resume=False).start()
    with pytest.raises(UsageError, match="exists: add --resume"):
        Checkpoints.inspect(files.output, manifest(files), resume=False)
    refusals = [
        (manifest(files, style=1), r"made with another style \(style image 1 differs\): resume with the settings it was made with, "
                                     "or remove it to start again$"),
        (manifest(files, weight=2.0), r"another style \(--style-blend differs\)"),
        (manifest(files, settings=replace(SETTINGS, optim=replace(SETTINGS.optim, iterations=5))),
         r"other settings \(--iterations differs\)"),
        (manifest(files, video=replace(VIDEO, temporal_weight=1.0)), r"other video settings \(--temporal-weight differs\)"),
        (manifest(files, video=replace(VIDEO, max_frames=10)), r"other video settings \(--frames differs\)"),
        (manifest(files, settings=replace(SETTINGS, threads=2)), r"other settings \(--threads differs\)"),
        (manifest(files, size=(32, 24)), "another processing size"),
        # The arithmetic the network used, named by the option that sets it (not an internal field).
        (manifest(files, arithmetic="bfloat16"), r"painted with VGG19 in float32, but this run would use bfloat16 "
                                                 r"\(--precision, or another CPU or PyTorch\): resume with the --precision it"),
        # Both at once: one refusal names both, so the next try does not fail on the second.
        (manifest(files, arithmetic="bfloat16", style=1),
         r"in float32, but this run would use bfloat16 \(--precision, or another CPU or PyTorch\), and made with "
         r"another style \(style image 1 differs\): resume with the --precision and the settings it was made with"),
    ]
    for other, message in refusals:
        with pytest.raises(UsageError, match=message):
            Checkpoints.inspect(files.output, other, resume=True)
    # Encoding and bookkeeping settings do not change a frame: resuming with them changed is fine.
    same_pixels = replace(VIDEO, crf=30, preset="slow", keep_frames=True, queue_size=1, resume=True)
    assert Checkpoints.inspect(files.output, manifest(files, video=same_pixels), resume=True).existed
    # --precision float32 on a CPU without bfloat16 computes what auto computes there: the same arithmetic.
    float32_asked = replace(SETTINGS, optim=replace(SETTINGS.optim, amp=not SETTINGS.optim.amp))
    assert Checkpoints.inspect(files.output, manifest(files, settings=float32_asked), resume=True).existed


def test_a_resume_paints_with_the_thread_count_the_folder_was_started_with(tmp_path: Path, style: Path) -> None:
    # The thread count changes the pixels in their last bits, and the automatic one follows the machine's load: a
    # resume that chose again could continue a video painted with 2 threads with 1.
    source, out = make_clip(tmp_path / "in.mp4", frames=3, audio=()), tmp_path / "out.mp4"
    before = torch.get_num_threads()
    try:
        stylize_video(source, [(style, 1.0)], out, replace(SETTINGS, threads=2), replace(VIDEO, keep_frames=True),
                      "cpu", stylizer=IdentityStylizer)
        assert recorded_threads(out) == 2 and recorded_threads(tmp_path / "other.mp4") is None
        events: list[object] = []
        again = replace(VIDEO, resume=True, keep_frames=True, overwrite=True)
        stylize_video(source, [(style, 1.0)], out, SETTINGS, again, "cpu", events.append, stylizer=IdentityStylizer)
        (plan,) = [e for e in events if isinstance(e, VideoPlan)]
        assert plan.threads == 2 and plan.resumed == 3 and torch.get_num_threads() == 2
        with pytest.raises(UsageError, match=r"made with other settings \(--threads differs\)"):
            stylize_video(source, [(style, 1.0)], out, replace(SETTINGS, threads=1), again, "cpu",
                          stylizer=IdentityStylizer)
    finally:
        torch.set_num_threads(before)


def test_a_changed_input_is_refused(files) -> None:
    Checkpoints.inspect(files.output, manifest(files), resume=False).start()
    with open(files.source, "r+b") as f:  # same size and first MiB, another last byte
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(UsageError, match=r"another input video \(or the input file changed\) \(its modification time, its last MiB differ\)"):
        Checkpoints.inspect(files.output, manifest(files), resume=True)


def test_a_folder_without_manifest_is_refused(files) -> None:
    work_folder(files.output).mkdir()
    with pytest.raises(UsageError, match="no readable manifest.json"):
        Checkpoints.inspect(files.output, manifest(files), resume=True)


def test_remove_deletes_only_our_files(files) -> None:
    work = Checkpoints.inspect(files.output, manifest(files), resume=False)
    work.start()
    work.save(0, np.zeros((36, 48, 3), np.uint8))
    (work.folder / "notes.txt").write_text("mine")
    work.remove()
    assert [p.name for p in work.folder.iterdir()] == ["notes.txt"]
    (work.folder / "notes.txt").unlink()
    work.remove()
    assert not work.folder.exists()


def test_free_space_is_checked(tmp_path: Path, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))
    check_free_space(tmp_path, 1, 640, 360)  # 0.4 MB fits in 1 MB
    check_free_space(tmp_path, None, 640, 360)  # unknown length: nothing to check
    with pytest.raises(OutputError, match=r"about 41 MB needed for 100 frames of 640x360, 1000 kB free"):
        check_free_space(tmp_path, 100, 640, 360)
    with pytest.raises(OutputError, match=r"about 1659 kB needed for 400 frames of 64x36, 1000 kB free"):
        check_free_space(tmp_path, 400, 64, 36)  # in kB, where MB read "2 MB needed, 1 MB free"


# ---- through stylize_video ----


CHILD = textwrap.dedent(
    """
    import sys, torch, cv2
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from pipeline.config import OptimSettings, StyleSettings, VideoSettings
    from pipeline.video import stylize_video
    settings = StyleSettings(size=48, optim=OptimSettings(iterations=4, max_scales=1))
    stylize_video(sys.argv[1], [(sys.argv[2], 1.0)], sys.argv[3], settings,
                  VideoSettings(frame_iterations=2, preset="ultrafast"), device="cpu")
    """
)


def png_frames(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def test_resume_after_sigkill_gives_the_uninterrupted_result(tmp_path: Path, style: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=20)
    out = tmp_path / "out.mp4"
    folder = work_folder(out)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(source), str(style), str(out)],
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("*.png"))) < 3:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child did not checkpoint 3 frames in 2 minutes"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        child.stderr.close()
    done = len(list(folder.glob("*.png")))
    assert not out.exists() and 3 <= done < 20
    assert [p for p in tmp_path.iterdir() if ".partial" in p.name]  # the killed run's temporaries, never cleaned

    events: list[object] = []
    video = replace(VIDEO, resume=True, keep_frames=True)
    stylize_video(source, [(style, 1.0)], out, SETTINGS, video, "cpu", events.append)
    assert events[0].resumed == done and [e.index for e in events if isinstance(e, FrameStarted)][0] == done
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mp4.frames", "in.mp4", "out.mp4"]  # they are gone

    clean = tmp_path / "clean.mp4"
    stylize_video(source, [(style, 1.0)], clean, SETTINGS, replace(VIDEO, keep_frames=True), "cpu")
    resumed_frames, clean_frames = png_frames(folder), png_frames(work_folder(clean))
    assert len(resumed_frames) == len(clean_frames) == 20
    for index, (a, b) in enumerate(zip(resumed_frames, clean_frames)):
        assert np.array_equal(a, b), f"frame {index} differs"
    assert decoded_count(out) == 20
    assert np.array_equal(decode_bgr(out, 48, 36), decode_bgr(clean, 48, 36))


def test_mismatched_manifest_is_refused_before_any_work(tmp_path: Path, style: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=3)
    out = tmp_path / "out.mp4"
    stylize_video(source, [(style, 1.0)], out, SETTINGS, replace(VIDEO, keep_frames=True), "cpu")
    folder = work_folder(out)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    events: list[object] = []
    with pytest.raises(UsageError, match="was made with another style"):
        stylize_video(source, [(style, 0.5), (style, 0.5)], out, SETTINGS, replace(VIDEO, resume=True, overwrite=True),
                      "cpu", events.append)
    assert events == [] and {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not any(isinstance(e, VideoPlan) for e in events)
