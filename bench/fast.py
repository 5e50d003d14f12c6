"""The fast painter against the default path, side by side in one run: time, flicker, style, and a contact sheet.

Run as `python bench/fast.py` (one process; torch and OpenCV at --threads, 2 by default). On the shared bikes clip
(/work/shared/data/video/bikes.mp4, 10 s, 250 frames, a cut at frame 30) at --size 256 with one style:

1. default: pipeline.video.stylize_video with StyleSettings(size=256) and VideoSettings() (every frame optimized);
2. fast: the same call with FastSettings() (--fast; the network is also saved, --save-model);
3. blend variants: the saved network again (--model: inference only) with other `blend` values (default 0 and 0.5),
   to choose the temporal default by measurement; the main fast run uses FastSettings().blend.
Frames are read back from the runs' lossless PNG work folders (keep_frames), so no H.264 loss enters the measures.

Measured, each independently of how it was made:
- wall time of each stylize_video call (goal: fast <= 1/4 of default), and the fast run's phases from its events
  (scan, keyframes, training, frames);
- warping error (pipeline.flicker.warping_error against the resized input frames, cuts skipped; goal: fast <=
  default);
- style loss per frame: the Stylizer's style term (sum over layers of w_l ||G - A||^2 / ||A||^2, in float32) of each
  output frame against the painting's Gram targets at the frame's size (goal: every fast frame <= 1.5x the default
  path's mean);
- the training curve (loss against seconds), and the clip length from which --fast is faster, from the measured
  per-phase costs (the default: first frame + warm frames; fast: scan and frames per frame, keyframes at the measured
  density, training steps by planned_steps);
- bench/out/fast_sheet.png: rows of frames, input | default | fast, to be looked at.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from outputs import OUT, fresh_output

from pipeline.checkpoints import work_folder
from pipeline.config import FastSettings, OptimSettings, StyleSettings, VideoSettings
from pipeline.core.geometry import processing_size
from pipeline.core.losses import style_loss
from pipeline.core.stylizer import Stylizer
from pipeline.events import FastPlan, FrameDone, KeyframeDone, TrainingDone, TrainingProgress, VideoPlan
from pipeline.fast.training import planned_steps
from pipeline.flicker import warping_error
from pipeline.media.frames import bgr_to_tensor, load_image
from pipeline.media.reader import VideoReader
from pipeline.video import stylize_video

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/work/shared/data/video/bikes.mp4")
STYLE = Path("/work/shared/data/styles/starry_night.jpg")
SHEET_ROWS = (0, 29, 30, 60, 99, 120, 180, 249)  # those the selection holds


@dataclass
class Run:
    """One stylize_video call: its frames (HxWx3 BGR uint8), wall seconds and the events it sent, with times."""

    name: str
    frames: list[np.ndarray] = field(default_factory=list)
    wall: float = 0.0
    events: list[tuple[float, object]] = field(default_factory=list)

    def of(self, kind: type) -> list:
        return [e for _, e in self.events if isinstance(e, kind)]

    def first_time(self, kind: type) -> float:
        return next(t for t, e in self.events if isinstance(e, kind))


def read_inputs(size: int) -> list[np.ndarray]:
    with VideoReader(SOURCE) as reader:
        info = reader.info
        shape, _ = processing_size(info.width, info.height, info.display_sar, size)
        return [cv2.resize(f.pixels, shape, interpolation=cv2.INTER_AREA) for f in reader]


def run(name: str, settings: StyleSettings, fast: FastSettings | None, frames: int | None) -> Run:
    output = fresh_output(f"fast_{name.replace(' ', '_').replace('=', '')}.mp4")  # "fast b=0.8" -> fast_fast_b0.8.mp4
    record = Run(name)
    began = time.monotonic()
    video = VideoSettings(keep_frames=True, preset="ultrafast", max_frames=frames)
    result = stylize_video(SOURCE, [(STYLE, 1.0)], output, settings, video, "cpu",
                           lambda event: record.events.append((time.monotonic() - began, event)), fast=fast)
    record.wall = time.monotonic() - began
    record.frames = [cv2.imread(str(p)) for p in sorted(work_folder(output).glob("[0-9]*.png"))]
    assert len(record.frames) == result.frames
    print(f"  {name}: {record.wall:.1f} s for {result.frames} frames", flush=True)
    return record


@torch.no_grad()
def style_losses(judge: Stylizer, frames: list[np.ndarray]) -> np.ndarray:
    """The style term of each frame against the painting's targets at its size (float32 VGG19)."""
    layers = judge.settings.loss.style_layers
    out = []
    for frame in frames:
        image = bgr_to_tensor(frame)
        targets = judge.style_targets((image.shape[2], image.shape[3]))
        feats = judge.vgg(image)
        out.append(float(sum(judge.layer_weights[k] * style_loss(feats[k], targets[k]) for k in layers)))
    return np.array(out)


def phases(fast: Run) -> dict:
    """Seconds of the fast run's phases, from its events."""
    plan_at, fast_plan_at = fast.first_time(VideoPlan), fast.first_time(FastPlan)
    keys = fast.of(KeyframeDone)
    training = fast.of(TrainingDone)[0]
    first_frame = next(t - e.seconds for t, e in fast.events if isinstance(e, FrameDone))
    frames = len(fast.frames)
    return {"setup": plan_at, "scan": fast_plan_at - plan_at, "keys": sum(k.seconds for k in keys),
            "key_count": len(keys), "training": training.seconds, "steps": training.steps,
            "frames": fast.wall - first_frame, "per_frame": (fast.wall - first_frame) / frames}


def crossover(default: Run, fast: Run, settings: FastSettings, frames: int) -> int | None:
    """The smallest clip length (frames) for which the fast run is modelled faster than the default one."""
    done = default.of(FrameDone)
    first, warm = done[0].seconds, float(np.mean([e.seconds for e in done[1:]]))
    setup = default.first_time(VideoPlan)
    p = phases(fast)
    key_mean, key_density = p["keys"] / p["key_count"], p["key_count"] / frames
    per_step = p["training"] / p["steps"]
    for n in range(1, 100_000):
        default_s = setup + first + (n - 1) * warm
        fast_s = (p["setup"] + (p["scan"] / frames + p["per_frame"]) * n + key_mean * max(1.0, key_density * n)
                  + per_step * planned_steps(n, settings))
        if fast_s < default_s:
            return n
    return None


def sheet(path: Path, inputs: list[np.ndarray], runs: list[Run], scale: int = 2) -> None:
    rows = []
    for index in (i for i in SHEET_ROWS if i < len(inputs)):
        cells = [inputs[index]] + [r.frames[index] for r in runs]
        cells = [cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for c in cells]
        for cell, label in zip(cells, [f"input {index}"] + [r.name for r in runs]):
            cv2.putText(cell, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(cv2.hconcat([np.pad(c, ((2, 2), (2, 2), (0, 0))) for c in cells]))
    cv2.imwrite(str(path), cv2.vconcat(rows))


def report(default: Run, runs: list[Run], inputs: list[np.ndarray], judge: Stylizer) -> dict:
    floor = warping_error(inputs, inputs)
    base_style = style_losses(judge, default.frames)
    base_error = warping_error(default.frames, inputs)
    print(f"\ninput's own warping error (floor): {floor:.6f}")
    print(f"{'run':<16} {'wall s':>8} {'x default':>9} {'warp err':>9} {'x default':>9} {'style mean':>10} "
          f"{'style max':>9} {'max/def mean':>12} {'frames <= 1.5x':>14}")
    rows = {}
    for r in [default, *runs]:
        style = base_style if r is default else style_losses(judge, r.frames)
        error = base_error if r is default else warping_error(r.frames, inputs)
        within = float(np.mean(style <= 1.5 * base_style.mean()))
        rows[r.name] = {"wall": r.wall, "error": error, "style_mean": float(style.mean()),
                        "style_max": float(style.max()), "within": within, "style": style.round(5).tolist()}
        wall = f"{r.wall:>8.1f} {r.wall / default.wall:>9.3f}" if r.wall else f"{'-':>8} {'-':>9}"
        print(f"{r.name:<16} {wall} {error:>9.6f} {error / base_error:>9.3f} {style.mean():>10.4f} "
              f"{style.max():>9.4f} {style.max() / base_style.mean():>12.2f} {within:>14.1%}")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads (1 while another job holds a core)")
    p.add_argument("--frames", type=int, help="only the first N frames, for every run (default: the whole clip)")
    p.add_argument("--fast-settings", default="{}", help='FastSettings fields as JSON, e.g. {"style_boost": 3}')
    p.add_argument("--blends", default="0,0.5", help="blend values to compare with the saved network")
    p.add_argument("--skip-default", action="store_true",
                   help="reuse the default run of the last bench (bench/out/fast_default.*): for trying the fast "
                        "side; the figures of record come from a run without it")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    cv2.setNumThreads(ns.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    settings = StyleSettings(size=ns.size, threads=ns.threads)
    asked = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(ns.fast_settings).items()}
    fast = FastSettings(**{**asked, "save_model": str(OUT / "fast_model.pt")})
    (OUT / "fast_model.pt").unlink(missing_ok=True)
    inputs = read_inputs(ns.size)[:ns.frames]
    print(f"{len(inputs)} frames of {SOURCE.name} at {inputs[0].shape[1]}x{inputs[0].shape[0]}, style {STYLE.name}, "
          f"{ns.threads} threads", flush=True)
    # The fast side first: it is the short one, and what is tried; the default run is kept for --skip-default.
    fast_run = run(f"fast b={fast.blend:g}", settings, fast, ns.frames)
    variants = []
    for blend in (float(b) for b in ns.blends.split(",") if b):
        variant = run(f"fast b={blend:g}", settings, replace(fast, save_model=None, model=str(OUT / "fast_model.pt"),
                                                             blend=blend), ns.frames)
        variant.wall = 0.0  # inference only: its time is not the fast path's
        variants.append(variant)
    default = cached_default() if ns.skip_default else run("default", settings, None, ns.frames)
    if not ns.skip_default:
        save_default(default)
    judge = Stylizer([(load_image(STYLE), 1.0)], replace(settings, optim=OptimSettings(amp=False)),
                     torch.device("cpu"))
    rows = report(default, [fast_run, *variants], inputs, judge)
    p_ = phases(fast_run)
    print("\nfast phases (s): " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                              for k, v in p_.items()))
    plan = fast_run.of(FastPlan)[0]
    print(f"keyframes: {', '.join(f'{i} ({why})' for i, why in plan.keyframes)}; pool {plan.pool} frames")
    keys = [i for i, _ in plan.keyframes]
    for name, row in rows.items():
        style = np.array(row["style"])
        others = np.delete(style, keys)
        print(f"  {name}: style at the keyframes {style[keys].mean():.4f}, elsewhere {others.mean():.4f} "
              f"(worst frame {int(style.argmax())})")
    print("training curve (s, loss): " + ", ".join(f"{r.seconds:.0f} {r.loss:.3f}"
                                                   for r in fast_run.of(TrainingProgress)[::3]))
    cross = crossover(default, fast_run, fast, len(inputs))
    fps = 25.0
    print(f"--fast is modelled faster from {cross} frames ({cross / fps:.1f} s at 25 fps)" if cross else
          "--fast never wins in the model")
    f_row, d_row = rows[fast_run.name], rows["default"]
    goals = [("wall time <= 1/4 of default", f_row["wall"] <= d_row["wall"] / 4,
              f"{f_row['wall'] / d_row['wall']:.3f}"),
             ("warping error <= default", f_row["error"] <= d_row["error"], f"{f_row['error'] / d_row['error']:.3f}x"),
             ("every frame's style <= 1.5x default mean", f_row["within"] == 1.0,
              f"{f_row['within']:.1%} of frames; max {f_row['style_max'] / d_row['style_mean']:.2f}x")]
    print("\ngoals:")
    for text, ok, value in goals:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}: {value}")
    sheet(OUT / "fast_sheet.png", inputs, [default, fast_run, *variants[:1]])
    print(f"\ncontact sheet: {OUT / 'fast_sheet.png'}")
    results = {"rows": rows, "phases": p_, "crossover_frames": cross}
    (OUT / "fast_results.json").write_text(json.dumps(results, indent=1))


def save_default(default: Run) -> None:
    done = default.of(FrameDone)
    data = {"wall": default.wall, "plan_at": default.first_time(VideoPlan),
            "frame_seconds": [e.seconds for e in done]}
    (OUT / "fast_default.json").write_text(json.dumps(data))


def cached_default() -> Run:
    data = json.loads((OUT / "fast_default.json").read_text())
    record = Run("default", wall=data["wall"])
    record.frames = [cv2.imread(str(p)) for p in sorted(work_folder(OUT / "fast_default.mp4").glob("[0-9]*.png"))]
    plan_at = data["plan_at"]
    record.events = [(plan_at, VideoPlan(SOURCE, SOURCE, None, (0, 0), (0, 0), 1, (), "cpu", 0, None))]
    record.events += [(plan_at, FrameDone(i, None, 0.0, s)) for i, s in enumerate(data["frame_seconds"])]
    print(f"  default (cached): {record.wall:.1f} s for {len(record.frames)} frames", flush=True)
    return record


if __name__ == "__main__":
    main()
