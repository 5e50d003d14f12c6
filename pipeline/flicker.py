"""Flicker measurement: the warping error of Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018).

For consecutive frames t, t+1 the flow is estimated on the reference (input) video, stylized frame t+1 is warped back
onto frame t, and the squared difference to stylized frame t (values in [0, 1], averaged over the three channels, as
the authors' evaluation script divides by the sum of a 3-channel mask) is averaged over the pixels the
forward-backward check marks visible in both frames, then over frame pairs. Lower is steadier; the reference
video's own error is the floor that motion estimation allows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
from os import PathLike

import cv2
import numpy as np
import torch

from .core.temporal import consistency_mask, estimate_flow, mask_to_tensor, scene_cut, warp
from .errors import InputError
from .media.frames import bgr_to_tensor
from .media.probe import MediaInfo
from .media.reader import VideoReader

FRAME_COUNT_SLACK = 3  # containers often disagree by a frame or two (edit lists, a dropped last frame)
# Display aspects may differ this much (relative): other tools round sizes to even numbers without a matching SAR,
# which moves a 77 px side by 1.3%.
ASPECT_SLACK = 0.03


def _fit(bgr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Resize an HxWx3 frame to `shape`'s height and width (area when shrinking, bilinear when enlarging)."""
    h, w = shape[:2]
    if bgr.shape[:2] == (h, w):
        return bgr
    shrink = bgr.shape[0] * bgr.shape[1] > h * w
    return cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _pair_error(prev: torch.Tensor, next_: torch.Tensor, flow: np.ndarray, mask: torch.Tensor) -> float:
    """Masked mean of (prev - next_ warped onto prev)^2 over pixels and channels; prev, next_ 1x3xHxW in [0, 1]."""
    per_pixel = ((warp(next_, flow) - prev) ** 2).mean(dim=1, keepdim=True)
    return float((mask * per_pixel).sum() / mask.sum())


def _pair_errors(pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                 skip_cuts: bool) -> Iterator[tuple[float, float] | None]:
    """Per consecutive pair t, t+1 of a stream of (stylized, reference) BGR frames: its (stylized, reference) warping
    errors, or None where it is left out (a cut, or nothing visible in both). Keeps only the previous frames, so
    memory does not grow with the length of the video."""
    prev = None
    for stylized, reference in pairs:
        current = (reference, bgr_to_tensor(_fit(stylized, reference.shape)), bgr_to_tensor(reference))
        if prev is not None:
            error = None
            if not (skip_cuts and scene_cut(prev[0], reference)):
                flow = estimate_flow(prev[0], reference)  # frame t -> t+1, on the grid of frame t
                mask = consistency_mask(flow, estimate_flow(reference, prev[0]))
                if mask.any():  # Lai et al. would add 0 for a pair with nothing visible; skipping it biases less
                    mask_t = mask_to_tensor(mask, "cpu")
                    error = (_pair_error(prev[1], current[1], flow, mask_t),
                             _pair_error(prev[2], current[2], flow, mask_t))
            yield error
        prev = current


def _warping_errors(pairs: Iterable[tuple[np.ndarray, np.ndarray]], skip_cuts: bool) -> tuple[float, float]:
    """(stylized, reference) warping errors of a stream of (stylized, reference) BGR frames: the mean over its
    pairs, one flow pass."""
    errors = [error for error in _pair_errors(pairs, skip_cuts) if error is not None]
    if not errors:
        raise ValueError("the warping error needs two consecutive frames of one shot with matching content, got none")
    return sum(e[0] for e in errors) / len(errors), sum(e[1] for e in errors) / len(errors)


def pair_errors(stylized: Iterable[np.ndarray], reference: Iterable[np.ndarray],
                skip_cuts: bool = True) -> list[float | None]:
    """The warping error of each consecutive pair t, t+1 of `stylized` (see warping_error), None where a pair is
    left out: what warping_error averages, for finding the worst pair (a seam)."""
    return [None if error is None else error[0] for error in _pair_errors(zip(stylized, reference), skip_cuts)]


def warping_error(
    stylized: Iterable[np.ndarray], reference: Iterable[np.ndarray], skip_cuts: bool = True
) -> float:
    """Warping error (Lai et al. 2018) of `stylized` against the motion of `reference`; HxWx3 BGR uint8 frames.

    Flow and visibility come from `reference`; stylized frames of another size are resized to the reference size.
    Stops at the shorter sequence. With skip_cuts, pairs across a scene cut of the reference are left out (Lai et
    al.'s test videos have no cuts; across one, the flow means nothing). Mean squared error in [0, 1] units.
    Raises ValueError if no pair of frames can be compared.
    """
    return _warping_errors(zip(stylized, reference), skip_cuts)[0]


def _paired(stylized: VideoReader, reference: VideoReader,
            limit: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(stylized picture, the reference frame on screen at its time), for at most `limit` stylized pictures.

    Paired by time, not by count: a GIF made from a fast video holds every 2nd (or 4th) frame, with delays in
    hundredths of a second that ffmpeg's own rate (the shortest delay) would turn into repeated frames.
    """
    frames = iter(reference)
    current = next(frames, None)
    first_time = None
    for k, picture in enumerate(stylized.pictures()):
        if current is None or (limit is not None and k >= limit):
            return
        first_time = picture.time if first_time is None else first_time
        wanted = round((picture.time - first_time) * reference.info.fps)
        while current is not None and current.index < wanted:
            current = next(frames, None)
        if current is not None:
            yield picture.pixels, current.pixels


def _frame_limit(stylized: VideoReader, reference: VideoReader, names: tuple, max_frames: int | None,
                 step: Fraction) -> int | None:
    """Number of stylized pictures to compare: the smaller count, or None if a count is unknown. max_frames counts
    the input's frames, as stylize-video's --frames does: a --frames preview is measured against the start of its
    input. A GIF holds one picture per `step` input frames."""
    ours = stylized.info.frame_count  # pictures, as _paired reads them (a GIF's, not its frames at a rate)
    theirs = [math.ceil(n / step) for n in _reference_counts(reference, max_frames)]
    if max_frames is not None and ours is not None:
        ours = min(ours, math.ceil(max_frames / step))
    if ours is None or not theirs:  # a count is unknown: up to what is known, and the pairing stops at the shorter
        if ours is not None:
            return ours
        return None if max_frames is None else math.ceil(max_frames / step)
    closest = min(theirs, key=lambda n: abs(n - ours))
    if abs(ours - closest) > FRAME_COUNT_SLACK:
        wanted = "equal counts" if max_frames is None else f"as many for --frames {max_frames}"
        hint = "" if max_frames is not None else "; for a preview, give the --frames (and --start) it was made with"
        raise InputError(
            f"stylized video '{names[0]}' has {stylized.info.frame_count} frames but reference '{names[1]}' gives "
            f"{theirs[0]} (expected {wanted}, give or take {FRAME_COUNT_SLACK}){hint}"
        )
    return min(ours, closest)


def _reference_counts(reference: VideoReader, max_frames: int | None) -> list[int]:
    """The reference's frame count as the probe tells it, and, for a variable-rate file (more frames at its average
    rate than it has pictures), its duration at its rate; each at most max_frames. [] if unknown."""
    counts = [] if reference.expected_frames is None else [reference.expected_frames]
    info = reference.info
    if info.duration and info.duration > reference.start:
        counts.append(math.ceil((info.duration - reference.start) * info.fps - 0.25))
    return counts if max_frames is None else [min(n, max_frames) for n in counts]


def _check_shapes(stylized: MediaInfo, reference: MediaInfo, names: tuple) -> None:
    """A stylized video has its input's display aspect (to the rounding of even sizes): another aspect means the
    wrong reference, and the numbers would mean nothing."""
    aspects = [float(info.width * info.display_sar / info.height) for info in (stylized, reference)]
    if abs(aspects[0] / aspects[1] - 1) > ASPECT_SLACK:
        raise InputError(
            f"stylized video '{names[0]}' is displayed {aspects[0]:.3f}:1 but reference '{names[1]}' {aspects[1]:.3f}:1: "
            "is it the input it was made from?"
        )


def _rate_step(stylized: MediaInfo, reference: MediaInfo) -> Fraction:
    """Reference frames per stylized picture: 1, or the whole factor a GIF made from a fast video drops (2, 4...).
    A GIF's delays are hundredths of a second, so its mean rate (pictures / duration) is only near the half."""
    rate = stylized.fps
    if stylized.animation and stylized.frame_count and stylized.duration:
        rate = Fraction(stylized.frame_count) / Fraction(stylized.duration)
    ratio = reference.fps / rate
    whole = max(1, round(ratio))
    return Fraction(whole) if abs(ratio / whole - 1) < 0.02 else Fraction(1)


def measure_video(
    stylized_path: str | PathLike, reference_path: str | PathLike, max_frames: int | None = None, start: float = 0.0
) -> tuple[float, float]:
    """(warping error of the stylized video, warping error of the reference video itself), see `warping_error`.

    The second number is the floor the flow estimation allows. The reference is read from `start` seconds (a
    preview made with --start); max_frames: the first stylized frames only (a --frames preview). Frame counts may
    differ by up to FRAME_COUNT_SLACK (the shorter count is used, extra frames are ignored); raises InputError if a
    file is not a video (see probe.probe), the counts differ by more, or there is nothing to compare.
    """
    # Read as stylize_video reads its input (upright, at a constant rate, AV1 too), so frame k of the reference is the
    # picture that became frame k of the stylized video (or frame 2k, of a GIF at half the rate: see _rate_step).
    with VideoReader(stylized_path) as stylized, VideoReader(reference_path, start=start) as reference:
        _check_shapes(stylized.info, reference.info, (stylized_path, reference_path))
        step = _rate_step(stylized.info, reference.info)
        limit = _frame_limit(stylized, reference, (stylized_path, reference_path), max_frames, step)
        pairs = _paired(stylized, reference, limit)
        try:
            return _warping_errors(pairs, skip_cuts=True)
        except ValueError as error:
            raise InputError(f"videos '{stylized_path}' and '{reference_path}': {error}") from error
