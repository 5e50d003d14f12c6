"""Tests of pipeline.flicker: the warping error of Lai et al. (2018) on generated and real clips."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.flicker import measure_video, warping_error

from media import decode_bgr, ffmpeg, flickered, panning_clip, texture, write_clip

BIKES = Path("/work/shared/data/video/bikes.mp4")


def test_static_clip_has_no_warping_error():
    frame = texture(48, 48)
    assert warping_error([frame] * 5, [frame] * 5) == pytest.approx(0.0, abs=1e-8)


def test_brightness_steps_give_mean_squared_step():
    # Static reference, so every pixel is visible and unmoved: the error is the mean of (c_t+1 - c_t)^2.
    reference = [texture(32, 32)] * 4
    levels = [0.5, 0.6, 0.4, 0.45]
    stylized = [np.full((32, 32, 3), round(255 * c), np.uint8) for c in levels]
    expected = np.mean([(round(255 * b) - round(255 * a)) ** 2 / 255**2 for a, b in zip(levels, levels[1:])])
    assert warping_error(stylized, reference) == pytest.approx(expected, rel=1e-4)


def test_error_rises_monotonically_with_flicker():
    reference = panning_clip()
    errors = [warping_error(flickered(reference, a), reference) for a in (0.0, 0.01, 0.03, 0.1, 0.2)]
    assert errors[0] < 1e-3  # the floor: flow and bilinear resampling on a 1 px/frame pan
    assert all(a < b for a, b in zip(errors, errors[1:])), errors


def test_stylized_of_another_size_is_resized_to_the_reference():
    reference = panning_clip()
    stylized = flickered(reference, 0.05)
    doubled = [cv2.resize(f, (128, 128), interpolation=cv2.INTER_NEAREST) for f in stylized]
    assert warping_error(doubled, reference) == pytest.approx(warping_error(stylized, reference), rel=1e-6)


def test_streaming_keeps_only_the_previous_frame():
    refs: list[weakref.ref] = []

    def frames():
        for i in range(8):
            gc.collect()
            alive = [j for j, ref in enumerate(refs) if ref() is not None]
            assert alive == [] or min(alive) >= i - 2, f"frames {alive} still held when reading frame {i}"
            frame = np.ascontiguousarray(texture(40, 40, seed=i % 2))
            refs.append(weakref.ref(frame))
            yield frame
            del frame

    warping_error((texture(40, 40) for _ in range(8)), frames(), skip_cuts=False)


def test_pairs_across_a_cut_are_skipped():
    first, second = panning_clip(4), [texture(64, 64, seed=9)] * 4
    splice = first + second
    assert warping_error(splice, splice) == pytest.approx(0.0, abs=1e-3)
    assert warping_error(splice, splice, skip_cuts=False) > warping_error(splice, splice)
    with pytest.raises(ValueError, match="two consecutive frames"):
        warping_error([first[0]], [first[0]])


def test_real_footage_flicker_exceeds_its_floor():
    capture = cv2.VideoCapture(str(BIKES))
    reference = [cv2.resize(capture.read()[1], (160, 68), interpolation=cv2.INTER_AREA) for _ in range(12)]
    capture.release()
    floor = warping_error(reference, reference)
    assert 0 < floor < 0.01
    assert warping_error(flickered(reference, 0.05), reference) > 2 * floor


def test_measure_video_gives_stylized_and_floor(tmp_path):
    reference = panning_clip(8)
    stylized = flickered(reference, 0.05)
    ref_path = write_clip(tmp_path / "ref.avi", reference)
    sty_path = write_clip(tmp_path / "sty.avi", stylized)
    measured = measure_video(sty_path, ref_path)
    assert measured == pytest.approx((warping_error(stylized, reference), warping_error(reference, reference)))
    assert measure_video(sty_path, ref_path, max_frames=4) == pytest.approx(
        (warping_error(stylized[:4], reference[:4]), warping_error(reference[:4], reference[:4]))
    )
    # A frame or two more in one file is tolerated: the shorter count is used.
    longer = write_clip(tmp_path / "longer.avi", stylized + stylized[-1:])
    assert measure_video(longer, ref_path) == pytest.approx(measured)


def test_measure_video_input_errors(tmp_path):
    clip = write_clip(tmp_path / "clip.avi", panning_clip(8))
    short = write_clip(tmp_path / "short.avi", panning_clip(3))
    with pytest.raises(InputError, match="has 3 frames but reference .* gives 8"):
        measure_video(short, clip)
    with pytest.raises(InputError, match="missing.mp4' does not exist"):
        measure_video(tmp_path / "missing.mp4", clip)
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.raises(InputError, match="notes.txt' is neither an image nor a media file"):
        measure_video(clip, tmp_path / "notes.txt")
    single = write_clip(tmp_path / "single.avi", panning_clip(1))
    with pytest.raises(InputError, match="two consecutive frames"):
        measure_video(single, single)


def test_measure_reads_videos_as_the_stylizer_does(tmp_path):
    # An AV1 reference (OpenCV alone decodes no AV1): measured like any other, frame for frame.
    reference = panning_clip(6)
    lossless = write_clip(tmp_path / "ref.avi", reference)
    av1 = tmp_path / "ref_av1.mkv"
    try:
        ffmpeg("-i", f"file:{lossless}", "-c:v", "libsvtav1", "-preset", "12", "-crf", "10", "-y", f"file:{av1}")
    except AssertionError:
        pytest.skip("this ffmpeg cannot encode AV1")
    stylized = write_clip(tmp_path / "sty.avi", flickered(reference, 0.05))
    decoded = list(decode_bgr(av1, 64, 64))  # ffmpeg's own decoding of the reference, frame by frame
    assert len(decoded) == 6
    assert measure_video(stylized, av1) == pytest.approx(
        (warping_error(flickered(reference, 0.05), decoded), warping_error(decoded, decoded)), rel=1e-3)
