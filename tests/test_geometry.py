"""pipeline.core.geometry: the sizes a picture is stylized at, coarse to fine, and the even sizes of videos."""

from __future__ import annotations

from fractions import Fraction

import pytest

from pipeline.core.geometry import processing_size, scale_schedule


def test_coarse_to_fine_schedule():
    assert scale_schedule(384, 512, 3, 128) == [(96, 128), (192, 256), (384, 512)]
    assert scale_schedule(48, 64, 3, 128) == [(48, 64)]
    assert scale_schedule(300, 1000, 2, 128) == [(150, 500), (300, 1000)]
    # A panorama: halving 512x40 would leave 20 px, then 10 px, under the 16 px VGG19 can take.
    assert scale_schedule(40, 512, 3, 128) == [(20, 256), (40, 512)]


@pytest.mark.parametrize(
    ("width", "height", "sar", "long_side", "expected"),
    [
        (64, 48, 1, 48, (48, 36)),
        (64, 48, 1, 512, (64, 48)),  # never upscaled
        (1920, 1080, 1, 512, (512, 288)),
        (48, 32, 2, 48, (48, 16)),  # square pixels: display 96x32
        (33, 21, 1, 512, (32, 20)),  # odd input: even and not above the input
        (640, 272, 1, 512, (512, 218)),  # 217.6 rounds to an even 218
    ],
)
def test_processing_size(width, height, sar, long_side, expected) -> None:
    size, restoring = processing_size(width, height, Fraction(sar), long_side)
    assert size == expected and all(side % 2 == 0 for side in size)
    change = 1 / restoring - 1  # how much wider the even size is than the input's display
    assert change == pytest.approx((expected[0] / expected[1]) / (width * sar / height) - 1, abs=1e-12)
    # The output SAR puts the rounding back: coded size times SAR displays at the input's aspect, exactly.
    assert Fraction(size[0], size[1]) * restoring == Fraction(width * Fraction(sar), height)
    assert max(restoring.numerator, restoring.denominator) <= 65535
