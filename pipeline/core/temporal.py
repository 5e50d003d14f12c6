"""Temporal coherence: optical flow, warping, occlusion masks, the temporal loss and scene cuts.

Layouts: frames are HxWx3 BGR uint8 arrays as OpenCV gives them; images are 1x3xHxW float32 RGB tensors in [0, 1];
flows are HxWx2 float32 arrays (or tensors, see `flow_to_tensor`) in pixels, channel 0 = dx, channel 1 = dy.

Flow convention, used by every function here: `flow = estimate_flow(src, dst)` is defined on the grid of `src`, and
the content at pixel (x, y) of `src` appears at (x + flow[y, x, 0], y + flow[y, x, 1]) in `dst`. Warping is backward:
`warp(image, flow)(p) = image(p + flow(p))`, so `warp(dst_image, estimate_flow(src, dst))` is aligned with `src`. To
bring the previous stylized frame into frame t: `warp(prev_stylized, estimate_flow(frame_t, frame_prev))`.
"""

from __future__ import annotations

import threading
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .color import luminance

# MEDIUM over FAST: a third of the end-point error for 10 ms a frame more, noise next to a style-transfer step
# (docs/design.md, "Videos").
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM

# Cut score above which two consecutive frames belong to different shots: within a shot real footage scores at most
# 0.79 (fast motion, flicker), across a cut 0.96 or more (docs/design.md, "Videos").
CUT_THRESHOLD = 0.85
DIS_MIN_SIDE = 16  # px; see estimate_flow
_CUT_WIDTH = 64  # frames are compared at this width, so the score does not depend on resolution
_HIST_BINS = (16, 16)  # hue, saturation

_local = threading.local()


def _dis() -> cv2.DISOpticalFlow:
    """This thread's DIS object (OpenCV algorithms are not thread-safe; one per thread, created once)."""
    dis = getattr(_local, "dis", None)
    if dis is None:
        dis = _local.dis = cv2.DISOpticalFlow_create(DIS_PRESET)
        _local.finest = dis.getFinestScale()
    # DIS lowers its finest scale for itself after a tiny image (<= ~32 px) and keeps it: reset it, or every
    # later flow in this thread would depend on what the thread saw before.
    dis.setFinestScale(_local.finest)
    return dis


def _gray(image: np.ndarray) -> np.ndarray:
    """HxWx3 BGR or HxW uint8 -> contiguous HxW uint8 (DIS asserts contiguity)."""
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(image)


def estimate_flow(src_bgr: np.ndarray, dst_bgr: np.ndarray) -> np.ndarray:
    """Dense optical flow from `src_bgr` to `dst_bgr` (HxWx3 BGR uint8, or HxW gray) with OpenCV's DIS.

    Returns HxWx2 float32 in pixels on the grid of `src_bgr`: src(x, y) appears at (x, y) + flow[y, x] in dst.
    """
    if src_bgr.shape[:2] != dst_bgr.shape[:2]:
        raise ValueError(f"flow needs frames of one size, got {src_bgr.shape[:2]} and {dst_bgr.shape[:2]}")
    src, dst = _gray(src_bgr), _gray(dst_bgr)
    h, w = src.shape
    if min(h, w) < DIS_MIN_SIDE:
        # DIS crashes the process (SIGSEGV) on some images with a side under 16 px, e.g. 64x8 or 100x12: the
        # scene-cut check's 64-px-wide copy of a panorama. Edges repeated to 16 px, then the flow cropped back.
        pad = dict(top=0, left=0, bottom=max(0, DIS_MIN_SIDE - h), right=max(0, DIS_MIN_SIDE - w),
                   borderType=cv2.BORDER_REPLICATE)
        src, dst = cv2.copyMakeBorder(src, **pad), cv2.copyMakeBorder(dst, **pad)
    flow = _dis().calc(src, dst, None)
    return flow if flow.shape[:2] == (h, w) else np.ascontiguousarray(flow[:h, :w])


def flow_to_tensor(flow: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """HxWx2 flow (array or tensor) -> HxWx2 float32 tensor on `device`; convert once per frame, then reuse."""
    if isinstance(flow, torch.Tensor):
        return flow.to(device=device, dtype=torch.float32)
    return torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).to(device)


def warp(image: torch.Tensor, flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Backward warp: out(p) = image(p + flow(p)), bilinear, border pixels repeated outside the image.

    image: NxCxHxW float tensor; flow: HxWx2 in pixels (dx, dy), array or tensor. Runs on image's device.
    """
    n, _, h, w = image.shape
    flow_t = flow_to_tensor(flow, image.device).to(image.dtype)
    if flow_t.shape != (h, w, 2):
        raise ValueError(f"flow of shape {tuple(flow_t.shape)} does not match an image of {h}x{w}")
    ys = torch.arange(h, device=image.device, dtype=image.dtype)
    xs = torch.arange(w, device=image.device, dtype=image.dtype)
    # align_corners=True maps -1 and 1 to the centres of the first and last pixels, so pixel index i <-> 2i/(W-1)-1.
    gx = (xs.view(1, w) + flow_t[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys.view(h, 1) + flow_t[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(0).expand(n, h, w, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def consistency_masks(flow_back: np.ndarray, flow_fwd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reliable, carried) pixels of frame t, HxW float32 each (1 = yes, 0 = no), from a forward-backward flow check.

    flow_back: flow(t -> t-1) on the grid of frame t; flow_fwd: flow(t-1 -> t) on the grid of frame t-1 (HxWx2).
    Criteria of Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016), section 3.2, as in their
    consistencyChecker: with w~ = flow_back(p) and w^ = flow_fwd(p + w~) (bilinear), p is unreliable where
    |w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5 (disocclusion), where |grad u|^2 + |grad v|^2 > 0.01 |w~|^2 + 0.002
    (motion boundary of flow_back), or where p + w~ falls outside frame t-1 (beyond the outer pixels' edges).
    `carried` leaves out only the new content (disoccluded or from outside): at a motion boundary the warp has the
    right content, only less exactly (see fill_new_content).
    """
    h, w = flow_back.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = xs + flow_back[..., 0]
    map_y = ys + flow_back[..., 1]
    back_of_fwd = cv2.remap(flow_fwd.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    sq_back = np.sum(flow_back**2, axis=2)
    sq_round_trip = np.sum((flow_back + back_of_fwd) ** 2, axis=2)
    disoccluded = sq_round_trip > 0.01 * (sq_back + np.sum(back_of_fwd**2, axis=2)) + 0.5
    # Central differences, like the [-0.5, 0, 0.5] derivative filter of Ruder's consistencyChecker.
    du_dy, du_dx = np.gradient(flow_back[..., 0])
    dv_dy, dv_dx = np.gradient(flow_back[..., 1])
    boundary = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2 > 0.01 * sq_back + 0.002
    # The image covers [-0.5, W - 0.5] x [-0.5, H - 0.5] (pixel centres at integers), so flows that leave the edge
    # pixels by a sub-pixel amount, as DIS often estimates there, still land on the image.
    outside = (map_x < -0.5) | (map_x > w - 0.5) | (map_y < -0.5) | (map_y > h - 0.5)
    new = disoccluded | outside
    return (~(new | boundary)).astype(np.float32), (~new).astype(np.float32)


def consistency_mask(flow_back: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """The reliable pixels of frame t (HxW float32, 1 = reliable, 0 = not): the first of consistency_masks."""
    return consistency_masks(flow_back, flow_fwd)[0]


def _sample(field: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`field` (HxW or HxWxC on the grid of the frame `flow` points to) read at p + flow(p), bilinear, edges
    repeated: brought onto the grid `flow` is defined on."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(np.ascontiguousarray(field, dtype=np.float32), xs + flow[..., 0], ys + flow[..., 1],
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def compose_flows(steps: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (flow, reliable, carried) from the first frame of a path of frames x_0, x_1, ... x_k to its last, from
    the k steps (flow(x_j -> x_(j+1)) on x_j's grid, reliable and carried masks of x_j, see consistency_masks):
    G_j(p) = g_j(p) + G_(j+1)(p + g_j(p)), and a pixel is reliable (or carried) over the path when it is at every
    step along it (the masks' product, read where the path goes). HxWx2 and HxW float32, on x_0's grid."""
    flow, reliable, carried = (np.array(a, dtype=np.float32) for a in steps[-1])
    for step_flow, step_reliable, step_carried in reversed(steps[:-1]):
        flow = step_flow + _sample(flow, step_flow)
        reliable = step_reliable * _sample(reliable, step_flow)
        carried = step_carried * _sample(carried, step_flow)
    return flow, reliable, carried


def motion_stats(flow: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(unreliable, motion) of a frame: the fraction of its pixels that `mask` (HxW, 1 = reliable) leaves
    unreliable (disoccluded, motion boundaries, come in from outside), and the mean length of `flow` (HxWx2, in
    pixels) as a fraction of the frame's long side, so that it does not depend on resolution. Both are 0 for a still
    scene. Used to size a warm frame's effort (video.frame_budget)."""
    h, w = flow.shape[:2]
    motion = float(np.sqrt(np.sum(np.square(flow, dtype=np.float32), axis=2)).mean()) / max(h, w)
    return 1.0 - float(np.mean(mask)), motion


def mask_to_tensor(mask: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """HxW mask (array or tensor, or already 1x1xHxW) -> 1x1xHxW float32 tensor on `device`."""
    mask_t = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(mask, np.float32))
    mask_t = mask_t.to(device=device, dtype=torch.float32)
    return mask_t if mask_t.ndim == 4 else mask_t.view(1, 1, *mask_t.shape[-2:])


# Below this fraction of carried pixels their colour statistics are too few to trust: the whole warp's are used.
_MIN_CARRIED_FOR_STATS = 0.05


def fill_new_content(warped: torch.Tensor, content: torch.Tensor, carried: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A warm frame's start: `warped` where `carried` is 1; where it is 0 (newly revealed, or come in at an edge; see
    consistency_masks) half `warped` and half `content` with its colours moved to the painting's. 1x3xHxW in [0, 1]
    like its inputs; carried HxW or 1x1xHxW in [0, 1], blended linearly in between.

    Deviation from Ruder et al. (2016), who start from the warped previous frame everywhere: there the warp repeats
    edge pixels or drags the occluding object along, and a warm frame's few iterations leave most of that. Worse,
    the next frame's flow finds the smear reliable, so the temporal loss keeps it: on bikes.mp4 the TAXI sign that
    drives in from the left was a purple streak to the end, and the cyclist left a dark trail. The current frame
    brings the new content; moving its colours (per-channel mean and deviation) to those of the painting's carried
    pixels, and keeping half of the warp's texture, keeps the filled area from standing out as unpainted photo.
    Motion boundaries are not filled: that raised the warping error (docs/design.md, "Videos").
    """
    carried_t = mask_to_tensor(carried, warped.device).to(warped.dtype)
    # torch.where, not an if: no host sync on a GPU. Where carried is 1 the result is `warped` exactly.
    weights = torch.where(carried_t.mean() >= _MIN_CARRIED_FOR_STATS, carried_t, torch.ones_like(carried_t))
    count = weights.sum()
    mean = (warped * weights).sum(dim=(2, 3), keepdim=True) / count
    std = (((warped - mean) ** 2 * weights).sum(dim=(2, 3), keepdim=True) / count).sqrt()
    content_mean = content.mean(dim=(2, 3), keepdim=True)
    content_std = content.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    recoloured = ((content - content_mean) / content_std * std + mean).clamp(0.0, 1.0)
    return carried_t * warped + (1 - carried_t) * (0.5 * warped + 0.5 * recoloured)


def temporal_loss(image: torch.Tensor, warped_prev: torch.Tensor, mask: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Short-term temporal loss of Ruder et al. (2016), eq. 7: (1/D) sum_k c_k (x_k - w_k)^2, a scalar tensor.

    image, warped_prev: 1x3xHxW; mask: HxW or 1x1xHxW weights c in [0, 1]. D = C*H*W counts masked pixels too, as in
    the paper, so the weight does not depend on resolution. warped_prev is a fixed target: no gradient flows into it.
    """
    mask_t = mask_to_tensor(mask, image.device).to(image.dtype)
    return (mask_t * (image - warped_prev.detach()) ** 2).mean()


def temporal_term(weight: float, target: torch.Tensor, mask: np.ndarray | torch.Tensor,
                  grey: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The temporal loss as an extra term of a frame's objective: image (1x3xHxW) -> weight * temporal_loss.

    target: the previous painting moved into this frame. grey: the stylizer optimizes a grey luminance image
    (preserve_colors) and puts the colours back after, so the target is taken in luminance too; a colour target
    would pull colour into the grey image, against the style loss.
    """
    pull_to = luminance(target) if grey else target
    mask_t = mask_to_tensor(mask, target.device)
    return lambda image: weight * temporal_loss(image, pull_to, mask_t)


def _cut_features(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue-saturation histogram (sums to 1) and gray image (uint8) of a frame shrunk to `_CUT_WIDTH` wide."""
    h, w = bgr.shape[:2]
    small = cv2.resize(bgr, (_CUT_WIDTH, max(8, round(_CUT_WIDTH * h / w))), interpolation=cv2.INTER_AREA)
    hist = cv2.calcHist([cv2.cvtColor(small, cv2.COLOR_BGR2HSV)], [0, 1], None, list(_HIST_BINS), [0, 180, 0, 256])
    return hist / max(float(hist.sum()), 1.0), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)


def _standardized(gray: np.ndarray) -> np.ndarray:
    """Gray levels shifted and scaled to zero mean and unit deviation: blind to global brightness and contrast."""
    gray = gray.astype(np.float32)
    return (gray - gray.mean()) / (gray.std() + 1.0)


def _aligned_difference(gray_a: np.ndarray, gray_b: np.ndarray) -> float:
    """Mean |standardized b - standardized a warped onto b| of two HxW uint8 images: what motion cannot explain."""
    flow = estimate_flow(gray_b, gray_a)  # where b's pixels are in a
    h, w = gray_b.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    aligned_a = cv2.remap(_standardized(gray_a), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return float(np.abs(_standardized(gray_b) - aligned_a).mean())


def cut_score(prev_bgr: np.ndarray, next_bgr: np.ndarray) -> float:
    """How unlike two frames (HxWx3 BGR uint8, any sizes) are: 0 for equal frames, about 1 or more across a cut.

    Sum of two cues, compared at `_CUT_WIDTH` pixels wide: the mean absolute difference of the standardized gray
    levels after motion compensation with optical flow, the larger of both directions (blind to motion and global
    brightness, high when the flow cannot explain the change), plus half the Bhattacharyya distance of hue-saturation
    histograms (blind to motion; half weight because brightness flicker moves it too).
    """
    hist_a, gray_a = _cut_features(prev_bgr)
    hist_b, gray_b = _cut_features(next_bgr)
    if gray_a.shape != gray_b.shape:
        gray_a = cv2.resize(gray_a, gray_b.shape[::-1], interpolation=cv2.INTER_AREA)
    # Both directions: a flat frame can be "explained" by smearing a detailed one, not the other way round.
    structure = max(_aligned_difference(gray_a, gray_b), _aligned_difference(gray_b, gray_a))
    hist_dist = max(cv2.compareHist(hist_a, hist_b, cv2.HISTCMP_BHATTACHARYYA), 0.0)
    return structure + 0.5 * hist_dist


def scene_cut(prev_bgr: np.ndarray, next_bgr: np.ndarray, threshold: float = CUT_THRESHOLD) -> bool:
    """True if `next_bgr` starts a new shot after `prev_bgr` (HxWx3 BGR uint8): cut_score above `threshold`."""
    return cut_score(prev_bgr, next_bgr) > threshold
