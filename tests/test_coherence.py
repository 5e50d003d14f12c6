"""Temporal coherence of whole video runs: the temporal loss lowers flicker, its target and mask follow the motion,
scene cuts restart cleanly, adaptive effort follows the motion, and colours stay one transform per scene."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import pipeline.core.stylizer as stylize_module
import pipeline.core.temporal as temporal_module
from pipeline.config import LiveSettings, OptimSettings, StyleSettings, VideoSettings
from pipeline.core.coherence import Motion, frame_budget
from pipeline.core.color import luminance, rgb_to_yuv
from pipeline.core.temporal import consistency_mask, estimate_flow, motion_stats
from pipeline.events import FrameStarted
from pipeline.flicker import warping_error
from pipeline.live_stylizer import BudgetStylizer
from pipeline.media.frames import bgr_to_tensor, tensor_to_bgr
from pipeline.video import stylize_video

from fakes import IdentityStylizer
from media import cut_clip, decode_bgr, raw_clip, texture

SETTINGS = StyleSettings(size=48, optim=OptimSettings(iterations=8, max_scales=1))
VIDEO = VideoSettings(frame_iterations=8, min_frame_iterations=8, detect_cuts=False, preset="ultrafast")


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def moving_square(count: int = 7, step: int = 4) -> list[np.ndarray]:
    """64x48 BGR frames: a textured square crossing a still textured background, `step` px per frame."""
    background, square = texture(48, 64, seed=3, blur=2.5), texture(20, 20, seed=4, blur=1.0)
    frames = []
    for i in range(count):
        frame = background.copy()
        frame[14:34, 4 + step * i : 24 + step * i] = square
        frames.append(frame)
    return frames


def run(source: Path, style: Path, out: Path, settings: StyleSettings = SETTINGS, video: VideoSettings = VIDEO,
        stylizer=None):
    events: list[object] = []
    stylize_video(source, [(style, 1.0)], out, settings, video, device="cpu", on_event=events.append,
                  stylizer=stylizer)
    return events


def started(events: list[object]) -> list[FrameStarted]:
    return [e for e in events if isinstance(e, FrameStarted)]


# ---- the temporal loss ----


def test_temporal_loss_lowers_the_warping_error(tmp_path: Path, style: Path) -> None:
    # Warm-started from the warped previous frame both ways, with 20 iterations each: without the temporal loss the
    # optimizer repaints what the warp carried over; with it, reliable pixels stay. Same first frame both ways.
    # Measured on the lossless frames of the work folder, so H.264's own noise does not blur the difference.
    source = raw_clip(tmp_path / "moving.mp4", moving_square())
    reference = [cv2.resize(f, (48, 36), interpolation=cv2.INTER_AREA) for f in decode_bgr(source, 64, 48)]
    weight = VideoSettings().temporal_weight
    errors = {}
    for w in (0.0, weight):
        out = tmp_path / f"out-{w}.mp4"
        run(source, style, out, video=replace(VIDEO, temporal_weight=w, frame_iterations=20, min_frame_iterations=20,
                                              keep_frames=True))
        frames = [cv2.imread(str(p)) for p in sorted((tmp_path / f".{out.name}.frames").glob("*.png"))]
        assert len(frames) == len(reference)
        errors[w] = warping_error(frames, reference)
    assert errors[weight] < 0.5 * errors[0.0], errors


def test_content_that_comes_in_at_an_edge_is_painted_not_smeared(tmp_path: Path, style: Path) -> None:
    # A bright square slides in from the left edge over a dark background. Warped from the previous painting, the
    # pixels that come in repeat the edge: horizontal streaks, which the next frames then carry as reliable (the
    # TAXI sign of bikes.mp4). Started from the frame itself where the warp has nothing, the square's own pattern
    # is painted: its correlation with the input was 0.04 before.
    background = (texture(48, 64, seed=3, blur=2.5) * 0.35).astype(np.uint8)
    square = (texture(24, 24, seed=4, blur=1.0) // 2 + 128).astype(np.uint8)
    frames = []
    for i in range(8):
        frame, right = background.copy(), 4 + 4 * i  # the square's right edge, 4 px further each frame
        frame[12:36, max(right - 24, 0):right] = square[:, max(24 - right, 0):]
        frames.append(frame)
    source = raw_clip(tmp_path / "in.mp4", frames)
    out = tmp_path / "out.mp4"
    run(source, style, out, video=replace(VIDEO, keep_frames=True))
    last = cv2.imread(str(sorted((tmp_path / f".{out.name}.frames").glob("*.png"))[-1])).astype(float).mean(axis=2)
    given = cv2.resize(decode_bgr(source, 64, 48)[-1], (48, 36), interpolation=cv2.INTER_AREA).astype(float).mean(axis=2)
    inside = (slice(10, 26), slice(1, 23))  # the square in the last 48x36 frame, a pixel in from its edges
    assert np.corrcoef(last[inside].ravel(), given[inside].ravel())[0, 1] > 0.5


class SpyStylizer(IdentityStylizer):
    """Identity stylizer that records each call's keyword arguments (in its class's `calls`) and evaluates the extra
    (temporal) loss once."""

    calls: list[dict] = []

    def stylize(self, content, **kwargs):
        if kwargs.get("extra_loss") is not None:
            kwargs["extra_value"] = float(kwargs["extra_loss"](content))
        self.calls.append({"content": content, **kwargs})
        return content


@pytest.fixture
def spy() -> type[SpyStylizer]:
    """A SpyStylizer class with a list of calls of its own, to pass as a run's stylizer."""
    return type("Spy", (SpyStylizer,), {"calls": []})


def test_temporal_target_is_grey_when_colours_are_preserved(tmp_path: Path, style: Path, spy, monkeypatch):
    # With preserve_colors the stylizer optimizes a grey (luminance) image; a colour target would pull colour in.
    targets = []

    def recording_loss(image, target, mask):
        targets.append(target)
        return torch.zeros(())

    monkeypatch.setattr(temporal_module, "temporal_loss", recording_loss)
    source = raw_clip(tmp_path / "moving.mp4", moving_square(4))
    run(source, style, tmp_path / "out.mp4", replace(SETTINGS, preserve_colors=True), stylizer=spy)
    assert len(targets) == 3
    for target in targets:
        assert torch.equal(target[:, 0], target[:, 1]) and torch.equal(target[:, 1], target[:, 2])


def test_live_temporal_target_is_grey_when_colours_are_preserved(starry) -> None:
    # The same rule in live mode: the previous painting has its colours back, but the image being optimized is grey,
    # so the temporal term must vanish at the grey version of the previous painting, not pull colour into it.
    settings = LiveSettings(temporal_weight=50.0)
    class Recording(stylize_module.Stylizer):
        calls: list[dict] | None = None  # from when it is a list on: record instead of stylizing

        def stylize(self, content, **kwargs):
            if self.calls is None:
                return super().stylize(content, **kwargs)
            self.calls.append(kwargs)
            return content

    live = BudgetStylizer([("starry", starry)], replace(SETTINGS, preserve_colors=True), settings,
                          torch.device("cpu"), stylizer=Recording)
    live.seconds_per_iteration = 1.0
    frame = moving_square(1)[0]
    live.stylize(frame, None, budget=2.0, stop=None)
    previous = live._previous  # 1x3xHxW, colours put back
    assert (previous.amax(dim=1) - previous.amin(dim=1)).max() > 0.05  # it has colour: the test can tell
    calls = live.stylizer.calls = []
    still = Motion(np.zeros((*frame.shape[:2], 2), np.float32), np.ones(frame.shape[:2], np.float32),
                   np.ones(frame.shape[:2], np.float32))
    live.stylize(frame, still, budget=2.0, stop=None)
    term = calls[0]["extra_loss"]
    assert float(term(luminance(previous))) == pytest.approx(0.0, abs=1e-9)
    assert float(term(previous)) > 0


# ---- scene cuts ----


def test_after_a_cut_a_frame_starts_from_its_content_with_full_effort(tmp_path: Path, style: Path, spy) -> None:
    source = cut_clip(tmp_path / "cut.mp4")
    events = run(source, style, tmp_path / "out.mp4", video=replace(VIDEO, detect_cuts=True), stylizer=spy)
    kinds = [e.kind for e in started(events)]
    assert kinds == ["first", "warm", "warm", "warm", "cut", "warm", "warm", "warm"]
    for kind, call, event in zip(kinds, spy.calls, started(events)):
        if kind == "warm":
            assert call["init"] is not None and call["extra_loss"] is not None and not call["coarse_to_fine"]
            assert call["iterations"] == event.iterations == VIDEO.frame_iterations
        else:  # as a first frame: the stylizer's own start, its full coarse-to-fine run and no temporal term
            assert set(call) == {"content", "iterations", "on_event", "stop"}
            assert call["iterations"] == event.iterations == 2 * SETTINGS.optim.iterations  # first_frame_factor


# ---- adaptive effort ----


def test_frame_budget_grows_from_floor_to_cap() -> None:
    video = VideoSettings(frame_iterations=40, min_frame_iterations=10, effort_unreliable=0.4, effort_motion=0.02)
    assert frame_budget(video, 0.0, 0.0) == 10
    assert frame_budget(video, 0.2, 0.0) == frame_budget(video, 0.0, 0.01) == 25
    assert frame_budget(video, 0.4, 0.0) == frame_budget(video, 0.0, 0.05) == frame_budget(video, 1.0, 1.0) == 40
    budgets = [frame_budget(video, u, 0.0) for u in np.linspace(0, 0.5, 11)]
    assert budgets == sorted(budgets)
    assert frame_budget(replace(video, min_frame_iterations=40), 0.0, 0.0) == 40  # floor = cap: fixed
    assert frame_budget(replace(video, min_frame_iterations=99), 0.0, 0.0) == 40  # the cap wins


def test_motion_stats_of_a_known_pan() -> None:
    scene = texture(60, 100, seed=5)
    still = motion_stats(np.zeros((40, 80, 2), np.float32), np.ones((40, 80), np.float32))
    assert still == (0.0, 0.0)
    # A pan of 4 px: what frame t shows at column x, frame t-1 showed at x - 4; t's first 4 columns are new.
    prev, current = scene[10:50, 10:90], scene[10:50, 6:86]
    flow_back = estimate_flow(current, prev)
    unreliable, motion = motion_stats(flow_back, consistency_mask(flow_back, estimate_flow(prev, current)))
    assert motion == pytest.approx(4 / 80, rel=0.1)
    assert unreliable == pytest.approx(4 / 80, abs=0.04)


def test_still_frames_get_less_effort_than_moving_ones(tmp_path: Path, style: Path, spy) -> None:
    frames = moving_square(4, step=0)[:3] + moving_square(6, step=4)[3:]
    source = raw_clip(tmp_path / "still-then-moving.mp4", frames)
    video = replace(VIDEO, frame_iterations=30, min_frame_iterations=6)
    budgets = [e.iterations for e in started(run(source, style, tmp_path / "out.mp4", video=video, stylizer=spy))]
    assert budgets[0] == 2 * SETTINGS.optim.iterations  # the first frame: first_frame_factor times the still's
    assert budgets[1] == budgets[2] == 6  # nothing moves: the floor
    assert all(6 < b <= 30 for b in budgets[3:]), budgets
    assert [c["iterations"] for c in spy.calls[1:]] == budgets[1:]


# ---- colours ----


def test_one_colour_transform_per_scene_with_the_real_stylizer(tmp_path: Path, style: Path, monkeypatch) -> None:
    # The style's luminance is matched to a colour reference; it must be the scene's first frame for every frame of
    # the scene (not each frame's own, which would make the strokes' brightness flicker), and each frame keeps its
    # own colours (chroma).
    references, contents = [], []
    match = stylize_module.color.match_luminance

    def recording_match(style_image, content):
        references.append(content.clone())
        return match(style_image, content)

    class Recording(stylize_module.Stylizer):
        def stylize(self, content, **kwargs):
            contents.append(content.clone())
            return super().stylize(content, **kwargs)

    monkeypatch.setattr(stylize_module.color, "match_luminance", recording_match)
    source = cut_clip(tmp_path / "cut.mp4")
    out = tmp_path / "out.mp4"
    video = replace(VIDEO, detect_cuts=True, frame_iterations=2, min_frame_iterations=2)
    settings = replace(SETTINGS, size=64, preserve_colors=True, optim=replace(SETTINGS.optim, iterations=2))
    run(source, style, out, settings, replace(video, keep_frames=True), stylizer=Recording)
    assert len(contents) == 8 and len(references) == 2  # one style target per scene (one scale, one style)
    assert torch.equal(references[0], contents[0]) and torch.equal(references[1], contents[4])
    frames = sorted((tmp_path / ".out.mp4.frames").glob("*.png"))
    for frame, content in zip(frames, contents):
        chroma = rgb_to_yuv(bgr_to_tensor(cv2.imread(str(frame))))[:, 1:]
        assert (chroma - rgb_to_yuv(content)[:, 1:]).abs().mean() < 0.01
    assert not np.array_equal(tensor_to_bgr(contents[0]), tensor_to_bgr(contents[1]))  # the frames do differ
