"""`stylize-video measure`: the numbers it prints, its --frames option, and one-line errors with exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli.main import main
from pipeline.flicker import warping_error

from media import flickered, panning_clip, write_clip

ROOT = Path(__file__).resolve().parent.parent
STYLE = ROOT / "samples" / "styles" / "starry_night.jpg"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[np.ndarray], list[np.ndarray]]:
    """(stylized path, reference path, stylized frames, reference frames): lossless clips of a flickering pan."""
    folder = tmp_path_factory.mktemp("clips")
    reference = panning_clip(8)
    stylized = flickered(reference, 0.05)
    return write_clip(folder / "sty.avi", stylized), write_clip(folder / "ref.avi", reference), stylized, reference


def measure(capsys, *args) -> tuple[int, str, str]:
    code = main(["measure", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def printed(out: str, label: str) -> float:
    """The number on the line that starts with `label` (after indentation)."""
    match = re.search(rf"^\s*{label}\s+([0-9.]+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


def test_prints_the_stylized_error_and_the_reference_floor(clips, capsys) -> None:
    sty, ref, stylized, reference = clips
    code, out, err = measure(capsys, sty, "--reference", ref)
    assert code == 0 and err == ""
    expected, floor = warping_error(stylized, reference), warping_error(reference, reference)
    assert floor < 0.1 * expected  # the flicker is far above the floor, so the two lines cannot be confused
    assert printed(out, "stylized") == pytest.approx(expected, abs=1e-6)
    assert printed(out, "reference") == pytest.approx(floor, abs=1e-6)
    assert "Lai et al. 2018" in out and str(sty) in out and str(ref) in out
    ratio = float(re.search(r"([0-9.]+)x the floor", out).group(1))
    assert ratio == pytest.approx(expected / floor, rel=0.01)


def test_frames_option_measures_only_the_first_frames(clips, capsys, tmp_path) -> None:
    sty, ref, stylized, reference = clips
    code, out, _ = measure(capsys, sty, "--reference", ref, "--frames", 3)
    assert code == 0
    assert printed(out, "stylized") == pytest.approx(warping_error(stylized[:3], reference[:3]), abs=1e-6)
    assert printed(out, "stylized") != pytest.approx(warping_error(stylized, reference), abs=1e-6)
    # A `--frames 3` preview against its whole input: only the first 3 frames of each need to be there (the whole
    # files' counts used to be compared first, and refused).
    preview = write_clip(tmp_path / "preview.avi", stylized[:3])
    code, out, err = measure(capsys, preview, "--reference", ref, "--frames", 3)
    assert code == 0, err
    assert printed(out, "stylized") == pytest.approx(warping_error(stylized[:3], reference[:3]), abs=1e-6)


@pytest.mark.parametrize(("case", "code", "message"), [
    ("no reference", 2, "the following arguments are required: --reference"),
    ("one frame", 2, "--frames must be at least 2"),
    ("not a number", 2, "argument --frames: invalid int value"),
    ("unknown option", 2, "unrecognized arguments: --bogus"),
    ("missing stylized", 1, "stylized video '.*nope.mp4' does not exist"),
    ("missing reference", 1, "reference video '.*nope.mp4' does not exist"),
    ("not a video", 1, "'.*notes.mp4' is neither an image nor a media file ffmpeg can read"),
    ("frame counts differ", 1, r"has 8 frames but reference .* gives 3"),
    ("frame counts differ within --frames", 1, r"has 8 frames but reference .* gives 3 \(expected as many for --frames 7"),
    ("another aspect", 1, r"stylized video .* is displayed 1.000:1 but reference .*wide.avi' 2.000:1: is it the input"),
    ("a photo", 1, r"'.*photo.png' is a still image, not a video"),
])
def test_errors_are_one_line_with_an_exit_code(clips, capsys, tmp_path, case, code, message) -> None:
    sty, ref, stylized, _ = clips
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    short = write_clip(tmp_path / "short.avi", stylized[:3])
    cv2.imwrite(str(tmp_path / "photo.png"), stylized[0])
    args = {
        "no reference": [sty],
        "one frame": [sty, "--reference", ref, "--frames", 1],
        "not a number": [sty, "--reference", ref, "--frames", "many"],
        "unknown option": [sty, "--reference", ref, "--bogus"],
        "missing stylized": [tmp_path / "nope.mp4", "--reference", ref],
        "missing reference": [sty, "--reference", tmp_path / "nope.mp4"],
        "not a video": [text, "--reference", ref],
        "frame counts differ": [sty, "--reference", short],
        "frame counts differ within --frames": [sty, "--reference", short, "--frames", 7],
        "another aspect": [sty, "--reference", write_clip(tmp_path / "wide.avi", [np.hstack([f, f]) for f in stylized])],
        "a photo": [sty, "--reference", tmp_path / "photo.png"],
    }[case]
    got, out, err = measure(capsys, *args)
    assert got == code and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("stylize-video: error:"), err
    assert re.search(message, err), err


def test_the_installed_command_runs_it(clips) -> None:
    sty, ref, _, _ = clips
    done = subprocess.run([sys.executable, "-m", "cli", "measure", str(sty), "--reference", str(ref)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    assert "stylized" in done.stdout and "reference" in done.stdout
    done = subprocess.run([sys.executable, "-m", "cli", "measure"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.strip().splitlines()) == 1


def test_a_reader_that_goes_away_or_a_full_disk_is_not_a_traceback(clips) -> None:
    # `stylize-video measure ... | head -1` closes the pipe early: Python raised BrokenPipeError with a traceback.
    sty, ref, _, _ = clips
    argv = [sys.executable, "-m", "cli", "measure", str(sty), "--reference", str(ref)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    child.stdout.close()  # the reader has gone before the first line
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1 and err == b"", err  # quiet, as other Unix tools end on a closed pipe
    with open("/dev/full", "w") as full:
        done = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "stylize-video: error: could not write to standard output: No space left on device\n"
    closed = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *argv], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            timeout=120)  # started with no stdout at all: Python's sys.stdout is None
    assert closed.returncode == 1
    assert closed.stderr == "stylize-video: error: could not write to standard output: it is closed\n"


def test_a_gif_of_a_60_fps_input_is_paired_by_time_with_every_second_frame(tmp_path) -> None:
    # The GIF holds every 2nd frame, with delays of 3, 3, 4 hundredths of a second. Measured against its input it
    # was refused (15 frames against 30), and with --frames its pictures were paired with frames 0, 1, 2...
    from pipeline.config import OptimSettings, StyleSettings, VideoSettings
    from pipeline.flicker import measure_video
    from pipeline.media.reader import VideoReader
    from pipeline.video import stylize_video

    from fakes import IdentityStylizer

    reference = panning_clip(30)
    source = tmp_path / "in60.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"FFV1"), 60, reference[0].shape[1::-1])
    for frame in reference:
        writer.write(frame)
    writer.release()
    gif = tmp_path / "out.gif"
    stylize_video(source, [(STYLE, 1.0)], gif, StyleSettings(size=64, optim=OptimSettings(iterations=1)),
                  VideoSettings(), device="cpu", stylizer=IdentityStylizer)
    with VideoReader(gif) as reader:
        pictures = [picture.pixels for picture in reader.pictures()]
    assert len(pictures) == 15
    error, floor = measure_video(gif, source)
    assert error == pytest.approx(warping_error(pictures, reference[::2]), rel=1e-6)
    assert error < 0.2 * warping_error(pictures, reference[:15])  # paired frame by frame, the motion is wrong
    assert floor == pytest.approx(warping_error(reference[::2], reference[::2]), rel=1e-6)
    # A --frames 20 preview of it is measured with --frames 20 (the input's frames, as stylize-video counts them).
    assert measure_video(gif, source, max_frames=20)[0] == pytest.approx(
        warping_error(pictures[:10], reference[:20:2]), rel=1e-6)


def test_a_start_preview_is_measured_against_its_part_of_the_input(clips, capsys) -> None:
    sty, ref, stylized, reference = clips
    preview = write_clip(Path(sty).with_name("from4.avi"), stylized[4:])
    code, out, err = measure(capsys, preview, "--reference", ref)
    assert code == 1 and "give the --frames (and --start) it was made with" in err
    code, out, err = measure(capsys, preview, "--reference", ref, "--start", 4 / 25)
    assert code == 0, err
    assert printed(out, "stylized") == pytest.approx(warping_error(stylized[4:], reference[4:]), abs=1e-6)
