"""Thread-count benchmark: small jobs with 1 and 2 torch/OpenCV threads, on the machine as it is and with a busy-loop
process holding one core, side by side in one run.

Run as `python bench/threads.py [--threads 1 2] [--repeats 1] [--settle 60] [--skip-live]`. Each measurement is a fresh
`python bench/threads.py --child JOB N` process that times the library call only (imports excluded, VGG19's loading
included), with `threads=N` (StyleSettings.threads, as --threads N):

- video: the first 10 frames of bikes.mp4 (/work/shared/data/video/, else samples/) at 64 px with the draft preset's
  80 iterations for the first frame (one scale at this size) and the default warm frames: seconds, lower is better;
- still: samples/tubingen.jpg at 256 px, one scale of 30 iterations: seconds;
- live: bikes.mp4 played live for 8 s at 128 px, headless, no recording: frames shown per second, higher is better.

Conditions: "as is" (nothing started by the bench; idle only if nothing else runs, so the report gives the load
average before each job) and "hog" (the bench starts `python -c 'while True: pass'`, one core's worth of another
program, waits --settle seconds so that the 1-minute load average sees it, and stops it after the job). Per job and
condition the thread counts alternate over the repeats (1 2, then 2 1) so that a drift of the load weighs on both.
The report also gives what the automatic default (core/cpu_threads.default_threads, live: reserving
LIVE_RESERVED_CPUS) would choose at that moment, and the ratio of each count's figure to 1 thread's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data/video/bikes.mp4")
CLIP = DATA if DATA.exists() else ROOT / "samples" / "bikes.mp4"
PHOTO = ROOT / "samples" / "tubingen.jpg"
STYLE = ROOT / "samples" / "styles" / "starry_night.jpg"
OUT = Path(__file__).resolve().parent / "out"
JOBS = ("video", "still", "live")
HIGHER_IS_BETTER = {"live"}
UNIT = {"video": "s", "still": "s", "live": "fps"}


@contextlib.contextmanager
def cpu_hog(settle: float) -> Iterator[None]:
    """One busy-loop process for the duration of the block, started `settle` seconds before it."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(settle)
        yield
    finally:
        hog.kill()
        hog.wait()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def child(job: str, threads: int) -> None:
    """One measurement in this process; prints {"value": seconds or fps}."""
    from dataclasses import replace

    from pipeline.config import LiveSettings, OptimSettings, StyleSettings, VideoSettings
    from pipeline.live import live
    from pipeline.still import stylize_image_file
    from pipeline.video import stylize_video

    OUT.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    if job == "video":
        settings = StyleSettings(size=64, optim=replace(OptimSettings(), iterations=80), threads=threads)
        stylize_video(CLIP, [(STYLE, 1.0)], OUT / f"threads_{threads}.mp4", settings,
                      VideoSettings(max_frames=10, overwrite=True), "cpu")
        value = time.perf_counter() - began
    elif job == "still":
        settings = StyleSettings(size=256, optim=replace(OptimSettings(), iterations=30, max_scales=1),
                                 threads=threads)
        stylize_image_file(PHOTO, [(STYLE, 1.0)], OUT / f"threads_{threads}.png", settings, "cpu", overwrite=True)
        value = time.perf_counter() - began
    else:
        result = live(str(CLIP), [str(STYLE)], StyleSettings(threads=threads), LiveSettings(size=128, max_seconds=8),
                      device="cpu")
        value = result.fps
    print(json.dumps({"value": value}))


def measure(job: str, threads: int) -> float:
    done = subprocess.run([sys.executable, __file__, "--child", job, str(threads)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{job} with {threads} threads failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])["value"]


def automatic(job: str) -> int:
    from pipeline.config import LIVE_RESERVED_CPUS
    from pipeline.core.cpu_threads import default_threads

    return default_threads(LIVE_RESERVED_CPUS if job == "live" else 0)


def run_condition(jobs: list[str], counts: list[int], repeats: int) -> dict[str, dict]:
    rows = {}
    for job in jobs:
        values: dict[int, list[float]] = {n: [] for n in counts}
        loads, chosen = [load()], automatic(job)
        for repeat in range(repeats):
            for n in (counts if repeat % 2 == 0 else counts[::-1]):
                values[n].append(measure(job, n))
                loads.append(load())
        rows[job] = {"values": {n: statistics.median(v) for n, v in values.items()}, "auto": chosen, "loads": loads}
        print(f"  {job}: " + ", ".join(f"{n} thread(s) {statistics.median(v):.2f} {UNIT[job]}"
                                       for n, v in values.items()) + f" (load {' -> '.join(loads)})", flush=True)
    return rows


def print_table(results: dict[str, dict[str, dict]], counts: list[int]) -> None:
    print()
    head = " | ".join(f"{n} thread{'s' * (n != 1)}" for n in counts)
    print(f"| job | condition | {head} | {' | '.join(f'{n} vs 1' for n in counts[1:])} | automatic chose |")
    print("|---" * (3 + 2 * len(counts) - 1) + "|")
    for condition, rows in results.items():
        for job, row in rows.items():
            values = row["values"]
            figures = " | ".join(f"{values[n]:.2f} {UNIT[job]}" for n in counts)
            # As a speed-up: > 1 means more threads did better, for seconds and fps alike.
            ratios = " | ".join(f"{(values[n] / values[1]) if job in HIGHER_IS_BETTER else values[1] / values[n]:.2f}x"
                                for n in counts[1:])
            print(f"| {job} | {condition} | {figures} | {ratios} | {row['auto']} |")
    print("\n(N vs 1: speed with N threads over speed with 1; above 1x more threads helped.)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts, 1 first (default 1 2)")
    p.add_argument("--repeats", type=int, default=1, help="measurements per count, job and condition (median)")
    p.add_argument("--settle", type=float, default=60.0, help="seconds the hog runs before the jobs (load average)")
    p.add_argument("--jobs", nargs="+", choices=JOBS, default=list(JOBS))
    p.add_argument("--child", nargs=2, metavar=("JOB", "THREADS"), help=argparse.SUPPRESS)
    ns = p.parse_args()
    if ns.child:
        child(ns.child[0], int(ns.child[1]))
        return
    counts = sorted(set(ns.threads) | {1})
    print(f"{time.strftime('%Y-%m-%d %H:%M')}: {os.cpu_count()} CPUs, this process may use "
          f"{len(os.sched_getaffinity(0))}; load average (1/5 min) {load()}; clip {CLIP}", flush=True)
    results = {}
    print("as is:", flush=True)
    results["as is"] = run_condition(ns.jobs, counts, ns.repeats)
    print(f"hog (one busy-loop process, {ns.settle:g} s to settle):", flush=True)
    with cpu_hog(ns.settle):
        results["hog"] = run_condition(ns.jobs, counts, ns.repeats)
    print_table(results, counts)


if __name__ == "__main__":
    main()
