"""Every size helper: the sizes a picture is painted at, coarse to fine, and the even sizes H.264 needs. Pure
arithmetic on (height, width) or (width, height) tuples in pixels (each function says which), torch-free, so the
checks run before torch is imported."""

from __future__ import annotations

import math
from fractions import Fraction

from ..config import MIN_SIZE


def fit_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is `long_side` px, keeping the aspect (each side >= 1)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def min_long_side(height: float, width: float) -> int:
    """The smallest long side (px) at which an image of this shape keeps MIN_SIZE px on its short side."""
    return math.ceil(MIN_SIZE * max(height, width) / min(height, width))


def scale_schedule(height: int, width: int, max_scales: int, min_side: int) -> list[tuple[int, int]]:
    """Sizes (height, width) from coarse to fine ending at (height, width); each coarser one halves the long side
    while it stays >= min_side and the short side >= MIN_SIZE (what VGG19 can take). Coarse scales set the large
    strokes cheaply; the fine one adds detail (as in crowsonkb's style-transfer-pytorch)."""
    sizes = [(height, width)]
    long_side = max(height, width)
    while len(sizes) < max_scales and long_side // 2 >= min_side:
        long_side //= 2
        coarser = fit_long_side(height, width, long_side)
        if min(coarser) < MIN_SIZE:
            break
        sizes.insert(0, coarser)
    return sizes


def shrunk(side: int, scale: float) -> int:
    """`side` px times `scale`, never thinner than VGG19 can take unless it already was."""
    return max(round(side * scale), min(side, MIN_SIZE))


def _even(value: float, limit: float) -> int:
    """The even integer nearest `value` (halves up), at most `limit` (never upscaling), at least 2."""
    n = 2 * math.floor(value / 2 + 0.5)
    if n > limit:
        n = math.floor(limit) - math.floor(limit) % 2
    return max(2, n)


def processing_size(width: int, height: int, sar: Fraction, long_side: int) -> tuple[tuple[int, int], Fraction]:
    """((width, height) of the frames to stylize, the sample aspect ratio to write them with).

    width, height: the upright decoded size; sar: its sample aspect ratio (non-square pixels are resampled to square
    ones, so brush strokes are round on screen). The long side becomes `long_side` but never more than the display
    size; each side is rounded to even for yuv420p, which changes the aspect by a hair (e.g. 0.2%). The returned SAR
    (1/(1 + that change), e.g. 135/136) puts the hair back on screen, so the output displays at exactly the input's
    aspect; its terms fit H.264's 16-bit VUI fields.
    """
    display = Fraction(width) * Fraction(sar) / height
    display_w, display_h = float(width * Fraction(sar)), float(height)
    scale = min(long_side, max(display_w, display_h)) / max(display_w, display_h)
    w, h = _even(display_w * scale, display_w), _even(display_h * scale, display_h)
    restoring = display / Fraction(w, h)
    if max(restoring.numerator, restoring.denominator) > 65535:
        restoring = restoring.limit_denominator(32767)  # within a few percent of 1, so the numerator fits too
    return (w, h), restoring


def even_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) that yuv420p H.264 can hold: odd dimensions lose their last column/row."""
    return width - width % 2, height - height % 2
