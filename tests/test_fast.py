"""pipeline.fast: the fast painter. Its training lowers its loss; its keyframes are the shots' first frames and the
frames where much is new; a --fast video keeps the input's frames, duration and sound; its model file round-trips
and anything else is refused with one line; flags it cannot honour are refused before any work."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cli.main import main
from pipeline.checkpoints import work_folder
from pipeline.config import FastSettings, OptimSettings, StyleSettings, VideoSettings
from pipeline.core.stylizer import Stylizer
from pipeline.errors import Interrupted, ModelError, UsageError
from pipeline.events import FastPlan, FrameDone, KeyframeDone, TrainingDone, TrainingProgress
from pipeline.fast.keyframes import KeyframeChooser
from pipeline.fast.model_file import FORMAT, Model, load_model, save_model
from pipeline.fast.network import Painter, Shape
from pipeline.fast.training import Example, Trainer, planned_steps
from pipeline.media.frames import bgr_to_tensor, tensor_to_bgr
from pipeline.sequence import analyse_frame
from pipeline.video import stylize_video

from fakes import MixingStylizer, of
from media import cut_clip, decoded_count, decoded_seconds, ffmpeg_packets, make_clip, texture

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

SETTINGS = StyleSettings(size=48, optim=OptimSettings(iterations=4, max_scales=1))
VIDEO = VideoSettings(frame_iterations=2, preset="ultrafast")
# A few cheap steps: these tests check the plumbing; test_training_lowers_its_loss checks the learning.
TINY = FastSettings(min_steps=4, max_steps=4, batch=2, crop=32, pool_frames=4)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ---- training ----


def test_training_lowers_its_loss(photo, starry):
    """The real objective (VGG19, Gram targets) and a real painting: the loss of the last steps is well below the
    first's."""
    content = photo[..., :32, :48]
    settings = StyleSettings(size=48, optim=OptimSettings(iterations=15, max_scales=1, amp=False))
    stylizer = Stylizer([(starry, 1.0)], settings, torch.device("cpu"))
    painting = stylizer.stylize(content).detach()
    torch.manual_seed(0)
    network = Painter(Shape((8, 16, 16), 1))
    fast = FastSettings(batch=2, crop=32, learning_rate=3e-3)
    reports = Trainer(network, stylizer, [Example(content, painting)], [Example(photo[..., 16:48, :48])], fast,
                      grey=False).train(60)
    assert [r.step for r in reports] == list(range(10, 61, 10))
    assert reports[-1].loss < 0.7 * reports[0].loss, [r.loss for r in reports]


def test_planned_steps_follow_the_clip_within_bounds():
    fast = FastSettings(steps_per_frame=2.0, min_steps=50, max_steps=300)
    assert [planned_steps(n, fast) for n in (1, 25, 100, 1000)] == [50, 50, 200, 300]


# ---- keyframes ----


def choose(frames: list[np.ndarray], gap: int = 1) -> KeyframeChooser:
    chooser = KeyframeChooser(new_content=0.5, gap=gap, pool_frames=4)
    previous = None
    for index, pixels in enumerate(frames):
        chooser.add(analyse_frame(index, pixels, previous, VIDEO))
        previous = pixels
    return chooser


def test_keyframes_are_the_shots_first_frames(tmp_path):
    from pipeline.media.reader import VideoReader

    with VideoReader(cut_clip(tmp_path / "cut.mp4")) as reader:  # a cut at frame 4, 1 px of motion a frame
        frames = [frame.pixels for frame in reader]
    chooser = choose(frames)
    assert [(k.index, k.kind) for k in chooser.keyframes] == [(0, "first"), (4, "cut")]
    assert chooser.shots == 2 and chooser.frames == 8
    assert 2 <= len(chooser.pool) <= 8


def test_a_keyframe_where_half_the_frame_is_new():
    # A pan of 4 px a frame over a 64 px wide view: frame t shows 4t px that frame 0 did not, more than half from
    # frame 9 on (36 of 64). The flow at the edge decides within a frame or so.
    scene = texture(48, 64 + 4 * 16, seed=3, blur=4)
    frames = [np.ascontiguousarray(scene[:, 4 * t:4 * t + 64]) for t in range(16)]
    chooser = choose(frames)
    keys = [k for k in chooser.keyframes if k.kind == "key"]
    assert keys, [(k.index, k.why) for k in chooser.keyframes]
    assert 8 <= keys[0].index <= 10 and keys[0].motion is not None
    assert int(keys[0].why.split("%")[0]) >= 50  # more than half, rounded
    # With a gap longer than the clip, only the shot's first frame remains.
    assert [k.kind for k in choose(frames, gap=20).keyframes] == ["first"]


# ---- the painter ----


def test_the_blend_with_the_previous_frame_steadies_a_flickering_input():
    """An untrained network on a panning clip with brightness flicker and noise: blending 0.8 of the previous painted
    frame, moved along the flow, lowers the warping error (pipeline.flicker) against the clean frames' motion."""
    from pipeline.fast.painter import NetworkSequence
    from pipeline.flicker import warping_error

    from media import flickered, panning_clip

    clean = panning_clip(count=8, size=64)
    noisy = flickered(clean, 0.08)
    torch.manual_seed(0)
    network = Painter(Shape((8, 16, 16), 1))
    errors = {}
    for blend in (0.0, 0.8):
        sequence, previous, out = NetworkSequence(network, torch.device("cpu"), preserve_colors=False,
                                                  blend=blend), None, []
        for index, pixels in enumerate(noisy):
            out.append(sequence.stylize(analyse_frame(index, pixels, previous, VIDEO)).pixels)
            previous = pixels
        errors[blend] = warping_error(out, clean)
    assert errors[0.8] < 0.6 * errors[0.0], errors


def test_with_preserve_colors_the_frames_keep_their_colours():
    """--preserve-colors: the painter's frames have the input's chroma (BT.601 U and V), only the luminance is the
    network's; without it the network's colours stand."""
    from pipeline.core.color import rgb_to_yuv
    from pipeline.fast.painter import NetworkSequence

    torch.manual_seed(0)
    network = Painter(Shape((8, 16, 16), 1))
    frame = (texture(36, 48, seed=5) // 2 + 64).astype(np.uint8)  # mid-tones at half the saturation: little is clipped
    chroma = rgb_to_yuv(bgr_to_tensor(frame))[:, 1:]
    for keep, close in ((True, True), (False, False)):
        sequence = NetworkSequence(network, torch.device("cpu"), preserve_colors=keep, blend=0.8)
        painted = bgr_to_tensor(sequence.stylize(analyse_frame(0, frame, None, VIDEO)).pixels)
        difference = (rgb_to_yuv(painted)[:, 1:] - chroma).abs().mean().item()
        assert (difference < 0.01) == close, difference


# ---- a whole --fast run ----


def test_fast_run_keeps_frames_duration_and_sound(tmp_path, style):
    source = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=10, fps="25", audio=("aac",))
    out, events = tmp_path / "out.mp4", []
    result = stylize_video(source, [(style, 1.0)], out, SETTINGS, VIDEO, device="cpu", on_event=events.append,
                           stylizer=MixingStylizer, fast=TINY)
    assert decoded_count(out) == result.frames == 10
    assert decoded_seconds(out, "v:0") == pytest.approx(decoded_seconds(source, "v:0"), abs=1e-3)
    assert ffmpeg_packets(out, "a:0") == ffmpeg_packets(source, "a:0")
    plan = of(events, FastPlan)[0]
    assert plan.frames == 10 and plan.keyframes[0] == (0, "first") and plan.steps == 4
    assert len(of(events, KeyframeDone)) == len(plan.keyframes)
    assert [e.step for e in of(events, TrainingProgress)] == [4] and len(of(events, TrainingDone)) == 1
    assert [e.index for e in of(events, FrameDone)] == list(range(10))  # the frames bar counts frames, not keys
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no work folder left


def test_fast_run_on_the_command_line_saves_and_reuses_its_network(tmp_path, style, capsys):
    source = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=6, fps="25", audio=())
    other = make_clip(tmp_path / "other.mp4", width=64, height=48, frames=4, fps="25", audio=("aac",))
    model, common = tmp_path / "painter.pt", ["--size", "48", "--frame-iterations", "2", "--device", "cpu", "--quiet"]
    code = main([str(source), str(style), str(tmp_path / "a.mp4"), "--fast", "--fast-steps", "3", "--save-model",
                 str(model), *common], stylizer=MixingStylizer)
    assert code == 0 and capsys.readouterr().err == ""  # --quiet
    assert load_model(model).size == (48, 36) and load_model(model).steps == 3  # not the clip's planned 200
    code = main([str(other), str(style), str(tmp_path / "b.mp4"), "--model", str(model), *common])
    assert code == 0 and decoded_count(tmp_path / "b.mp4") == 4
    assert ffmpeg_packets(tmp_path / "b.mp4", "a:0") == ffmpeg_packets(other, "a:0")


def kept_frames(out: Path) -> list[np.ndarray]:
    """The frames a run kept in its work folder (keep_frames), in order."""
    return [cv2.imread(str(p)) for p in sorted(work_folder(out).glob("[0-9]*.png"))]


def stopping_at(kind: type, events: list, stop: threading.Event, after: int = 1):
    """An on_event that records `events` and sets `stop` once `after` events of `kind` have come."""
    def on_event(event: object) -> None:
        events.append(event)
        if len(of(events, kind)) >= after:
            stop.set()
    return on_event


def test_a_fast_run_stopped_while_painting_frames_resumes_without_keyframes_or_training(tmp_path, style):
    source = cut_clip(tmp_path / "in.mp4")  # 8 frames, a cut at 4: two keyframes
    kept = replace(VIDEO, keep_frames=True)
    whole = tmp_path / "whole.mp4"
    stylize_video(source, [(style, 1.0)], whole, SETTINGS, kept, device="cpu", stylizer=MixingStylizer, fast=TINY)

    out, model, events, stop = tmp_path / "out.mp4", tmp_path / "painter.pt", [], threading.Event()
    fast = replace(TINY, save_model=str(model))
    with pytest.raises(Interrupted) as stopped:
        stylize_video(source, [(style, 1.0)], out, SETTINGS, kept, device="cpu", stylizer=MixingStylizer, fast=fast,
                      on_event=stopping_at(FrameDone, events, stop, after=3), stop=stop)
    assert not out.exists() and model.is_file()
    folder = work_folder(out)
    assert sorted(p.name for p in folder.glob("key-*")) == ["key-000000.png", "key-000004.png"]
    assert (folder / "network.pt").is_file() and "2 painted keyframes and the trained network are kept" in \
        stopped.value.kept
    saved = model.read_bytes()

    events = []
    result = stylize_video(source, [(style, 1.0)], out, SETTINGS, replace(kept, resume=True), device="cpu",
                           stylizer=MixingStylizer, fast=fast, on_event=events.append)
    assert result.frames == decoded_count(out) == 8
    assert of(events, FastPlan)[0].trained_before and not of(events, KeyframeDone) + of(events, TrainingProgress)
    assert model.read_bytes() == saved  # the interrupted run's, left as it was
    resumed, uninterrupted = kept_frames(out), kept_frames(whole)
    assert len(resumed) == 8 and all(np.array_equal(a, b) for a, b in zip(resumed, uninterrupted))


def test_a_fast_run_stopped_after_its_first_keyframe_paints_only_the_rest(tmp_path, style):
    source = cut_clip(tmp_path / "in.mp4")
    kept = replace(VIDEO, keep_frames=True)
    whole = tmp_path / "whole.mp4"
    stylize_video(source, [(style, 1.0)], whole, SETTINGS, kept, device="cpu", stylizer=MixingStylizer, fast=TINY)

    out, events, stop = tmp_path / "out.mp4", [], threading.Event()
    with pytest.raises(Interrupted) as stopped:
        stylize_video(source, [(style, 1.0)], out, SETTINGS, kept, device="cpu", stylizer=MixingStylizer, fast=TINY,
                      on_event=stopping_at(KeyframeDone, events, stop), stop=stop)
    painted = sorted(p.name for p in work_folder(out).glob("key-*"))
    assert painted and not (work_folder(out) / "network.pt").exists()
    assert f"{len(painted)} painted keyframe" in stopped.value.kept

    events = []
    stylize_video(source, [(style, 1.0)], out, SETTINGS, replace(kept, resume=True), device="cpu",
                  stylizer=MixingStylizer, fast=TINY, on_event=events.append)
    plan = of(events, FastPlan)[0]
    assert plan.kept == len(painted) and len(of(events, KeyframeDone)) == len(plan.keyframes) - len(painted)
    assert len(of(events, TrainingDone)) == 1
    resumed, uninterrupted = kept_frames(out), kept_frames(whole)
    assert len(resumed) == 8 and all(np.array_equal(a, b) for a, b in zip(resumed, uninterrupted))


def test_a_fast_work_folder_resumes_only_with_the_same_painter_and_settings(tmp_path, style, capsys):
    source = cut_clip(tmp_path / "in.mp4")
    out, stop = tmp_path / "out.mp4", threading.Event()
    with pytest.raises(Interrupted):
        stylize_video(source, [(style, 1.0)], out, SETTINGS, VIDEO, device="cpu", stylizer=MixingStylizer,
                      fast=TINY, on_event=stopping_at(KeyframeDone, [], stop), stop=stop)
    before = sorted(p.name for p in work_folder(out).iterdir())
    resume = replace(VIDEO, resume=True)
    with pytest.raises(UsageError, match="other fast-painter settings .fast setting blend differs"):
        stylize_video(source, [(style, 1.0)], out, SETTINGS, resume, device="cpu", stylizer=MixingStylizer,
                      fast=replace(TINY, blend=0.5))
    with pytest.raises(UsageError, match=r"another painter \(--fast, or not\)"):
        stylize_video(source, [(style, 1.0)], out, SETTINGS, resume, device="cpu", stylizer=MixingStylizer)
    assert sorted(p.name for p in work_folder(out).iterdir()) == before and not out.exists()


def test_the_command_line_keeps_an_interrupted_fast_run_and_resumes_it(tmp_path, style, capsys, monkeypatch):
    from pipeline.fast.painter import NetworkSequence

    source = cut_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    args = [str(source), str(style), str(out), "--fast", "--size", "64", "--iterations", "4", "--scales", "1",
            "--frame-iterations", "2", "--device", "cpu"]
    paint = NetworkSequence.stylize

    def interrupted_at_frame_3(self, item, total=None):
        if item.index == 3:
            raise KeyboardInterrupt  # as Ctrl+C would
        return paint(self, item, total)

    monkeypatch.setattr(NetworkSequence, "stylize", interrupted_at_frame_3)
    code = main(args, stylizer=MixingStylizer)
    err = capsys.readouterr().err
    assert code != 0 and not out.exists()
    assert "2 painted keyframes and the trained network are kept in" in err and "--resume continues" in err
    monkeypatch.setattr(NetworkSequence, "stylize", paint)
    code = main([*args, "--resume"], stylizer=MixingStylizer)
    err = capsys.readouterr().err
    assert code == 0 and decoded_count(out) == 8, err
    assert "every frame through the network the interrupted run trained (200 steps)" in err
    assert not work_folder(out).exists()


# ---- the model file ----


def small_model() -> Model:
    torch.manual_seed(1)
    return Model(Painter(Shape((4, 8, 8), 1)), False, (48, 36), ("style.png",), 7)


def test_a_model_file_round_trips(tmp_path):
    saved = save_model(small_model(), tmp_path / "m.pt", overwrite=False)
    back = load_model(saved)
    assert (back.size, back.styles, back.steps, back.preserve_colors) == ((48, 36), ("style.png",), 7, False)
    frame = bgr_to_tensor(texture(36, 48))
    with torch.no_grad():
        assert torch.equal(back.network(frame), small_model().network.eval()(frame))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


class Payload:
    """Stands for code a hostile file would run when unpickled."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def tampered(path: Path, how: str) -> Path:
    model = small_model()
    save_model(model, path, overwrite=True)
    data = torch.load(path, weights_only=True)
    if how == "code":
        data["meta"]["styles"] = Payload()
    elif how == "shape":
        data["state"]["enter.0.weight"] = torch.zeros(5, 3, 7, 7)
    elif how == "other network":
        data = {"format": FORMAT, "version": 1, "shape": {"channels": [4, 8, 8], "res_blocks": 1},
                "state": {"features.0.weight": torch.zeros(64, 3, 3, 3)}, "meta": {}}
    elif how == "not ours":
        data = {"conv1_1.weight": torch.zeros(64, 3, 3, 3)}
    torch.save(data, path)
    return path


@pytest.mark.parametrize("how, message", [
    ("code", "is not weights-only: it holds code or objects, which are never loaded"),
    ("shape", "enter.0.weight has shape (5, 3, 7, 7), expected (4, 3, 7, 7)"),
    ("other network", "holds another network's weights"),
    ("not ours", "is not a fast painter's model"),
])
def test_a_tampered_or_foreign_model_file_is_refused_with_one_line(tmp_path, style, capsys, how, message):
    path = tampered(tmp_path / "m.pt", how)
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_model(path)
    source = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=3, audio=())
    code = main([str(source), str(style), str(tmp_path / "out.mp4"), "--model", str(path), "--size", "48",
                 "--device", "cpu", "--quiet"])
    err = one_line(capsys.readouterr().err)
    assert code == 1 and message in err and "unpickled!" not in err
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".out.mp4*"))


def test_loading_a_hostile_file_runs_no_code(tmp_path):
    # In a fresh process, so that nothing of this one hides what the unpickler would do.
    path = tampered(tmp_path / "m.pt", "code")
    code = ("import sys; from pipeline.fast.model_file import load_model\n"
            "try:\n    load_model(sys.argv[1])\nexcept Exception as e:\n    print(type(e).__name__)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, check=True)
    assert done.stdout.strip() == "ModelError"


# ---- refusals ----


@pytest.mark.parametrize("extra, message", [
    (["--save-model", "m.pt"], "--save-model keeps the network --fast trains: add --fast"),
    (["--model", "a.pt", "--save-model", "m.pt"], "--model reuses a trained network and --save-model keeps"),
    (["--fast", "--save-model", "OUT"], "is OUTPUT too"),
    (["--model", "missing.pt"], "model file 'missing.pt' does not exist"),
    (["--fast-steps", "5"], "--fast-steps sets the network --fast trains: add --fast"),
    (["--model", "a.pt", "--fast-steps", "5"], "--model paints with a trained network and --fast-steps sets"),
    (["--fast", "--fast-steps", "0"], "--fast-steps: expected at least 1 step, got 0"),
])
def test_requests_the_fast_painter_cannot_honour_are_refused_before_any_work(tmp_path, style, capsys, monkeypatch,
                                                                           extra, message):
    monkeypatch.chdir(tmp_path)
    source = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=3, audio=())
    (tmp_path / "a.pt").write_bytes(b"x")
    extra = [str(tmp_path / "out.mp4") if a == "OUT" else a for a in extra]
    code = main([str(source), str(style), str(tmp_path / "out.mp4"), *extra, "--size", "48", "--device", "cpu"])
    assert code in (1, 2) and message in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "in.mp4"]


def test_the_library_refuses_what_the_command_line_refuses(tmp_path, style):
    source = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=3, audio=())
    with pytest.raises(UsageError, match="blend"):
        stylize_video(source, [(style, 1.0)], tmp_path / "o.mp4", SETTINGS, VIDEO, device="cpu",
                      fast=replace(TINY, blend=1.0))


# ---- live ----


def test_live_fast_trains_in_the_background_then_paints_and_keeps_the_network(tmp_path, style):
    from pipeline.config import LiveSettings
    from pipeline.events import LiveNotice
    from pipeline.live import live

    # 30 s of a 64x48 clip played at its pace; the session quits 10 frames after the network is saved (the keyframe,
    # 4 iterations, and 20 steps take 2-3 s on an idle machine, longer on a busy one).
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=750, fps="25", audio=())
    seen, events = [], []

    class Recording:
        def show(self, view):
            seen.append((view.camera.copy(), view.stylized.copy()))
            saved = [e for e in events if isinstance(e, LiveNotice) and "network saved" in e.message]
            self.after = getattr(self, "after", 0) + bool(saved)
            return "q" if self.after > 10 else None

    fast = replace(TINY, min_steps=20, max_steps=20, save_model=str(tmp_path / "net.pt"))
    result = live(str(clip), [str(style)], SETTINGS, LiveSettings(size=48, max_seconds=60), device="cpu",
                  display=Recording(), on_event=events.append, fast=fast)
    notices = [e.message for e in events if isinstance(e, LiveNotice)]
    assert notices[0] == "fast painter: painting keyframe 1" and "training 20 steps" in notices[1]
    assert any(n.startswith("fast painter: trained, loss") for n in notices), notices
    assert any(n.startswith("fast painter: network saved to") for n in notices), notices
    assert result.shown > 20 and result.mean_iterations == 0  # (the display is also served between frames)
    # The camera as it is until the first network is published, the network's paintings after: far from the frame.
    differences = [float(np.abs(cam.astype(np.float32) - out).mean()) for cam, out in seen]
    assert differences[0] == 0 and differences[-1] > 10, differences
    model = load_model(tmp_path / "net.pt")
    assert model.size == (48, 36) and model.styles == (style.name,) and model.steps == 20

    # --model: no keyframe, no training, painted from the first frame on, as the saved network paints it.
    seen.clear()
    events.clear()
    live(str(clip), [str(style)], SETTINGS, LiveSettings(size=48, max_seconds=1.0), device="cpu",
         display=Recording(), on_event=events.append, fast=replace(TINY, model=str(tmp_path / "net.pt")))
    assert not [e for e in events if isinstance(e, LiveNotice) and "fast painter" in e.message]
    camera, painted = seen[0]
    with torch.no_grad():
        expected = model.network(bgr_to_tensor(camera))
    assert np.abs(painted.astype(np.float32) - tensor_to_bgr(expected)).max() <= 1


def test_a_live_model_learnt_on_other_frames_and_style_is_used_with_a_warning(tmp_path, style):
    from pipeline.config import LiveSettings
    from pipeline.events import StylizeWarning
    from pipeline.live import live

    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=5, fps="25", audio=())
    save_model(small_model(), tmp_path / "m.pt", overwrite=False)  # learnt on 48x36 frames of style.png
    other = tmp_path / "other.png"
    shutil.copy(style, other)
    events: list[object] = []
    result = live(str(clip), [str(other)], SETTINGS, LiveSettings(size=64), device="cpu", on_event=events.append,
                  fast=replace(TINY, model=str(tmp_path / "m.pt")))
    warnings = [e.message for e in events if isinstance(e, StylizeWarning)]
    assert any("trained on 48x36 frames and these are 64x48" in w for w in warnings), warnings
    assert any("paints the style it learnt (style.png); STYLE (other.png) is not used" in w for w in warnings)
    assert result.shown >= 1


def test_a_live_session_that_ends_during_training_says_no_network_was_saved(tmp_path, style):
    from pipeline.config import LiveSettings
    from pipeline.events import LiveNotice
    from pipeline.live import live

    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=25, fps="25", audio=())
    events: list[object] = []
    fast = replace(TINY, min_steps=100000, max_steps=100000, save_model=str(tmp_path / "net.pt"))
    live(str(clip), [str(style)], SETTINGS, LiveSettings(size=48), device="cpu", on_event=events.append, fast=fast)
    notices = [e.message for e in events if isinstance(e, LiveNotice)]
    assert notices[-1] == ("fast painter: the session ended before the training did: no network was saved to "
                           f"{tmp_path / 'net.pt'}"), notices
    assert not (tmp_path / "net.pt").exists()


def test_a_live_model_trained_on_luminance_keeps_the_frames_colours():
    from pipeline.core.color import keep_colors
    from pipeline.fast.live import FastLiveStylizer

    torch.manual_seed(0)
    network = Painter(Shape(channels=(4, 4, 4), res_blocks=0)).eval()
    model = Model(network, preserve_colors=True, size=(48, 36), styles=("s.png",), steps=1)
    frame = (np.random.default_rng(0).random((36, 48, 3)) * 255).astype(np.uint8)
    painter = FastLiveStylizer(None, TINY, torch.device("cpu"), steps=1, model=model)  # no --preserve-colors
    painted, iterations = painter.stylize(frame, None, 0.1, None)
    with torch.no_grad():
        content = bgr_to_tensor(frame)
        expected = tensor_to_bgr(keep_colors(network(content), content))
    assert iterations == 0 and np.abs(painted.astype(np.int16) - expected).max() <= 1


def test_the_k_key_paints_a_new_keyframe_and_trains_again(tmp_path, style):
    from pipeline.config import LiveSettings
    from pipeline.events import LiveNotice
    from pipeline.live import live

    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=750, fps="25", audio=())
    notices: list[str] = []

    class PressK:  # k once the first training has ended, q once the second has
        pressed = False

        def show(self, view):
            trainings = sum(n.startswith("fast painter: trained") for n in notices)
            if not self.pressed and trainings:
                self.pressed = True
                return "k"
            return "q" if trainings == 2 else None

    def on_event(event):
        if isinstance(event, LiveNotice):
            notices.append(event.message)

    live(str(clip), [str(style)], SETTINGS, LiveSettings(size=48, max_seconds=60), device="cpu", display=PressK(),
         on_event=on_event, fast=replace(TINY, min_steps=10, max_steps=10))
    assert "a new keyframe from the next frame" in notices
    assert "fast painter: painting keyframe 2" in notices
    assert sum(n.startswith("fast painter: trained") for n in notices) == 2, notices


@pytest.mark.parametrize("args, message", [
    (["--save-model", "m.pt"], "--save-model keeps the network --fast trains: add --fast"),
    (["--fast", "--model", "m.pt", "--save-model", "n.pt"], "give one of them"),
    (["--fast-steps", "5"], "--fast-steps sets the network --fast trains: add --fast"),
])
def test_live_fast_options_that_cannot_work_are_usage_errors(tmp_path, style, capsys, args, message):
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=3, audio=())
    code = main(["--live", str(clip), str(style), *args])
    assert code == 2 and message in one_line(capsys.readouterr().err)


def test_live_fast_learns_one_style(tmp_path, style, capsys):
    clip = make_clip(tmp_path / "clip.mp4", width=64, height=48, frames=3, audio=())
    code = main(["--live", str(clip), f"{style},{style}", "--fast"])
    assert code == 2 and "--fast learns one style: give one STYLE image" in one_line(capsys.readouterr().err)
