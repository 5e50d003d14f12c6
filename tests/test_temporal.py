"""Tests of pipeline.core.temporal: flow, warping, consistency masks, temporal loss and scene cuts."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.core.temporal import (
    consistency_mask,
    consistency_masks,
    cut_score,
    estimate_flow,
    fill_new_content,
    mask_to_tensor,
    scene_cut,
    temporal_loss,
    warp,
)
from pipeline.media.frames import bgr_to_tensor

from media import texture

DATA = Path("/work/shared/data")
BIKES = DATA / "video" / "bikes.mp4"
BIKES_CUTS = [30, 76]  # first frames of new shots in bikes.mp4's first 110 frames (checked by eye)


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The image's content moved by (dx, dy) pixels (wrapping around)."""
    return np.ascontiguousarray(np.roll(image, (dy, dx), axis=(0, 1)))


def constant_flow(height: int, width: int, dx: float, dy: float) -> np.ndarray:
    flow = np.empty((height, width, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def read_frames(path: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    capture.release()
    return frames


# --- warp -------------------------------------------------------------------------------------------------------


def test_warp_zero_flow_is_identity():
    image = torch.rand(1, 3, 24, 40)
    # Not exact: grid_sample's normalized float32 coordinates round off by ~1e-6 px.
    assert torch.allclose(warp(image, constant_flow(24, 40, 0, 0)), image, atol=1e-4)


@pytest.mark.parametrize("dx, dy", [(3, -2), (-5, 4), (1, 0)])
def test_warp_integer_translation_matches_roll(dx, dy):
    image = torch.rand(1, 3, 32, 48)
    out = warp(image, constant_flow(32, 48, dx, dy))
    # out(y, x) = image(y + dy, x + dx), which is np.roll by (-dy, -dx); compare away from the wrapped border.
    expected = np.roll(image.numpy(), (-dy, -dx), axis=(2, 3))
    m = 6
    np.testing.assert_allclose(out.numpy()[..., m:-m, m:-m], expected[..., m:-m, m:-m], atol=1e-5)


def test_warp_half_pixel_is_bilinear_and_clamps_at_border():
    image = torch.rand(1, 3, 16, 20)
    out = warp(image, constant_flow(16, 20, 0.5, 0))
    expected = (image[..., :-1] + image[..., 1:]) / 2
    assert torch.allclose(out[..., :-1], expected, atol=1e-5)
    # Border padding: sampling past the last column repeats it.
    assert torch.allclose(out[..., -1], image[..., -1], atol=1e-5)


def test_warp_keeps_device_dtype_and_accepts_tensor_flow():
    image = torch.rand(2, 3, 12, 14, dtype=torch.float64)
    flow = torch.from_numpy(constant_flow(12, 14, 1, 0))
    out = warp(image, flow)
    assert out.dtype == image.dtype and out.device == image.device and out.shape == image.shape
    assert torch.allclose(out[..., :-1], image[..., 1:])


def test_warp_rejects_flow_of_another_size():
    with pytest.raises(ValueError, match="does not match"):
        warp(torch.rand(1, 3, 8, 8), constant_flow(8, 9, 0, 0))


# --- estimate_flow ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dx, dy", [(3, -2), (1, 1), (-4, 0)])
def test_estimate_flow_recovers_translation(dx, dy):
    src = texture(64, 80)
    flow = estimate_flow(src, shifted(src, dx, dy))
    interior = flow[10:-10, 10:-10]
    assert flow.shape == (64, 80, 2) and flow.dtype == np.float32
    assert np.abs(interior[..., 0] - dx).max() < 0.5
    assert np.abs(interior[..., 1] - dy).max() < 0.5


def test_flow_and_scene_cuts_of_thin_frames_do_not_crash():
    # OpenCV's DIS killed the process (SIGSEGV) on 64x8, 100x12 or 9x7 images: a panorama's processing size, or the
    # 64-px-wide copy the scene-cut check makes of it. In a child process, so a crash fails this test only.
    code = ("import numpy as np\n"
            "from pipeline.core.temporal import estimate_flow, scene_cut\n"
            "rng = np.random.default_rng(0)\n"
            "for w, h in [(64, 8), (100, 12), (9, 7), (5000, 10), (8, 64)]:\n"
            "    a, b = (rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(2))\n"
            "    flow = estimate_flow(a, np.roll(a, 1, axis=1))\n"
            "    assert flow.shape == (h, w, 2) and flow.flags.c_contiguous, flow.shape\n"
            "pano = rng.integers(0, 255, (120, 1280, 3), dtype=np.uint8)\n"
            "print(scene_cut(pano, pano), scene_cut(pano, 255 - pano))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert done.stdout.split() == ["False", "True"]


def test_flow_and_warp_conventions_agree():
    # estimate_flow(a, b) then warp(b, flow) must bring b back onto a (the stylizer's use of the pair).
    src = texture(64, 64, seed=1)
    dst = shifted(src, 2, 3)
    aligned = warp(bgr_to_tensor(dst), estimate_flow(src, dst))
    error = (aligned - bgr_to_tensor(src)).abs()[..., 8:-8, 8:-8]
    assert error.mean() < 0.01


# --- consistency_mask -------------------------------------------------------------------------------------------


def moving_square(shift: int) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """Frames t-1 and t: a textured square moving right by `shift` over a static background; the square's rows."""
    background = texture(64, 96, seed=2, blur=1.0)
    square = texture(24, 24, seed=3, blur=1.0)
    prev, cur = background.copy(), background.copy()
    rows = slice(20, 44)
    prev[rows, 30:54] = square
    cur[rows, 30 + shift : 54 + shift] = square
    return prev, cur, (rows, slice(30, 30 + shift))


def test_consistency_mask_exact_flows_marks_trail_and_boundary():
    _, _, (rows, trail) = moving_square(6)
    back, fwd = np.zeros((64, 96, 2), np.float32), np.zeros((64, 96, 2), np.float32)
    back[rows, 36:60, 0] = -6  # frame t: the square is at columns 36..59 and came from 6 px to the left
    fwd[rows, 30:54, 0] = 6
    mask = consistency_mask(back, fwd)
    assert mask.dtype == np.float32 and mask.shape == (64, 96) and set(np.unique(mask)) <= {0.0, 1.0}
    assert (mask[rows, trail] == 0).all()  # disoccluded: background hidden by the square in t-1
    assert (mask[22:42, 38:58] == 1).all()  # the square's interior moved consistently
    assert (mask[rows, 35] == 0).all() and (mask[rows, 60] == 0).all()  # motion boundaries around the square
    assert (mask[19, 36:60] == 0).all() and (mask[44, 36:60] == 0).all()
    assert (mask[:15] == 1).all() and (mask[50:] == 1).all() and (mask[:, 65:] == 1).all()
    # What is new (the trail) is not carried; the boundaries are, the warp has their content.
    reliable, carried = consistency_masks(back, fwd)
    assert np.array_equal(reliable, mask) and carried.dtype == np.float32
    assert (carried[rows, trail] == 0).all() and (carried[rows, 60] == 1).all() and (carried[19, 36:60] == 1).all()
    assert (carried[mask == 1] == 1).all()


def test_consistency_mask_estimated_flows_on_moving_object():
    prev, cur, (rows, trail) = moving_square(6)
    mask = consistency_mask(estimate_flow(cur, prev), estimate_flow(prev, cur))
    assert mask[rows, trail].mean() < 0.3
    far = np.ones_like(mask, bool)
    far[8:56, 22:72] = False  # the square, its trail and a margin where the flow is smoothed across edges
    assert mask[far].mean() > 0.95


def test_consistency_mask_source_outside_image_is_unreliable():
    # Frame t is frame t-1 moved 3 px right: its first 3 columns came from outside frame t-1.
    mask = consistency_mask(constant_flow(20, 30, -3, 0), constant_flow(20, 30, 3, 0))
    assert (mask[:, :3] == 0).all() and (mask[:, 3:] == 1).all()
    carried = consistency_masks(constant_flow(20, 30, -3, 0), constant_flow(20, 30, 3, 0))[1]
    assert np.array_equal(carried, mask)  # come in from outside: new content
    # Less than half a pixel past the edge is still on the first pixel.
    assert (consistency_mask(constant_flow(20, 30, -0.4, 0), constant_flow(20, 30, 0.4, 0)) == 1).all()


# --- temporal_loss ----------------------------------------------------------------------------------------------


def test_temporal_loss_zero_for_identical_images():
    image = torch.rand(1, 3, 16, 16)
    assert temporal_loss(image, image.clone(), np.ones((16, 16), np.float32)).item() == 0.0


def test_temporal_loss_value_ignores_masked_pixels_and_resolution():
    image, warped = torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5)
    mask = np.zeros((8, 8), np.float32)
    mask[:, :4] = 1
    loss = temporal_loss(image, warped, mask)
    assert loss.item() == pytest.approx(0.25 / 2)  # eq. 7: (1/D) sum c (x - w)^2, half the pixels count
    changed = image.clone()
    changed[..., 4:] = torch.rand(1, 3, 8, 4)
    assert temporal_loss(changed, warped, mask).item() == pytest.approx(loss.item())
    big = temporal_loss(torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 0.5), cv2.resize(mask, (32, 32)))
    assert big.item() == pytest.approx(loss.item())


def test_temporal_loss_gradient_flows_to_image_only():
    image = torch.rand(1, 3, 8, 8, requires_grad=True)
    warped = torch.rand(1, 3, 8, 8, requires_grad=True)
    temporal_loss(image, warped, mask_to_tensor(np.ones((8, 8)), "cpu")).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0 and warped.grad is None


# --- scene cuts -------------------------------------------------------------------------------------------------


def cuts(frames: list[np.ndarray]) -> list[int]:
    """Indices of frames that start a new shot."""
    return [i for i in range(1, len(frames)) if scene_cut(frames[i - 1], frames[i])]


def test_synthetic_clip_without_cut_and_with_one():
    first = texture(48, 64, seed=4, blur=3)
    second = cv2.applyColorMap(texture(48, 64, seed=5, blur=3)[..., 0], cv2.COLORMAP_JET)
    panning = [shifted(first, 2 * i, i) for i in range(8)]
    flickering = [np.clip(first * (1 + 0.3 * (-1) ** i), 0, 255).astype(np.uint8) for i in range(4)]
    assert cuts(panning) == [] and cuts(flickering) == []
    assert cuts(panning + [shifted(second, i, 0) for i in range(5)]) == [8]
    assert cut_score(first, first) == pytest.approx(0.0, abs=1e-6)
    # Same colours, different content (histograms alike): the motion-compensated difference still sees the cut.
    gray_scenes = [cv2.cvtColor(texture(48, 64, seed=s, blur=3)[..., 0], cv2.COLOR_GRAY2BGR) for s in (6, 7)]
    assert cuts([gray_scenes[0]] * 3 + [gray_scenes[1]] * 3) == [3]


@pytest.fixture(scope="module")
def bikes() -> list[np.ndarray]:
    frames = read_frames(BIKES, 110, (160, 68))  # 4.4 s, includes a fast pan (frames 95-103)
    assert len(frames) == 110
    return frames


def test_real_footage_cuts_only_at_its_shot_changes(bikes):
    # bikes.mp4 is edited footage: its shots change at frames 30 and 76 (1.2 s and 3.04 s), nowhere else here.
    assert cuts(bikes) == BIKES_CUTS


def still_clip(name: str, count: int) -> list[np.ndarray]:
    """`count` frames of a photo at bikes' aspect, with slight camera shake and exposure drift."""
    photo = cv2.resize(cv2.imread(str(DATA / "content" / name)), (176, 76), interpolation=cv2.INTER_AREA)
    return [np.clip(photo[i % 3 : i % 3 + 68, i : i + 160] * (1 + 0.03 * i), 0, 255).astype(np.uint8)
            for i in range(count)]


@pytest.mark.parametrize("name", ["tubingen.jpg", "golden_gate.jpg"])
def test_splice_of_real_footage_and_photo_has_one_cut(bikes, name):
    still = still_clip(name, 8)
    assert cuts(bikes[:12] + still) == [12]
    assert cuts(still + bikes[80:100]) == [8]  # into the fast pan


def test_estimate_flow_from_several_threads_matches_one_thread():
    pairs = [(texture(48, 48, seed=s), shifted(texture(48, 48, seed=s), s, 1)) for s in range(4)]
    expected = [estimate_flow(a, b) for a, b in pairs]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda pair: estimate_flow(*pair), pairs * 3))
    for i, flow in enumerate(got):
        np.testing.assert_allclose(flow, expected[i % 4], atol=1e-5)


# ---- the warm start's fill ----


def test_fill_keeps_carried_pixels_and_paints_new_ones_from_the_frame_in_the_paintings_colours():
    torch.manual_seed(0)
    warped = torch.rand(1, 3, 24, 32) * 0.2 + torch.tensor([0.1, 0.2, 0.7]).view(1, 3, 1, 1)  # a blue painting
    content = torch.rand(1, 3, 24, 32)  # a grey-ish frame of its own
    mask = torch.ones(24, 32)
    mask[:, :8] = 0  # new content came in at the left edge
    start = fill_new_content(warped, content, mask)
    assert torch.equal(start[..., 8:], warped[..., 8:])
    recoloured = 2 * start[..., :8] - warped[..., :8]  # the filled half that is not the warp
    # The frame's pattern (its correlation with content is kept) in the painting's colours (mean per channel).
    assert torch.allclose(recoloured.mean(dim=(0, 2, 3)), warped[..., 8:].mean(dim=(0, 2, 3)), atol=0.03)
    for c in range(3):
        r = torch.corrcoef(torch.stack([recoloured[0, c].flatten(), content[0, c, :, :8].flatten()]))[0, 1]
        assert r > 0.95
    # Blended linearly in between; with nothing reliable the whole painting's colours are used, and nothing breaks.
    half = fill_new_content(warped, content, torch.full((24, 32), 0.5))
    assert torch.allclose(half, 0.5 * warped + 0.5 * fill_new_content(warped, content, torch.zeros(24, 32)), atol=1e-6)
    nothing = fill_new_content(warped, content, torch.zeros(24, 32))
    assert torch.isfinite(nothing).all() and abs(float(nothing.mean()) - float(warped.mean())) < 0.03
    assert torch.equal(fill_new_content(warped, content, torch.ones(24, 32)), warped)
