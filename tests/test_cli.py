"""The command line as users and scripts meet it: exit codes, one-line messages, nothing written on failure."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli.main import main

from media import decoded_count, make_clip

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTO, STYLE = SAMPLES / "golden_gate.jpg", SAMPLES / "styles" / "starry_night.jpg"
FAST = ["--size", "32", "--iterations", "3", "--device", "cpu", "--quiet"]


def run(capsys, *args):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    return code, err


def test_contract_command_writes_an_image_of_the_asked_size(tmp_path, capsys):
    code, err = run(capsys, PHOTO, STYLE, tmp_path / "out.png", *FAST)
    assert code == 0 and err == ""
    with Image.open(tmp_path / "out.png") as image:
        assert max(image.size) == 32 and image.format == "PNG"
    assert os.listdir(tmp_path) == ["out.png"]


def test_a_small_style_image_is_named_with_its_enlargement(tmp_path, capsys):
    # A thumbnail of a painting gives soft strokes: enlarged 3x for a 96 px result. The README said so; now the
    # run says so too, and a large enough painting (or a smaller --style-scale) gets no warning.
    small = tmp_path / "thumb.png"
    Image.open(STYLE).convert("RGB").resize((32, 24)).save(small)
    loud = ["--size", "96", "--iterations", "2", "--device", "cpu"]
    code, err = run(capsys, PHOTO, small, tmp_path / "out.png", *loud)
    assert code == 0
    assert (f"warning: the style image '{small}' is only 32x24 px: it is enlarged 3.0x to 96 px, so its strokes "
            "come out soft; give a larger copy or a smaller --style-scale") in " ".join(err.split())
    for quiet_case in (["--style-scale", "0.5"], ["--size", "64"]):
        code, err = run(capsys, PHOTO, small, tmp_path / "out.png", *loud, *quiet_case, "--overwrite")
        assert code == 0 and "warning" not in err, err


def test_video_options_on_a_photo_are_named_as_ignored(tmp_path, capsys):
    # --crf, --frames... on a photo were ignored without a word.
    loud = [a for a in FAST if a != "--quiet"]
    code, err = run(capsys, PHOTO, STYLE, tmp_path / "out.png", *loud, "--crf", "20", "--frames", "3")
    assert code == 0 and f"warning: --frames, --crf are video options: ignored for the photo '{PHOTO}'" in err
    assert any(line.endswith(", 1 style") for line in err.splitlines())  # not "1 style(s)"
    code, err = run(capsys, PHOTO, STYLE, tmp_path / "out2.png", *loud, "--crf", "18")  # the default: not named
    assert code == 0 and "warning" not in err


def test_video_options_are_the_help_s_video_group():
    import re

    from cli.args import VIDEO_OPTIONS, build_parser
    text = build_parser().format_help()
    section = text.split("\nvideo:\n")[1].split("\n\n")[0]
    assert re.findall(r"^  (--[\w-]+)", section, re.MULTILINE) == [f"--{d.replace('_', '-')}" for d in VIDEO_OPTIONS]


@pytest.mark.parametrize("asked, said", [(["--threads", "2"], "with 2 threads"), ([], "with 1 thread,")])
def test_the_plan_line_says_the_thread_count(tmp_path, capsys, monkeypatch, asked, said):
    # Without --threads the count follows OMP_NUM_THREADS (conftest.py sets 1), else the load (core/cpu_threads.py).
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n, real=torch.set_num_threads: (seen.append(n), real(n)))
    loud = [a for a in FAST if a != "--quiet"]
    code, err = run(capsys, PHOTO, STYLE, tmp_path / "out.png", *loud, *asked)
    plan = [line for line in err.splitlines() if line.startswith("Painting a ")]
    assert code == 0 and len(plan) == 1 and f"on cpu{' (bfloat16)' * ('bfloat16' in plan[0])} {said}" in plan[0]
    assert seen == [int(said.split()[1])]  # what the line says is what torch was told


def test_two_styles_blended(tmp_path, capsys):
    styles = f"{STYLE},{SAMPLES / 'styles' / 'the_scream.jpg'}"
    code, _ = run(capsys, PHOTO, styles, tmp_path / "out.jpg", "--style-blend", "3,1", *FAST)
    assert code == 0 and (tmp_path / "out.jpg").stat().st_size > 0
    code, err = run(capsys, PHOTO, styles, tmp_path / "o.png", "--style-blend", "1", *FAST)
    assert code == 2 and "--style-blend has 1 weight for 2 style images: give one weight per image" in err
    for weights in ("1,nan", "1,inf", "1,0"):
        code, err = run(capsys, PHOTO, styles, tmp_path / "o.png", "--style-blend", weights, *FAST)
        assert code == 2 and "--style-blend weights must be positive numbers" in err


@pytest.mark.parametrize("case, code, message", [
    ("missing photo", 1, "does not exist"),
    ("missing style", 1, "style image .* does not exist"),
    ("empty style", 2, "STYLE is empty: give a style image"),  # it was taken as the current folder
    ("output folder is a file", 1, "output folder '.*photo.jpg' is a file, not a folder"),
    ("style not an image", 1, "could not be read \\(not an image\\?\\)"),
    ("init not an image", 1, "init image '.*text.jpg' could not be read \\(not an image\\?\\)"),
    ("photo neither image nor video", 1, "'.*photo.heic' is neither an image nor a media file ffmpeg can read"),
    ("photo with a damaged header", 1, "'.*damaged.jpg' could not be read as a photo \\(damaged"),
    ("text named as a photo", 1, "'.*text.jpg' could not be read as a photo"),
    ("output is the init image", 2, "is '.*init.png', which this run reads"),
    ("seed too large", 2, "--seed must be between 0 and 2\\*\\*64 - 1"),
    ("unknown layer", 2, "--style-layers: unknown VGG19 layer 'relu9_9'"),
    ("layer weights do not match the layers", 2, "--style-layer-weights has 2 weights for the 5 --style-layers "
                                                 "\\(relu1_1,relu2_1,relu3_1,relu4_1,relu5_1\\)"),
    ("init keyword misspelt", 2, "--init 'Noise' is not content, noise or an existing image file"),
    ("output name starting with a dash", 2, "required: OUTPUT .*write it as ./-out.png"),
    ("output is input", 2, "which this run reads"),
    ("output is input via ./", 2, "which this run reads"),
    ("output is input via symlink", 2, "which this run reads"),
    ("no output folder", 1, "folder .* does not exist"),
    ("size 0", 2, "--size must be between"),
    ("size 100000", 2, "--size must be between"),
    ("video suffix for a photo", 2, "should end in one of .png"),
    ("unknown option", 2, "unrecognized arguments"),
    ("unknown optimizer", 2, "invalid choice"),
    ("unavailable device", 1, "not available"),
])
def test_bad_input_gets_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch, case, code, message):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(PHOTO.read_bytes())
    (tmp_path / "link.jpg").symlink_to(photo)
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(100))  # a broken phone photo
    # Pillow cannot identify this one, but ffmpeg still decodes a picture from it: it used to become a 1-frame video.
    damaged = bytearray(PHOTO.read_bytes())
    damaged[2:400] = bytes(398)
    (tmp_path / "damaged.jpg").write_bytes(bytes(damaged))
    Image.open(PHOTO).save(tmp_path / "init.png")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.png"
    args = {
        "missing photo": ["nope.jpg", STYLE, out],
        "missing style": [photo, "nope.jpg", out],
        "empty style": [photo, "", out],
        "output folder is a file": [photo, STYLE, tmp_path / "photo.jpg" / "out.png"],
        "style not an image": [photo, "text.jpg", out],
        "init not an image": [photo, STYLE, out, "--init", "text.jpg"],  # refused before the "Painting" line
        "photo neither image nor video": ["photo.heic", STYLE, out],
        "photo with a damaged header": ["damaged.jpg", STYLE, out],
        "output is the init image": [photo, STYLE, "init.png", "--init", "init.png", "--overwrite"],
        "seed too large": [photo, STYLE, out, "--seed", str(10**20)],
        "unknown layer": [photo, STYLE, out, "--style-layers", "relu1_1,relu9_9", "--style-layer-weights", "1,1"],
        "layer weights do not match the layers": [photo, STYLE, out, "--style-layer-weights", "1,2"],
        "init keyword misspelt": [photo, STYLE, out, "--init", "Noise"],
        "output name starting with a dash": [photo, STYLE, "-out.png"],
        "text named as a photo": ["text.jpg", STYLE, out],
        "output is input": [photo, STYLE, photo],
        "output is input via ./": [photo, STYLE, "./photo.jpg"],
        "output is input via symlink": ["link.jpg", STYLE, "photo.jpg"],
        "no output folder": [photo, STYLE, tmp_path / "no" / "out.png"],
        "size 0": [photo, STYLE, out, "--size", "0"],
        "size 100000": [photo, STYLE, out, "--size", "100000"],
        "video suffix for a photo": [photo, STYLE, tmp_path / "out.mp4"],
        "unknown option": [photo, STYLE, out, "--bogus"],
        "unknown optimizer": [photo, STYLE, out, "--optimizer", "sgd"],
        "unavailable device": [photo, STYLE, out, "--device", "cuda" if not _has("cuda") else "mps"],
    }[case]
    before = sorted(os.listdir(tmp_path))
    got, err = run(capsys, *args, "--iterations", "2", "--size", "32") if "size" not in case else run(capsys, *args)
    assert got == code
    assert len(err.splitlines()) == 1 and err.startswith("stylize-video: error:")
    import re
    assert re.search(message, err), err
    assert sorted(os.listdir(tmp_path)) == before
    assert photo.read_bytes() == PHOTO.read_bytes()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "init.png")), np.asarray(Image.open(PHOTO)))


def test_an_existing_output_is_kept_unless_overwrite_is_asked(tmp_path, capsys):
    out = tmp_path / "out.png"
    out.write_bytes(b"an earlier result")
    code, err = run(capsys, PHOTO, STYLE, out, *FAST)
    assert code == 2 and "already exists" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert out.read_bytes() == b"an earlier result" and os.listdir(tmp_path) == ["out.png"]
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")  # a link is the user's even if it points nowhere
    assert run(capsys, PHOTO, STYLE, tmp_path / "dangling.png", *FAST)[0] == 2
    assert (tmp_path / "dangling.png").is_symlink() and not (tmp_path / "gone.png").exists()
    for flag in ("--overwrite", "-y"):
        out.write_bytes(b"an earlier result")
        assert run(capsys, PHOTO, STYLE, out, *FAST, flag) == (0, "")
        with Image.open(out) as image:
            assert max(image.size) == 32
    assert sorted(os.listdir(tmp_path)) == ["dangling.png", "out.png"]


def test_too_thin_for_the_network_says_which_size_works(tmp_path, capsys):
    # 300x100 at --size 32 would be 32x11; VGG19's four poolings need 16 px a side, so 48 is the least that works.
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((100, 300, 3), 128, np.uint8)).save(wide)
    code, err = run(capsys, wide, STYLE, tmp_path / "out.png", *FAST)
    assert code == 2 and err == ("stylize-video: error: --size 32 makes the picture 32x11 px, too thin for VGG19 "
                                 "(at least 16 px a side): use --size 48 or more; see stylize-video --help")
    assert sorted(os.listdir(tmp_path)) == ["wide.png"]
    code, err = run(capsys, wide, STYLE, tmp_path / "out.png", *FAST[:-1], "--size", "48", "--quiet")
    assert code == 0 and err == ""
    with Image.open(tmp_path / "out.png") as image:
        assert image.size == (48, 16)


@pytest.mark.parametrize("option, value, message", [
    ("--content-weight", "-1", "--content-weight must be a number >= 0, got -1.0"),
    ("--style-weight", "inf", "--style-weight must be a number >= 0, got inf"),
    ("--tv-weight", "nan", "--tv-weight must be a number >= 0, got nan"),
    ("--style-layer-weights", "0,0,0,0,0", "--style-layer-weights must be numbers >= 0, not all 0"),
    ("--lr", "0", "--lr must be a number > 0, got 0.0"),
    ("--style-scale", "nan", "--style-scale must be between 0.05 and 4, got nan"),
    ("--content-layers", "", "--content-layers needs at least one VGG19 layer"),
    ("--style-layers", "", "--style-layers needs at least one VGG19 layer"),
])
def test_numbers_no_picture_can_be_painted_with_are_usage_errors(tmp_path, capsys, option, value, message):
    # Each of these used to run (a negative weight paints nonsense, lr 0 returns the photo) or end in a traceback.
    for source in (PHOTO, SAMPLES / "bikes.mp4"):
        out = tmp_path / ("out.png" if source == PHOTO else "out.mp4")
        code, err = run(capsys, source, STYLE, out, *FAST, f"{option}={value}")
        assert code == 2 and err.startswith(f"stylize-video: error: {message}") and len(err.splitlines()) == 1
        assert os.listdir(tmp_path) == []



def test_a_negative_list_after_a_space_is_read_as_the_options_value(tmp_path, capsys):
    # argparse took "-1,2" for an option and said "expected one argument", not what is wrong with it.
    styles = f"{STYLE},{SAMPLES / 'styles' / 'the_scream.jpg'}"
    for option, value, message in (("--style-blend", "-1,2", "--style-blend weights must be positive numbers"),
                                   ("--style-layer-weights", "-1,1,1,1,1", "--style-layer-weights must be numbers")):
        code, err = run(capsys, PHOTO, styles, tmp_path / "out.png", *FAST, option, value)
        assert code == 2 and err.startswith(f"stylize-video: error: {message}"), err
    assert os.listdir(tmp_path) == []

def test_a_loss_that_overflows_is_one_line_and_nothing_is_written(tmp_path, capsys):
    code, err = run(capsys, PHOTO, STYLE, tmp_path / "out.png", *FAST, "--style-weight", "1e39")  # inf in float32
    assert code == 1
    assert err == "stylize-video: error: the loss became NaN or infinite; lower the learning rate or the weights"
    assert os.listdir(tmp_path) == []


def test_without_quiet_an_early_error_is_still_exactly_one_line(tmp_path, capsys):
    # The progress bars start with the first event; started earlier, rich left an empty line above the message.
    code = main([str(PHOTO), str(tmp_path / "nope.jpg"), str(tmp_path / "out.png"), "--size", "32"])
    expected = f"stylize-video: error: style image '{tmp_path / 'nope.jpg'}' does not exist\n"
    assert code == 1 and capsys.readouterr().err == expected


def test_version_and_live_help(capsys):
    from importlib.metadata import version

    for argv in (["--version"], ["--live", "0", "style.jpg", "--version"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0 and capsys.readouterr().out == f"stylize-video {version('stylize-video')}\n"
    # `--live --help` used to fail with "--live: expected one argument" (argparse took --help for the SOURCE).
    with pytest.raises(SystemExit) as done:
        main(["--live", "--help"])
    assert done.value.code == 0 and "--record OUT" in capsys.readouterr().out


def _has(device):
    import torch
    return device == "cuda" and torch.cuda.is_available()


def test_ctrl_c_exits_130_and_leaves_nothing(tmp_path):
    out = tmp_path / "out.png"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", str(PHOTO), str(STYLE), str(out), "--size", "96", "--iterations", "2000",
         "--device", "cpu", "--quiet"], stderr=subprocess.PIPE, text=True, cwd=SAMPLES.parent)
    time.sleep(6)  # past start-up, inside the optimization
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["still", "video"])
def test_a_closed_stderr_does_not_end_the_run(tmp_path, kind):
    # `stylize-video ... 2>&1 | head -1`: the progress's reader goes away. The run used to end with exit 1 at the
    # next message (for a still, after its file was written); the painting is what the user waits for.
    if kind == "still":
        source, out, extra = PHOTO, tmp_path / "out.png", []
    else:
        source, out, extra = tmp_path / "clip.mp4", tmp_path / "out.mp4", ["--frame-iterations", "2"]
        make_clip(source, width=48, height=32, frames=3, audio=())
    proc = subprocess.Popen([sys.executable, "-m", "cli", str(source), str(STYLE), str(out), *FAST[:-1], *extra],
                            stderr=subprocess.PIPE, cwd=SAMPLES.parent)
    proc.stderr.close()  # before the first message, which comes after torch and VGG19 are loaded
    assert proc.wait(timeout=120) == 0
    assert sorted(os.listdir(tmp_path)) == sorted({source.name, out.name} - {PHOTO.name})
    if kind == "still":
        assert max(Image.open(out).size) == 32
    else:
        assert decoded_count(out) == 3


@pytest.mark.parametrize("help_argv, bad_argv", [
    (["--help"], ["a.jpg", "b.jpg"]),
    (["--live", "0", "--help"], ["--live", "0", "b.jpg", "--fps", "0"]),
    (["measure", "--help"], ["measure", "a.mp4"]),
])
def test_help_and_usage_errors_need_no_torch(help_argv, bad_argv):
    # torch takes seconds to import; --help, --version and usage errors are answered before it is (the live and
    # measure commands imported it first until stop 14).
    code = ("import sys; from cli.main import main\n"
            f"try:\n    main({help_argv!r})\nexcept SystemExit:\n    pass\n"
            f"try:\n    code = main({bad_argv!r})\nexcept SystemExit as exc:\n    code = exc.code\n"
            "assert code == 2, code\n"
            "print(sorted(m for m in ('torch', 'cv2', 'torchvision') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=SAMPLES.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[]") and "usage: stylize-video" in done.stdout


# Every refusal of a request that needs no decoding: (argv with IN = a photo, CLIP = a video, OLD = an existing file,
# TEXT = a text file named .jpg, exit code, message). {tmp} is the test's folder.
EARLY_REFUSALS = [
    (["IN", "STYLE", "out.png", "--size", "100000"], 2, "--size must be between 16 and 8192 pixels, got 100000"),
    (["IN", "STYLE", "out.png", "--iterations", "-1"], 2, "--iterations must be at least 1, got -1"),
    (["IN", "STYLE", "out.png", "--style-weight", "-1"], 2, "--style-weight must be a number >= 0"),
    (["IN", "STYLE", "out.png", "--quality", "fast"], 2, "invalid choice: 'fast'"),
    (["IN", "STYLE", "out.png", "--threads", "0"], 2, "--threads must be at least 1, got 0"),
    (["CLIP", "STYLE", "out.mp4", "--frames", "-3"], 2, "--frames must be at least 1, got -3"),
    (["CLIP", "STYLE", "out.mp4", "--crf", "99"], 2, "--crf must be between 0 and 51"),
    (["nope.jpg", "STYLE", "out.png"], 1, "input 'nope.jpg' does not exist"),
    (["IN", "nope.jpg", "out.png"], 1, "style image 'nope.jpg' does not exist"),
    (["IN", "TEXT", "out.png"], 1, "style image .*text.jpg' could not be read \\(not an image\\?\\)"),
    (["IN", "STYLE", "out.png", "--init", "nope.png"], 2, "--init 'nope.png' is not content, noise"),
    (["IN", "STYLE", "OLD"], 2, "exists"),
    (["IN", "STYLE", "IN"], 2, "which this run reads"),
    (["IN", "STYLE", "no/out.png"], 1, "folder .* does not exist"),
    (["IN", "STYLE", "out.mp4"], 2, "should end in one of .png"),
    (["CLIP", "STYLE", "out.avi"], 2, ("'.avi' is not supported; videos are written as H.264 in .mp4, .m4v, .mov or "
                                       ".mkv, or as a GIF \\(.gif\\)")),
    (["--live", "nope.mp4", "STYLE"], 1, "live source 'nope.mp4' does not exist"),
    (["--live", "/dev/video99", "STYLE"], 1, "device '/dev/video99' does not exist"),
    (["--live", "ftp://host/x", "STYLE"], 2, "scheme 'ftp' is not one of"),
    (["--live", "CLIP", "nope.jpg"], 1, "style image 'nope.jpg' does not exist"),
    (["--live", "CLIP", "STYLE", "--fps", "-1"], 2, "--fps must be a number > 0"),
    (["--live", "CLIP", "STYLE", "--threads", "-2"], 2, "--threads must be at least 1, got -2"),
    (["--live", "CLIP", "STYLE", "--record", "OLD"], 2, "exists"),
    (["--live", "CLIP", "STYLE", "--record", "rec.avi"], 2, "'.avi' is not supported"),
    (["--live", "CLIP", "STYLE", "--snapshots", "no"], 1, "snapshot folder 'no' does not exist"),
    (["measure", "nope.mp4", "--reference", "CLIP"], 1, "stylized video 'nope.mp4' does not exist"),
    (["measure", "CLIP", "--reference", "CLIP", "--frames", "1"], 2, "--frames must be at least 2"),
    (["measure", "CLIP", "--reference", "CLIP", "--start", "-1"], 2, "--start must be a number of seconds >= 0"),
]


def _early_files(folder: Path) -> dict[str, str]:
    """The files EARLY_REFUSALS names, made in `folder`."""
    (folder / "in.jpg").write_bytes(PHOTO.read_bytes())
    (folder / "old.png").write_bytes(PHOTO.read_bytes())
    (folder / "text.jpg").write_text("not an image")
    make_clip(folder / "clip.mp4", frames=3, audio=())
    return {"IN": "in.jpg", "STYLE": str(STYLE), "CLIP": "clip.mp4", "OLD": "old.png", "TEXT": "text.jpg"}


def test_every_refusal_that_needs_no_decoding_comes_before_torch_and_opencv(tmp_path):
    # `import torch` takes 3-5 s on an idle machine and 10-16 s on a busy one, OpenCV a few tenths more: a typo in an
    # option or a file name is answered without them. One process runs them all, and says after each which of the
    # heavy modules it has imported.
    files = _early_files(tmp_path)
    runs = [[files.get(arg, arg) for arg in argv] for argv, _, _ in EARLY_REFUSALS]
    code = ("import json, sys; from cli.main import main\n"
            "for argv in json.loads(sys.argv[1]):\n"
            "    code = main(argv)\n"
            "    print(json.dumps([code, sorted(m for m in ('torch', 'cv2', 'torchvision') if m in sys.modules)]))\n")
    env = {**os.environ, "PYTHONPATH": str(SAMPLES.parent)}
    done = subprocess.run([sys.executable, "-c", code, json.dumps(runs)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120, check=False)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    messages = done.stderr.splitlines()
    assert len(answers) == len(messages) == len(EARLY_REFUSALS), done.stderr
    for (argv, expected, message), (got, heavy), line in zip(EARLY_REFUSALS, answers, messages):
        assert (got, heavy) == (expected, []), (argv, line)
        assert line.startswith("stylize-video: error: ") and re.search(message, line), (argv, line)
        assert line.endswith("--help") == (expected == 2), line  # a usage error points to the help
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4", "in.jpg", "old.png", "text.jpg"]


@pytest.mark.parametrize("argv", [["IN", "STYLE", "OLD"], ["--live", "CLIP", "nope.jpg"], ["IN", "STYLE", "out.png",
                                                                                             "--size", "100000"]])
def test_a_refusal_takes_a_fraction_of_the_time_torch_would(tmp_path, argv):
    # The goal is under 0.5 s for the whole command; the bound leaves room for a busy machine, where torch alone
    # takes 10 s and more.
    files = _early_files(tmp_path)
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cli", *(files.get(arg, arg) for arg in argv)], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(SAMPLES.parent)}, timeout=60,
                          check=False)
    elapsed = time.monotonic() - began
    assert done.returncode in (1, 2) and done.stderr.startswith("stylize-video: error: ")
    assert elapsed < 3.0, f"{elapsed:.2f} s"


def test_the_help_names_every_command_and_every_video_container(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: stylize-video INPUT STYLE OUTPUT [options]\n"
                          "       stylize-video --live SOURCE STYLE [options]\n"
                          "       stylize-video measure STYLIZED --reference INPUT [options]\n")
    assert ".mp4, .m4v, .mov or .mkv" in " ".join(out.split())  # as the README lists them


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_exits_130_with_one_line(tmp_path, signum):
    # torch takes seconds to import. A Ctrl-C then used to print a traceback through `import torch`, or abort the
    # process from inside torch's C++ start-up (SIGABRT); a SIGTERM killed it with 143.
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", str(PHOTO), str(STYLE), str(tmp_path / "out.png"), *FAST],
        stderr=subprocess.PIPE, text=True, cwd=SAMPLES.parent)
    time.sleep(0.4)  # inside the imports
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err == "stylize-video: interrupted; nothing was written to the output\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("quiet", [True, False])
def test_a_video_from_a_truncated_input_exits_3_and_says_so_even_when_quiet(tmp_path, capsys, quiet):
    # With --quiet a truncated input exited 0 and printed nothing: a script could not tell that it got 32 of 75
    # frames. Its output is kept (the frames that decode), with its own exit code and the warning.
    from fakes import IdentityStylizer
    from media import truncate

    whole = make_clip(tmp_path / "whole.mp4", frames=40, audio=())
    cut = truncate(whole, tmp_path / "cut.mp4", 0.5)
    out = tmp_path / "out.mp4"
    code = main([str(cut), str(STYLE), str(out), "--size", "32", *(["--quiet"] if quiet else [])],
                 stylizer=IdentityStylizer)
    err = capsys.readouterr().err
    frames = decoded_count(out)
    assert code == 3 and 0 < frames < 40
    warning = f"the input ended early: stopped at frame {frames} of ~40"
    if quiet:
        assert err == f"stylize-video: warning: {warning}\n"
    else:
        assert f"warning: {warning}" in err and err.rstrip().endswith(f"wrote {out}")
    assert main([str(whole), str(STYLE), str(tmp_path / "whole_out.mp4"), "--size", "32", "--quiet"],
                stylizer=IdentityStylizer) == 0 and capsys.readouterr().err == ""


def test_still_in_video_clothing_is_treated_as_a_still(tmp_path, capsys):
    disguised = tmp_path / "photo.mp4"
    disguised.write_bytes(PHOTO.read_bytes())
    code, _ = run(capsys, disguised, STYLE, tmp_path / "out.png", *FAST)
    assert code == 0
    assert np.asarray(Image.open(tmp_path / "out.png")).shape[2] == 3


CPU_OUT_OF_MEMORY = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                     "tried to allocate 215808000 bytes. Error code 12 (Cannot allocate memory)")


@pytest.mark.parametrize("error", [
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)"),
    RuntimeError(CPU_OUT_OF_MEMORY),  # what `ulimit -v 6000000` and --size 3000 gave on this machine
])
def test_out_of_memory_on_a_still_is_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch, error):
    # No GPU here, and a real CPU failure takes a minute: the optimizer raises what the allocator raises.
    from pipeline.core import stylizer

    def out_of_memory(*args, **kwargs):
        raise error

    monkeypatch.setattr(stylizer, "optimize", out_of_memory)
    code, err = run(capsys, PHOTO, STYLE, tmp_path / "out.png", *FAST)
    assert code == 1 and len(err.splitlines()) == 1
    assert "out of memory on cpu painting 32x" in err and "lower --size" in err
    assert "--device cpu" not in err  # FAST paints on the CPU already: that would be no advice at all
    assert os.listdir(tmp_path) == []


def test_out_of_memory_anywhere_else_is_still_one_line(capsys, monkeypatch):
    # The backstop for paths without their own handling (live): only out-of-memory is turned into a message.
    import cli.main

    def raising(error):
        def run(argv, stylizer=None):
            raise error
        return run

    monkeypatch.setattr(cli.main, "run", raising(torch.cuda.OutOfMemoryError("CUDA out of memory.")))
    code, err = run(capsys, "x")
    assert code == 1 and err == "stylize-video: error: out of GPU memory; try a smaller --size or --device cpu"
    monkeypatch.setattr(cli.main, "run", raising(RuntimeError(CPU_OUT_OF_MEMORY)))
    code, err = run(capsys, "x")
    assert code == 1 and err == "stylize-video: error: out of memory; try a smaller --size"
    monkeypatch.setattr(cli.main, "run", raising(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["x"])


def test_video_messages_are_whole_lines_of_plain_text(capsys):
    # Rich took "[1]" in a folder name for markup and dropped it, broke the plan line at 80 columns inside a pipe
    # ("audio: #1\naac (copy)"), and said "1 frames", "about 0 s" and then "about under 1 s".
    from fractions import Fraction
    from pathlib import Path

    from cli.progress import RichDisplay
    from pipeline.events import StylizeWarning, VideoPlan

    audio = tuple((i, "aac", "copy") for i in range(1, 6))
    with RichDisplay() as display:
        display(VideoPlan(Path("in.mp4"), Path("out.mp4"), 1, (1920, 1080), (512, 288), Fraction(30), audio, "cpu",
                          1, 0.2))
        display(StylizeWarning("nothing to resume in '/videos/take[1]/.out.mp4.frames'; starting from the first frame"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("Stylizing 1 frame of 1920x1080 as 512x288 at 30.000 fps on cpu, under 1 s; ")
    assert lines[0].endswith("#5 aac (copy)") and lines[1] == "Resuming: 1 frame was already done"
    assert "warning: nothing to resume in '/videos/take[1]/.out.mp4.frames'; starting from the first frame" in lines


def test_the_still_bar_fills_by_work_so_its_eta_holds_from_the_first_scale():
    # The default still paints 128, 256 and 512 px scales of at most 60, 30 and 20 iterations; a 128-px iteration
    # costs about 1/16 of a 512-px one. Counted by iterations, the first scale filled a third of the bar and the ETA
    # said 1 min 20 s for a 10-minute job.
    import io

    from rich.console import Console

    from cli.progress import RichDisplay
    from pipeline.events import IterationEvent, ScaleDone, ScalePlan

    sizes = ((96, 128), (192, 256), (384, 512))
    work = 60 / 16 + 30 / 4 + 20  # in 512-px iterations
    with RichDisplay(Console(file=io.StringIO())) as display:
        display(ScalePlan(sizes, (60, 30, 20)))
        display(IterationEvent(0, 3, sizes[0], 40, 60, 1.0))
        (task,) = display.progress.tasks
        assert task.total == pytest.approx(work) and task.completed == pytest.approx(40 / 16)
        assert task.fields["count"] == "40/60" and task.description == "scale 1/3 128x96"
        display(ScaleDone(0, 3, 45, 60, 1.0, settled=True))  # a scale that settled early completes its share
        display(IterationEvent(2, 3, sizes[2], 10, 20, 1.0))
        assert task.completed == pytest.approx(60 / 16 + 30 / 4 + 10)
        assert task.fields["count"] == "10/20"


def test_the_frames_bar_shows_the_pace_of_the_frames_after_the_first():
    # The label showed the last frame's rate ("2.98 fps" on a run averaging 0.13), then the mean over every frame,
    # the first (coarse to fine, many warm frames' cost) included: "38.6 s a frame" beside an ETA of 8:38 for 34
    # frames. The total grows with the frames done (see test_2_variable_frame_rate_keeps_sound_and_picture_in_sync).
    import io
    from fractions import Fraction

    from rich.console import Console

    from cli.progress import RichDisplay
    from pipeline.events import FrameDone, FrameStarted, VideoPlan

    with RichDisplay(Console(file=io.StringIO())) as display:
        display(VideoPlan(Path("in.mp4"), Path("out.mp4"), 3, (64, 48), (64, 48), Fraction(25), (), "cpu", 0, 1.0))
        for index, (kind, seconds) in enumerate((("first", 20.0), ("warm", 2.0), ("warm", 4.0))):
            display(FrameStarted(index, 3, kind))
            display(FrameDone(index, 3, 1.0, seconds))
            if index == 0:
                (task,) = display.progress.tasks
                assert task.description == "frames (first 20.0 s)"
        assert task.description == "frames (3.0 s a frame)" and task.fields["count"] == "3/3"
        display(FrameStarted(3, 4, "repeat"))
        display(FrameDone(3, 4, 1.0, 0.0))
        assert task.description == "frames (2.0 s a frame)" and task.fields["count"] == "4/4"
        for index in range(4, 40):
            display(FrameStarted(index, 40, "warm"))
            display(FrameDone(index, 40, 1.0, 0.01))
        assert task.description == "frames (6.13 fps)"  # 6.36 s over the 39 frames after the first


def test_the_eta_is_the_pace_times_the_frames_left_from_the_first_warm_frame_on():
    # rich's own ETA said -:--:-- for the first ten frames (over 6 minutes) of a CPU run, then 8:38 beside "38.6 s a
    # frame" with 34 frames left.
    from cli.progress import FramePace

    pace = FramePace(planned=100.0, total=36, done=0, now=0.0)
    assert pace.remaining(0.0) == 100.0 and pace.remaining(30.0) == 70.0  # the plan's, counting down
    pace.started(0, "first")
    pace.finished(0, 36, 90.0, now=90.0)
    assert pace.remaining(90.0) == 10.0 and pace.remaining(101.0) is None  # used up: unknown, not "0:00:00"
    pace.started(1, "warm")
    pace.finished(1, 36, 38.6, now=128.6)
    assert pace.label() == "frames (38.6 s a frame)"
    assert pace.remaining(128.6) == pytest.approx(34 * 38.6)  # 21:52, as the label says
    assert pace.remaining(140.0) == pytest.approx(34 * 38.6 - 11.4)  # counting down through frame 2
    assert pace.remaining(500.0) == pytest.approx(33 * 38.6)  # a slow frame: never below the frames after it
    pace.started(2, "cut")  # a cut costs what a first frame does: it counts, as a share of what comes
    pace.finished(2, 36, 80.0, now=600.0)
    assert pace.per_frame() == pytest.approx((38.6 + 80.0) / 2)
    assert FramePace(planned=None, total=None, done=0, now=0.0).remaining(0.0) is None


def test_a_still_says_why_it_stopped_before_its_last_iteration(tmp_path, capsys):
    import io

    from rich.console import Console

    from cli.progress import RichDisplay
    from pipeline.events import IterationEvent, ScaleDone, ScalePlan

    out = io.StringIO()
    with RichDisplay(Console(file=out, width=200)) as display:
        display(ScalePlan(((96, 128), (192, 256)), (60, 200)))
        display(IterationEvent(0, 2, (96, 128), 45, 60, 1.0))
        display(ScaleDone(0, 2, 45, 60, 1.0, settled=True))
        display(IterationEvent(1, 2, (192, 256), 140, 200, 1.0))
        display(ScaleDone(1, 2, 140, 200, 1.0))
    lines = [line for line in out.getvalue().splitlines() if "settled" in line]
    assert lines == ["scale 1/2 settled at 45 of 60 iterations: the picture had stopped changing",
                     "scale 2/2 settled at 140 of 200 iterations: the loss had stopped improving"]
