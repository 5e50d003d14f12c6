"""Scale-out benchmark: one video across Ray workers against one process, side by side in one run.

Run as `python bench/scale.py [--parts 1,2,3]` on a quiet machine (it starts its own local Ray instance with 2 CPUs,
and stops it). torch and OpenCV are pinned to one thread in this process and in each worker, so that one process
with 1 thread and 2 workers with 1 thread each use the same cores.

1. Throughput. bikes.mp4 (/work/shared/data/video/bikes.mp4, 250 frames, 6 shots; --frames N: its first N) at
   128 px: one process, then 2 Ray workers split at the cuts only. Frames per second of the stylizing (from the
   first FrameStarted/FrameDone to the last FrameDone) and of the whole call, the ratio, Ray's start-up (ray.init
   of the instance both runs use), and where the Ray run's worker-seconds went: stylizing (the workers'
   FrameDone.seconds), Ray's own overhead (the gaps inside each worker's span, from its first frame's start to its
   last frame's end: handing out segments, shipping frames), and idle tails (a worker with no segment left while
   another finishes its shot: the split's balance, not Ray). Goals: ratio >= 1.8x, overhead < 5% of a frame.
   Whether the frames are the same is printed too (bit for bit: same thread count).
2. Seams. bikes.mp4's longest shot (frames 76-136, 61 frames, 2.4 s) at 128 px: one process, then Ray split into
   1-second pieces with the seam pull (seam_frames, the default), and without it (seam_frames 0: each piece simply
   starts from its keyframe). Per run: the warping error (Lai et al. 2018, pipeline.flicker.pair_errors: the measure
   command's figure per pair) of every pair against the input's motion, its mean and worst pair, and the pairs at
   the piece boundaries. Goals: worst <= 1.3x the one process's worst, mean <= 1.15x its mean. Writes
   bench/out/scale_seam.png: the frames around the first boundary, one run a row.
3. Scale on paper. bikes.mp4's shot list (its 250 frames at 25 fps, scaled to a 10-minute film by repeating it) and
   the per-frame seconds measured in part 1, scheduled on 8 and 64 workers (pipeline.scaleout.plan.simulate) at
   several chunk lengths: makespan against the ideal (total work / workers).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from outputs import OUT, fresh_output

from pipeline.checkpoints import work_folder
from pipeline.config import RaySettings, StyleSettings, VideoSettings
from pipeline.core.geometry import processing_size
from pipeline.events import FrameDone, FrameStarted, ScaleOutPlan
from pipeline.flicker import pair_errors
from pipeline.media.probe import probe
from pipeline.media.reader import VideoReader
from pipeline.scaleout.cluster import import_ray
from pipeline.scaleout.plan import plan, simulate
from pipeline.video import stylize_video

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/work/shared/data/video/bikes.mp4")
STYLE = ROOT / "samples" / "styles" / "starry_night.jpg"
SIZE = 128
SETTINGS = StyleSettings(size=SIZE)
THROUGHPUT_FRAMES = 250
SEAM_SHOT = (76, 137)  # bikes.mp4's longest shot, frames 76..136
RATIO_GOAL, OVERHEAD_GOAL, WORST_GOAL, MEAN_GOAL = 1.8, 0.05, 1.3, 1.15


class Timeline:
    """FrameStarted/FrameDone times (perf_counter), the workers' own seconds per frame, the scale-out plan."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last = 0.0
        self.seconds: list[float] = []
        self.plan: ScaleOutPlan | None = None
        self.workers: dict[str | None, tuple[float, float, float]] = {}  # worker: (first start, last end, busy s)

    def __call__(self, event: object) -> None:
        now = time.perf_counter()
        if isinstance(event, (FrameStarted, FrameDone)) and self.first is None:
            self.first = now
        if isinstance(event, FrameDone):
            self.last = now
            self.seconds.append(event.seconds)
            began, _, busy = self.workers.get(event.worker, (now - event.seconds, now, 0.0))
            self.workers[event.worker] = (min(began, now - event.seconds), now, busy + event.seconds)
        if isinstance(event, ScaleOutPlan):
            self.plan = event


def run(name: str, video: VideoSettings, ray: RaySettings | None) -> dict:
    output = fresh_output(name)
    timeline = Timeline()
    began = time.perf_counter()
    stylize_video(SOURCE, [(STYLE, 1.0)], output, SETTINGS, replace(video, keep_frames=True), "cpu", timeline,
                  ray=ray)
    wall = time.perf_counter() - began
    frames = [cv2.imread(str(p)) for p in sorted(work_folder(output).glob("*.png"))]
    stylizing = timeline.last - timeline.first
    return {"name": name, "wall": wall, "stylizing": stylizing, "frames": frames, "seconds": timeline.seconds,
            "plan": timeline.plan, "workers": timeline.workers}


def inputs(start: int, count: int) -> list[np.ndarray]:
    """The input frames start..start+count-1 at the processing size, resized as the reader thread does."""
    info = probe(SOURCE)
    size, _ = processing_size(info.width, info.height, info.display_sar, SIZE)
    with VideoReader(SOURCE, start / float(info.fps), max_frames=count) as reader:
        return [cv2.resize(f.pixels, size, interpolation=cv2.INTER_AREA) for f in reader]


def part_throughput(threads_note: str, frames: int, started_in: float) -> dict:
    video = VideoSettings(max_frames=frames)
    one = run("scale_one.mp4", video, None)
    ray = run("scale_ray.mp4", video, RaySettings(chunk_seconds=1000, threads=1))
    same = len(one["frames"]) == len(ray["frames"]) and all(np.array_equal(a, b) for a, b in
                                                             zip(one["frames"], ray["frames"]))
    plan_ = ray["plan"]
    worker_seconds = sum(ray["seconds"])
    count = len(ray["frames"])
    gaps = sum(end - began - busy for began, end, busy in ray["workers"].values())
    idle = ray["stylizing"] * plan_.workers - sum(end - began for began, end, _ in ray["workers"].values())
    overhead = gaps / count
    per_frame = worker_seconds / count
    print(f"\n1. throughput: bikes.mp4 frames 0-{count - 1} at {SIZE} px, {plan_.shots} shots "
          f"({threads_note})")
    print(f"  {'run':<32} {'stylizing s':>11} {'frames/s':>9} {'whole call s':>12}")
    for r in (one, ray):
        print(f"  {r['name']:<32} {r['stylizing']:>11.1f} {len(r['frames']) / r['stylizing']:>9.3f} "
              f"{r['wall']:>12.1f}")
    ratio = one["stylizing"] / ray["stylizing"]
    print(f"  throughput ratio (stylizing): {ratio:.2f}x (goal >= {RATIO_GOAL}x); whole call: "
          f"{one['wall'] / ray['wall']:.2f}x")
    print(f"  Ray start-up: {started_in:.1f} s; the driver's decoding pass: {plan_.scanned_in:.2f} s")
    print(f"  worker-seconds of the Ray run: {worker_seconds:.1f} stylizing ({per_frame:.2f} s a frame, one process "
          f"{sum(one['seconds']) / len(one['frames']):.2f} s), {gaps:.1f} Ray's gaps, {idle:.1f} idle tails")
    print(f"  Ray overhead per frame: {overhead * 1000:.0f} ms = {overhead / per_frame:.1%} of a frame's "
          f"{per_frame:.2f} s (goal < {OVERHEAD_GOAL:.0%})")
    print(f"  frames bit for bit equal to one process's: {same}")
    firsts = [s for s, k in zip(one["seconds"], range(len(one["seconds"])))]
    return {"ratio": ratio, "overhead": overhead / per_frame, "same": same, "first_and_warm": firsts}


def seam_rows(name: str, frames: list[np.ndarray], reference: list[np.ndarray], boundaries: list[int]) -> dict:
    errors = pair_errors(frames, reference)
    valid = [e for e in errors if e is not None]
    at = {b: errors[b - 1] for b in boundaries}  # pair (b-1, b)
    return {"name": name, "mean": sum(valid) / len(valid), "worst": max(valid),
            "worst_at": errors.index(max(valid)), "boundaries": at}


def part_seams() -> dict:
    start, stop = SEAM_SHOT
    fps = float(probe(SOURCE).fps)
    video = VideoSettings(start=start / fps, max_frames=stop - start)
    reference = inputs(start, stop - start)
    runs = [run("seam_one.mp4", video, None)]
    chunk = RaySettings(chunk_seconds=1.0, threads=1)
    runs.append(run("seam_ray.mp4", video, chunk))
    runs.append(run("seam_ray_no_pull.mp4", video, replace(chunk, seam_frames=0)))
    pieces = plan(stop - start, [], int(fps * chunk.chunk_seconds))
    boundaries = sorted(s.start for s in pieces if s.key and s.start != s.shot)
    rows = [seam_rows(r["name"], r["frames"], reference, boundaries) for r in runs]
    one = rows[0]
    print(f"\n2. seams: bikes.mp4 frames {start}-{stop - 1} (one shot) at {SIZE} px, 1-second pieces; keyframes at "
          f"{', '.join(str(start + b) for b in boundaries)}")
    print(f"  {'run':<24} {'mean':>9} {'worst':>9} {'worst pair':>10} {'mean/one':>8} {'worst/one':>9}  boundary pairs")
    for row in rows:
        at = ", ".join(f"{start + b - 1}-{start + b}: {e:.6f}" for b, e in row["boundaries"].items() if e is not None)
        print(f"  {row['name']:<24} {row['mean']:>9.6f} {row['worst']:>9.6f} {start + row['worst_at']:>7}-"
              f"{start + row['worst_at'] + 1:<3}{row['mean'] / one['mean']:>8.2f} {row['worst'] / one['worst']:>9.2f}"
              f"  {at}")
    sheet(runs, boundaries[0] if boundaries else 1, start)
    return {"worst": rows[1]["worst"] / one["worst"], "mean": rows[1]["mean"] / one["mean"]}


def sheet(runs: list[dict], boundary: int, start: int) -> None:
    """Frames boundary-3 .. boundary+2 of each run, a row each, enlarged 2x: bench/out/scale_seam.png."""
    rows = []
    for r in runs:
        tiles = [cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
                 for f in r["frames"][boundary - 3:boundary + 3]]
        label = np.full((24, sum(t.shape[1] for t in tiles), 3), 255, np.uint8)
        cv2.putText(label, f"{r['name']}: frames {start + boundary - 3}-{start + boundary + 2}", (4, 17),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.vstack([label, np.hstack(tiles)]))
    cv2.imwrite(str(OUT / "scale_seam.png"), np.vstack(rows))
    print(f"  contact sheet: {OUT / 'scale_seam.png'}")


def part_paper(first_seconds: float, warm_seconds: float) -> None:
    frames, cuts, fps = 250, [30, 76, 137, 187, 242], 25
    film = 10 * 60 * fps  # a 10-minute film: bikes' shots over and over
    repeats = film // frames
    all_cuts = [k * frames + c for k in range(repeats) for c in [0, *cuts] if k * frames + c > 0]
    shots = len(all_cuts) + 1
    unsplit = shots * first_seconds + (film - shots) * warm_seconds
    print(f"\n3. on paper: a {film}-frame film with bikes.mp4's shots ({shots} shots), a fresh frame "
          f"{first_seconds:.2f} s and a warm one {warm_seconds:.2f} s (part 1's one-process figures)")
    print(f"  {'workers':>7} {'chunk s':>7} {'pieces':>6} {'makespan s':>10} {'ideal s':>8} {'efficiency':>10}")
    for workers in (8, 64):
        for chunk_seconds in (0.5, 1, 2, 5, 10, 1e9):
            segments = plan(film, all_cuts, max(1, int(chunk_seconds * fps)))
            schedule = simulate(segments, workers, first_seconds, warm_seconds, unsplit)
            chunk = "none" if chunk_seconds >= 1e9 else f"{chunk_seconds:g}"
            print(f"  {workers:>7} {chunk:>7} {len(segments):>6} {schedule.makespan:>10.0f} {schedule.ideal:>8.0f} "
                  f"{schedule.efficiency:>10.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--frames", type=int, default=THROUGHPUT_FRAMES, help="part 1: the first N frames")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    ray = import_ray()
    began = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    started_in = time.perf_counter() - began
    try:
        measured = (part_throughput("1 thread in one process; 2 workers of 1 thread", args.frames, started_in)
                    if "1" in parts else None)
        seams = part_seams() if "2" in parts else None
    finally:
        ray.shutdown()
    if "3" in parts:
        first, warm = (4.0, 0.6) if measured is None else (measured["first_and_warm"][0],
                                                           float(np.mean(measured["first_and_warm"][1:])))
        part_paper(first, warm)
    if measured:
        print(f"\ngoals: throughput {measured['ratio']:.2f}x (>= {RATIO_GOAL}), overhead {measured['overhead']:.1%} "
              f"(< {OVERHEAD_GOAL:.0%})", end="")
    if seams:
        print(f"; seams worst {seams['worst']:.2f}x (<= {WORST_GOAL}), mean {seams['mean']:.2f}x (<= {MEAN_GOAL})",
              end="")
    print()


if __name__ == "__main__":
    sys.exit(main())
