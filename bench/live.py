"""Live benchmark: frames per second and latency of the live loop on a 10-second clip played at its own pace.

Run as `python bench/live.py [--sizes 128 64] [--seconds 10]` (one process, one torch thread: see THREADS). For each size it plays /work/shared/data/video/bikes.mp4 (640x272, 25 fps, 10 s; samples/bikes.mp4
if absent) as a live source through the real stylizer (starry_night, default LiveSettings: target 15 fps, Adam,
warm start along the flow), headless and without recording, exactly as `stylize-video --live` runs it, and prints:
shown and dropped frames, mean fps of shown frames, mean and max latency (arrival to display), iterations per frame,
and the stylizer's measured seconds per iteration. The last painted frame goes to bench/out/live_<size>.png.
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path

import cv2
import torch

from pipeline.config import LiveSettings, StyleSettings
from pipeline.core.geometry import processing_size
from pipeline.live import LiveView, run_live
from pipeline.live_stylizer import BudgetStylizer
from pipeline.media.frames import load_image
from pipeline.media.live_sources import LatestFrameCapture

DATA = Path("/work/shared/data/video/bikes.mp4")
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
STYLE = SAMPLES / "styles" / "starry_night.jpg"
OUT = Path(__file__).resolve().parent / "out"
DEVICE = torch.device("cpu")
THREADS = 1  # on this shared 2-core machine a second thread spins against other jobs and slows VGG down


class LastFrame:
    """A headless display that keeps the last view (to save it)."""

    view: LiveView | None = None

    def show(self, view: LiveView) -> None:
        self.view = view


def bench(clip: Path, size: int, seconds: float) -> str:
    settings = LiveSettings(size=size, max_seconds=seconds)
    capture = LatestFrameCapture(str(clip), settings)
    capture.open()
    frame_size, _ = processing_size(*capture.frame_size, Fraction(1), size)
    stylizer = BudgetStylizer([(STYLE.name, load_image(STYLE))], StyleSettings(), settings, DEVICE)
    calibrated = stylizer.calibrate(frame_size)
    display = LastFrame()
    result = run_live(capture, stylizer, settings, frame_size, display=display)
    if display.view is not None:
        OUT.mkdir(exist_ok=True)
        cv2.imwrite(str(OUT / f"live_{size}.png"), display.view.stylized)
    w, h = frame_size
    return (f"{size:>4} px ({w}x{h}): {result.shown:3d} shown, {result.dropped:3d} dropped of {result.captured} "
            f"in {result.seconds:.1f} s; {result.fps:5.2f} fps; latency mean {result.mean_latency * 1000:4.0f} ms, "
            f"max {result.max_latency * 1000:4.0f} ms; {result.mean_iterations:.1f} it/frame; "
            f"{stylizer.seconds_per_iteration * 1000:.0f} ms/iteration (calibrated {calibrated * 1000:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 64])
    parser.add_argument("--seconds", type=float, default=10.0, help="play this much of the clip (default 10)")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    clip = DATA if DATA.exists() else SAMPLES / "bikes.mp4"
    print(f"clip {clip} played live for {args.seconds:g} s, target {LiveSettings().fps:g} fps, "
          f"{THREADS} torch threads on the CPU ({time.strftime('%Y-%m-%d %H:%M')})")
    for size in args.sizes:
        print(bench(clip, size, args.seconds), flush=True)


if __name__ == "__main__":
    main()
