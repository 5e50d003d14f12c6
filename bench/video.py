"""Video-run benchmark: warm-frame speed-up, time spent outside the optimizer, and memory over long videos.

Run as `python bench/video.py` (one process at a time; torch and OpenCV are pinned to one thread each, because the
machine is shared, and the report says so). In one run it measures, on CPU:

1. Speed of warm frames. The first 30 frames (1.2 s, no scene cut: the cut is at frame 30) of bikes.mp4 at 128 px
   through pipeline.video.stylize_video with StyleSettings(size=128) and VideoSettings(max_frames=30), every other
   setting at its default. Per frame: FrameDone.seconds (wall time of the frame in the caller's thread) and the
   final-scale-equivalent iterations run (from ScaleDone, load-free). Goal: mean later frame <= 20% of the first.
2. Time outside the optimizer. Stylizer.stylize is wrapped by a perf_counter stopwatch (a subclass passed as the
   run's stylizer) for that run; inside = the sum of its calls, wall = the whole stylize_video call (checks, VGG loading, time
   estimate, decode, flow, PNG checkpoints, encode, queues, mux). Goal: 1 - inside / wall < 10%. The report splits
   the rest (setup before the first frame, gaps between frames, the tail after the last) and also gives the sum of
   FrameStarted->FrameDone intervals, which adds the caller thread's per-frame work around stylize (tensor
   conversions, warping); optical flow is computed by the reader thread, so it is in neither sum.
3. Peak memory. A 100- and a 1000-frame 64x36 testsrc2 clip at 25 fps with an AAC track (tests/media.make_clip)
   each go through the real plumbing (reader, flow, queues, checkpoints, x264, audio mux) in a fresh subprocess
   with a trivial stylizer: a Stylizer whose stylize returns a copy of its init (warped previous frame) or else its
   content, so no optimization runs but VGG is still loaded. Peak = VmHWM of that Python process, not
   getrusage's ru_maxrss: Linux carries the spawning process's high-water mark across exec into ru_maxrss (here the
   parent's ~1 GB after part 1), and into RUSAGE_CHILDREN the same way, so the ffmpeg encoder and muxer (separate
   processes) are not counted. Goal: the 1000-frame peak within 10% of the 100-frame one.
   The VGG weights and torch dominate the baseline, so the RSS growth across the frame loop is printed too.
4. The carried first step. The run of part 1 twice more, side by side: as shipped, where each warm frame's L-BFGS
   starts at the step scale of the frame before (optimize's first_step), and with a Stylizer whose stylize drops
   first_step, as before that change. Per run: VGG passes of the warm frames (calls of the objective,
   load-free), their FrameDone seconds, their mean final loss, and the warping error of the result against the
   input (pipeline.flicker.measure_video). Goal: fewer passes, at the same loss and flicker.

Writes bench/out/video_speed.mp4, video_clip_<n>.mp4, video_mem_<n>.mp4, video_step_{carried,torch}.mp4; prints
the tables and goals.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import torch
from outputs import OUT, fresh_output

from pipeline.config import StyleSettings, VideoSettings
from pipeline.core.stylizer import Stylizer
from pipeline.events import FrameDone, FrameStarted, ScaleDone, VideoPlan
from pipeline.flicker import measure_video
from pipeline.video import stylize_video

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/media.py, the clip generator the tests use (tests/ is not installed)
from tests.media import make_clip  # noqa: E402

SOURCE = Path("/work/shared/data/video/bikes.mp4")
STYLE = ROOT / "samples" / "styles" / "starry_night.jpg"
THREADS = 1
SPEED_GOAL = 0.20  # mean later frame / first frame
OUTSIDE_GOAL = 0.10  # share of wall time outside Stylizer.stylize
MEMORY_GOAL = 0.10  # relative difference of the two peaks


def pin_threads() -> None:
    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)


@dataclass
class Timeline:
    """Event callback: perf_counter times of the run's events, per-frame seconds, kinds and work."""

    plan_at: float | None = None
    started: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # FrameDone.seconds
    kinds: list[str] = field(default_factory=list)
    iterations: list[float] = field(default_factory=list)  # final-scale-equivalent iterations per frame
    _work: float = 0.0

    def __call__(self, event: object) -> None:
        now = time.perf_counter()
        if isinstance(event, VideoPlan):
            self.plan_at = now
        elif isinstance(event, FrameStarted):
            self.started.append(now)
            self.kinds.append(event.kind)
        elif isinstance(event, ScaleDone):
            # A coarse scale costs 1/4 per halving; weigh by it so frames compare in final-size iterations.
            self._work += event.iterations_run / 4 ** (event.scales - 1 - event.scale)
        elif isinstance(event, FrameDone):
            self.done.append(now)
            self.seconds.append(event.seconds)
            self.iterations.append(self._work)
            self._work = 0.0


def run_speed(frames: int, size: int) -> dict:
    """Parts 1 and 2: one default run on the first `frames` frames of bikes.mp4, stylize calls timed."""
    calls: list[float] = []

    class Timed(Stylizer):
        def stylize(self, *args, **kwargs):
            began = time.perf_counter()
            try:
                return super().stylize(*args, **kwargs)
            finally:
                calls.append(time.perf_counter() - began)

    timeline = Timeline()
    output = fresh_output("video_speed.mp4")
    began = time.perf_counter()
    result = stylize_video(SOURCE, [(STYLE, 1.0)], output, StyleSettings(size=size),
                           VideoSettings(max_frames=frames), "cpu", timeline, stylizer=Timed)
    ended = time.perf_counter()
    return {"began": began, "ended": ended, "calls": calls, "timeline": timeline, "frames": result.frames}


def speed_rows(run: dict) -> dict:
    """Derived figures of a speed run (seconds, shares) for the report."""
    t: Timeline = run["timeline"]
    wall, inside = run["ended"] - run["began"], sum(run["calls"])
    frame_spans = sum(d - s for s, d in zip(t.started, t.done))
    loop = t.done[-1] - t.started[0]
    later = t.seconds[1:]
    return {
        "frames": run["frames"], "kinds": t.kinds, "wall": wall, "inside": inside, "frame_spans": frame_spans,
        "setup": t.plan_at - run["began"], "plan_to_first": t.started[0] - t.plan_at,
        "loop": loop, "loop_gaps": loop - frame_spans, "tail": run["ended"] - t.done[-1],
        "first_s": t.seconds[0], "later_s": sum(later) / len(later),
        "first_it": t.iterations[0], "later_it": sum(t.iterations[1:]) / len(later),
        "later_min": min(later), "later_max": max(later),
    }


def print_speed(r: dict) -> None:
    cuts = r["kinds"].count("cut")
    print(f"\n1/2. bikes.mp4, first {r['frames']} frames at 128 px, StyleSettings(size=128), VideoSettings() defaults"
          f" (frame kinds: {r['kinds'].count('first')} first, {cuts} cut, {r['kinds'].count('warm')} warm)")
    print(f"  first frame            {r['first_s']:8.2f} s   {r['first_it']:6.0f} iterations")
    print(f"  later frames, mean     {r['later_s']:8.3f} s   {r['later_it']:6.1f} iterations"
          f"   (min {r['later_min']:.3f} s, max {r['later_max']:.3f} s)")
    print(f"  later / first          {r['later_s'] / r['first_s']:8.1%}     {r['later_it'] / r['first_it']:6.1%} (iterations)")
    wall = r["wall"]
    print(f"  wall time of stylize_video          {wall:8.2f} s  100.0%")
    for label, key in (("inside Stylizer.stylize (timed)", "inside"),
                       ("  FrameStarted->FrameDone sum", "frame_spans"),
                       ("before VideoPlan (checks, VGG load)", "setup"),
                       ("VideoPlan -> first frame (estimate)", "plan_to_first"),
                       ("gaps between frames (main waits)", "loop_gaps"),
                       ("after last FrameDone (flush, encode)", "tail")):
        print(f"  {label:<36}{r[key]:8.2f} s  {r[key] / wall:6.1%}")
    outside_loop = 1 - r["inside"] / r["loop"]
    print(f"  outside the optimizer, whole call   {wall - r['inside']:8.2f} s  {1 - r['inside'] / wall:6.1%}")
    print(f"  outside the optimizer, frame loop only (first FrameStarted -> last FrameDone): {outside_loop:.1%}")


def run_first_step(frames: int, size: int, carried: bool) -> dict:
    """Part 4: the run of part 1, with or without the carried first step; passes counted per frame."""
    passes, per_frame, seconds, losses, kinds = [0], [], [], [], []

    class Counted(Stylizer):
        def stylize(self, *args, **kwargs):
            if not carried:
                kwargs["first_step"] = None
            return super().stylize(*args, **kwargs)

        def objective(self, *args, **kwargs):
            inner = super().objective(*args, **kwargs)

            def counted(image):
                passes[0] += 1
                return inner(image)
            return counted

    def on_event(event: object) -> None:
        if isinstance(event, FrameStarted):
            kinds.append(event.kind)
            passes[0] = 0
        elif isinstance(event, FrameDone):
            per_frame.append(passes[0])
            seconds.append(event.seconds)
            losses.append(event.loss)

    output = fresh_output(f"video_step_{'carried' if carried else 'torch'}.mp4")
    stylize_video(SOURCE, [(STYLE, 1.0)], output, StyleSettings(size=size), VideoSettings(max_frames=frames),
                  "cpu", on_event, stylizer=Counted)
    warm = [k for k, kind in enumerate(kinds) if kind == "warm"]
    return {"warm": len(warm), "passes": sum(per_frame[k] for k in warm) / len(warm),
            "seconds": sum(seconds[k] for k in warm) / len(warm), "loss": sum(losses[k] for k in warm) / len(warm),
            "flicker": measure_video(output, SOURCE, frames)[0]}


def print_first_step(runs: dict[str, dict]) -> None:
    print("\n4. the carried first step: part 1's run as shipped, and with first_step dropped (torch's own short "
          "first step)")
    print(f"  {'run':<26} {'warm frames':>11} {'passes/frame':>12} {'s/frame':>8} {'mean loss':>9} "
          f"{'warping error':>13}")
    for name, r in runs.items():
        print(f"  {name:<26} {r['warm']:>11} {r['passes']:>12.2f} {r['seconds']:>8.3f} {r['loss']:>9.4f} "
              f"{r['flicker']:>13.6f}")
    new, old = runs["carried (shipped)"], runs["torch's first step"]
    print(f"  carried / torch's: passes {new['passes'] / old['passes']:.1%}, seconds "
          f"{new['seconds'] / old['seconds']:.1%}, loss {new['loss'] / old['loss']:.2%}, warping error "
          f"{new['flicker'] / old['flicker']:.1%}")


def read_status(field_name: str) -> int:
    """A kB field of /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def memory_child(clip: Path, size: int) -> None:
    """Part 3, in a fresh process: the real plumbing with a pass-through stylizer; prints one JSON line."""
    pin_threads()

    class Passthrough(Stylizer):
        def stylize(self, content, *, init=None, **_ignored):
            return (init if init is not None else content).clone()

    rss: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, FrameDone):
            rss.append(read_status("VmRSS"))

    output = fresh_output(f"video_mem_{clip.stem.rsplit('_', 1)[-1]}.mp4")
    began = time.perf_counter()
    result = stylize_video(clip, [(STYLE, 1.0)], output, StyleSettings(size=size), VideoSettings(), "cpu", on_event,
                           stylizer=Passthrough)
    tenth = rss[len(rss) // 10]
    print(json.dumps({"frames": result.frames, "seconds": time.perf_counter() - began, "hwm_kb": read_status("VmHWM"),
                      "rss_first_kb": rss[0], "rss_tenth_kb": tenth, "rss_last_kb": rss[-1], "rss_max_kb": max(rss)}))


def run_memory(frames: int, size: int) -> dict:
    """Generate a `frames`-frame 64x36 clip and measure one pass-through run of it in a fresh subprocess."""
    clip = make_clip(OUT / f"video_clip_{frames}.mp4", width=64, height=36, frames=frames, fps="25")
    argv = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(clip), "--size", str(size)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory run of {frames} frames failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_memory(runs: dict[int, dict]) -> None:
    print("\n3. peak memory, 64x36 testsrc2 + AAC at 25 fps, real plumbing, pass-through Stylizer.stylize "
          "(fresh process per run)")
    print(f"  {'frames':>6} {'run s':>6} {'VmHWM MB':>9} "
          f"{'RSS@frame1':>10} {'RSS@10%':>8} {'RSS@last':>8} {'last-10%':>8}")
    for n, m in runs.items():
        mb = {k: v / 1024 for k, v in m.items() if k.endswith("_kb")}
        print(f"  {m['frames']:>6} {m['seconds']:>6.1f} {mb['hwm_kb']:>9.1f} "
              f"{mb['rss_first_kb']:>10.1f} {mb['rss_tenth_kb']:>8.1f} "
              f"{mb['rss_last_kb']:>8.1f} {mb['rss_last_kb'] - mb['rss_tenth_kb']:>+8.1f}")


def print_goals(speed: dict | None, memory: dict[int, dict]) -> None:
    rows = []
    if speed:
        ratio, outside = speed["later_s"] / speed["first_s"], 1 - speed["inside"] / speed["wall"]
        rows.append(("mean later frame / first frame (FrameDone s)", f"{ratio:.1%}", f"<= {SPEED_GOAL:.0%}",
                     ratio <= SPEED_GOAL))
        rows.append(("wall time outside Stylizer.stylize", f"{outside:.1%}", f"< {OUTSIDE_GOAL:.0%}",
                     outside < OUTSIDE_GOAL))
    if len(memory) == 2:
        small, large = (memory[n]["hwm_kb"] for n in sorted(memory))
        change = large / small - 1
        rows.append((f"peak RSS, {max(memory)} vs {min(memory)} frames", f"{change:+.1%} ({large / 1024:.0f} vs "
                     f"{small / 1024:.0f} MB)", f"within {MEMORY_GOAL:.0%}", abs(change) <= MEMORY_GOAL))
    print(f"\n{'goal':<46} {'measured':<26} {'target':<10} result")
    print("-" * 92)
    for text, value, target, ok in rows:
        print(f"{text:<46} {value:<26} {target:<10} {'PASS' if ok else 'FAIL'}")


def print_machine(when: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"machine ({when}): {os.cpu_count()} CPUs, load average {one:.2f} / {five:.2f} / {fifteen:.2f} "
          f"(1/5/15 min); torch {torch.__version__} with {torch.get_num_threads()} thread(s) and OpenCV "
          f"{cv2.getNumThreads()} thread(s), both set by this bench; device cpu", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=30, help="frames of bikes.mp4 for parts 1-2 (no cut before 30)")
    p.add_argument("--size", type=int, default=128, help="long side in pixels")
    p.add_argument("--memory-frames", default="100,1000", help="clip lengths for part 3")
    p.add_argument("--skip-speed", action="store_true", help="skip parts 1-2")
    p.add_argument("--skip-first-step", action="store_true", help="skip part 4")
    p.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)  # internal: one part-3 run
    ns = p.parse_args()
    if ns.memory_child:
        memory_child(ns.memory_child, ns.size)
        return
    pin_threads()
    print_machine("start")
    speed = None
    if not ns.skip_speed:
        print(f"parts 1-2: stylizing {ns.frames} frames of {SOURCE.name} ...", flush=True)
        speed = speed_rows(run_speed(ns.frames, ns.size))
        print_speed(speed)
    memory = {}
    for n in (int(x) for x in ns.memory_frames.split(",") if x):
        print(f"part 3: {n}-frame clip in a subprocess ...", flush=True)
        memory[n] = run_memory(n, ns.size)
    if memory:
        print_memory(memory)
    if not ns.skip_first_step:
        print(f"part 4: {ns.frames} frames twice, with and without the carried first step ...", flush=True)
        runs = {"torch's first step": run_first_step(ns.frames, ns.size, carried=False),
                "carried (shipped)": run_first_step(ns.frames, ns.size, carried=True)}
        print_first_step(runs)
    print_goals(speed, memory)
    print()
    print_machine("end")


if __name__ == "__main__":
    main()
