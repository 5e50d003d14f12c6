"""Write a PNG contact sheet of evenly spaced frames of one or more videos, one row per video.

    python bench/contact_sheet.py out.png a.mp4 [b.mp4 ...] [--frames 6] [--height 120]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from pipeline.media.reader import VideoReader


def sample_frames(path: str, count: int, height: int) -> list[np.ndarray]:
    """`count` evenly spaced frames of the video at `path`, each resized to `height` px (BGR uint8)."""
    with VideoReader(path) as reader:  # as the stylizer reads videos: upright, constant rate, AV1 too
        frames = [frame.pixels for frame in reader]
    if not frames:
        raise SystemExit(f"no frames in {path}")
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    out = []
    for i in picks:
        f = frames[i]
        out.append(cv2.resize(f, (round(f.shape[1] * height / f.shape[0]), height), interpolation=cv2.INTER_AREA))
    return out


def contact_sheet(paths: list[str], count: int, height: int) -> np.ndarray:
    """Rows of frames, one row per video, padded to the widest row."""
    rows = [np.hstack(sample_frames(p, count, height)) for p in paths]
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--height", type=int, default=120)
    args = parser.parse_args()
    cv2.imwrite(args.output, contact_sheet(args.videos, args.frames, args.height))
