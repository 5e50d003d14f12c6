"""Estimate benchmark: how far a video run's opening estimate and its ETA are from what happens.

Run as `python bench/estimate.py [--quality draft] [--size N] [--frames N] [--settle 60] [--skip-hog]`. For each clip
(samples/bikes.mp4: 46 frames, 1.84 s; /work/shared/data/video/bikes.mp4: 250 frames, 10 s, a scene cut at frame 30)
and each condition ("as is", and "hog": one busy-loop process started --settle seconds before, as in
bench/threads.py), it runs pipeline.video.stylize_video as `stylize-video CLIP starry_night.jpg OUT --quality
draft` does (automatic thread count), records every event with its time, and prints:

- the opening estimate (VideoPlan.estimated_seconds, the plan line's "about ...") against the seconds from that
  line to the last frame's end, and the signed error (estimate / actual - 1);
- how the estimate splits (the first frame's passes, a warm frame's, times the seconds of one pass it timed)
  against the same parts measured (the first frame's FrameDone.seconds, the mean of the later ones);
- a warm frame's iterations: as planned (the middle of its range), as adaptive effort budgeted them
  (FrameStarted.iterations) and as run (ScaleDone.iterations_run: L-BFGS stops early on a plateau);
- the frames bar's ETA (cli.progress.FramePace, fed the same events at their times) at the end of each frame from the
  first warm frame on, against the seconds that were left: the error at the first warm frame, and the median and
  the largest |error| while at least --tail frames were left (a few seconds' ETA has a large relative error that
  nobody waits for). Goal: within 30%.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from outputs import fresh_output

from bench.threads import cpu_hog, load
from cli.progress import FramePace
from pipeline import video_plan
from pipeline.config import StyleSettings, VideoSettings, with_quality
from pipeline.events import FrameDone, FrameStarted, ScaleDone, VideoPlan
from pipeline.video import stylize_video

CLIPS = [ROOT / "samples" / "bikes.mp4", Path("/work/shared/data/video/bikes.mp4")]
STYLE = ROOT / "samples" / "styles" / "starry_night.jpg"
GOAL = 0.30


@dataclass
class Run:
    """A run's events with their time.monotonic(); pass_seconds: the pass the estimate timed."""

    events: list[tuple[float, object]] = field(default_factory=list)
    pass_seconds: float = float("nan")
    threads: int | None = None

    def __call__(self, event: object) -> None:
        self.events.append((time.monotonic(), event))


def stylize(clip: Path, settings: StyleSettings, video: VideoSettings) -> Run:
    run = Run()
    timed = video_plan.seconds_per_pass

    def recording(*args: object) -> float:
        run.pass_seconds = timed(*args)
        return run.pass_seconds

    video_plan.seconds_per_pass = recording  # estimate_seconds calls it through the module
    try:
        stylize_video(clip, [(STYLE, 1.0)], fresh_output(f"estimate_{clip.stem}.mp4"), settings, video, "cpu", run)
    finally:
        video_plan.seconds_per_pass = timed
    return run


def analyse(run: Run, settings: StyleSettings, video: VideoSettings, tail: int) -> dict:
    plan_at, plan = next((t, e) for t, e in run.events if isinstance(e, VideoPlan))
    done = [(t, e) for t, e in run.events if isinstance(e, FrameDone)]
    kinds = {e.index: e.kind for _, e in run.events if isinstance(e, FrameStarted)}
    last_at = done[-1][0]
    actual = last_at - plan_at
    pace = FramePace(plan.estimated_seconds, plan.frames, plan.resumed, plan_at)
    errors = []  # (frames left, relative error of the ETA)
    for t, event in run.events:
        if isinstance(event, FrameStarted):
            pace.started(event.index, event.kind)
        elif isinstance(event, FrameDone):
            pace.finished(event.index, event.total_estimate, event.seconds, t)
            left = (event.total_estimate or 0) - event.index - 1
            eta = pace.remaining(t)
            if pace.later and left > 0 and eta is not None and last_at - t > 0:
                errors.append((left, eta / (last_at - t) - 1))
    width, height = plan.size
    first_passes = video_plan.planned_evaluations(1, 0, plan.size, settings.optim, video)
    warm_passes = video_plan.planned_evaluations(2, 0, plan.size, settings.optim, video) - first_passes
    first_seconds = next(e.seconds for _, e in done if kinds.get(e.index) == "first")
    later = [e.seconds for _, e in done if kinds.get(e.index) != "first"]
    kept = [abs(err) for left, err in errors if left >= tail]
    budgets = [e.iterations for _, e in run.events if isinstance(e, FrameStarted) and e.kind == "warm"]
    ran, frame = [], -1  # iterations each later frame ran (its one ScaleDone)
    for _, event in run.events:
        if isinstance(event, FrameStarted):
            frame = event.index
        elif isinstance(event, ScaleDone) and kinds.get(frame) == "warm":
            ran.append(event.iterations_run)
    return {
        "frames": len(done), "size": f"{width}x{height}", "threads": plan.threads,
        "planned": plan.estimated_seconds, "actual": actual,
        "opening": plan.estimated_seconds / actual - 1 if plan.estimated_seconds else float("nan"),
        "pass": run.pass_seconds, "first planned": first_passes * run.pass_seconds, "first": first_seconds,
        "warm planned": warm_passes * run.pass_seconds, "warm": statistics.mean(later) if later else float("nan"),
        "eta first warm": errors[0][1] if errors else float("nan"),
        "budget": statistics.mean(budgets) if budgets else float("nan"),
        "ran": statistics.mean(ran) if ran else float("nan"),
        "planned iterations": (min(video.min_frame_iterations, video.frame_iterations) + video.frame_iterations) / 2,
        "seconds": [round(e.seconds, 2) for _, e in done], "iterations": ran,
        "eta median": statistics.median(kept) if kept else float("nan"),
        "eta max": max(kept) if kept else float("nan"),
    }


def print_row(clip: Path, condition: str, r: dict, verbose: bool) -> None:
    ok = "PASS" if r["eta max"] <= GOAL else "FAIL"
    print(f"| {clip.parent.name}/{clip.name} | {condition} | {r['frames']} at {r['size']} | {r['threads']} | "
          f"{r['planned']:.0f} s | {r['actual']:.0f} s | {r['opening']:+.0%} | "
          f"{r['first planned']:.1f} / {r['first']:.1f} s | {r['warm planned']:.2f} / {r['warm']:.2f} s | "
          f"{r['planned iterations']:.0f} / {r['budget']:.1f} / {r['ran']:.1f} | "
          f"{r['eta first warm']:+.0%} | {r['eta median']:.0%} | {r['eta max']:.0%} {ok} |", flush=True)
    if verbose:
        print(f"    seconds a frame: {r['seconds']}\n    iterations a warm frame ran: {r['iterations']}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quality", default="draft", help="preset, as --quality (default draft)")
    p.add_argument("--size", type=int, help="long side, over the preset's")
    p.add_argument("--frames", type=int, help="at most this many frames of each clip (default all)")
    p.add_argument("--settle", type=float, default=60.0, help="seconds the hog runs before a run (load average)")
    p.add_argument("--tail", type=int, default=5, help="leave out the ETAs with fewer frames than this left")
    p.add_argument("--skip-hog", action="store_true")
    p.add_argument("--verbose", action="store_true", help="also each frame's seconds and each warm frame's iterations")
    p.add_argument("--clips", type=Path, nargs="+", default=[c for c in CLIPS if c.exists()])
    ns = p.parse_args()
    settings = with_quality(StyleSettings(), ns.quality)
    settings = replace(settings, size=ns.size) if ns.size else settings
    video = VideoSettings(max_frames=ns.frames, overwrite=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}: {os.cpu_count()} CPUs, load average (1/5 min) {load()}; "
          f"torch {torch.__version__}; --quality {ns.quality}{f' --size {ns.size}' if ns.size else ''}", flush=True)
    print("| clip | condition | frames | threads | estimate | actual | opening error | first frame planned / "
          "actual | later frame planned / actual | warm iterations planned / budget / run | ETA error at first warm "
          "frame | median abs ETA error | largest |")
    print("|---" * 13 + "|")
    conditions = ["as is"] if ns.skip_hog else ["as is", "hog"]
    for condition in conditions:
        for clip in ns.clips:
            with cpu_hog(ns.settle) if condition == "hog" else contextlib.nullcontext():
                began = load()
                run = stylize(clip, settings, video)
            print_row(clip, f"{condition} (load {began})", analyse(run, settings, video, ns.tail), ns.verbose)


if __name__ == "__main__":
    main()
