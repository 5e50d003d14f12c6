"""Temporal-coherence benchmark: flicker (warping error), speed and style of four ways to stylize a video.

Run as `python bench/temporal.py` (one process; torch and OpenCV pinned to one thread each, the machine is shared).
On 2 seconds of bikes.mp4 (default: from 0.8 s, frames 20-69, which hold the hard cut at frame 30, selection index
10) at 128 px, with one style and the same first-frame effort (StyleSettings defaults: 200 iterations), it runs:

1. independent: every frame stylized from its content with the first frame's full effort (flicker baseline);
2. naive: each later frame started from the previous output, unwarped, fixed frame_iterations, no temporal loss,
   no cut detection (VideoSettings(warp=False, temporal_weight=0, detect_cuts=False));
3. warped: started from the previous output warped along the flow, otherwise as 2;
4. ours: stylize_video's defaults (VideoSettings()): 3 plus the temporal loss, scene cuts and adaptive effort.
And a reference row, "warp only": 4's first frame (and its frame after the cut) carried along the input's flow with
no optimization at all, the steadiest a painted video can be under this metric (its texture is resampled at every
step, by the warm start and again by the metric's own warp, which the smooth input video suffers far less).

2-4 run through pipeline.video.stylize_video; their frames are read back from the lossless PNG work folder (so no
H.264 loss enters the measures), 1 runs Stylizer.stylize frame by frame on the same resized frames.

Measured for each, independently of how it was made:
- warping error (Lai et al. 2018, pipeline.flicker.warping_error) against the motion of the resized input frames,
  pairs across the cut skipped; the input's own error is the floor;
- seconds: the first frame's, and the mean over later frames (FrameDone.seconds; wall time, so machine load moves
  it: the iterations columns are load-free); "iters" are final-scale-equivalent iterations actually run;
- carry floor: the warping error the run would have if every next frame were frame t carried along the input's motion
  (the metric's own resampling of the run's texture: sharper texture, higher floor, however steady); settling: the
  warping error above that floor over the two pairs after each first frame or cut (a first frame that its warm
  frames visibly finish);
- style and content loss per frame: the Stylizer's own terms (weighted style term and relative content term,
  unscaled by their weights) of each output frame against its content frame, for all four the same objective.

Writes under bench/out/: temporal_<variant>.mp4 (+ .frames work folders), temporal_sheet.png (rows of frames:
input | 1 independent | 4 ours) and prints a table and the goals of 4.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from outputs import OUT, fresh_output

from pipeline.checkpoints import work_folder
from pipeline.config import StyleSettings, VideoSettings
from pipeline.core.geometry import processing_size
from pipeline.core.losses import content_loss, style_loss
from pipeline.core.stylizer import Stylizer
from pipeline.core.temporal import consistency_mask, estimate_flow, scene_cut, warp
from pipeline.events import FrameDone, FrameStarted, IterationEvent, ScaleDone
from pipeline.flicker import warping_error
from pipeline.media.frames import bgr_to_tensor, load_image, tensor_to_bgr
from pipeline.media.reader import VideoReader
from pipeline.video import stylize_video

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/work/shared/data/video/bikes.mp4")
STYLE = ROOT / "samples" / "styles" / "starry_night.jpg"
DEVICE = torch.device("cpu")
SHEET_ROWS = (1, 2, 8, 9, 11, 12, 29, 30, 48, 49)  # consecutive pairs show flicker; 9 -> 10 is the cut


@dataclass
class Run:
    """What one variant produced: frames (HxWx3 BGR uint8), per-frame seconds, work and kinds."""

    name: str
    frames: list[np.ndarray] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    iterations: list[float] = field(default_factory=list)  # final-scale-equivalent iterations run, per frame
    kinds: list[str] = field(default_factory=list)


class Recorder:
    """Collects per-frame work from Stylizer/pipeline events: iterations run, weighted by each scale's pixels."""

    def __init__(self, final_size: tuple[int, int]) -> None:
        self.final_area = final_size[0] * final_size[1]
        self.sizes: dict[int, tuple[int, int]] = {}
        self.work = 0.0
        self.seconds: list[float] = []
        self.kinds: list[str] = []
        self.per_frame: list[float] = []

    def __call__(self, event: object) -> None:
        if isinstance(event, IterationEvent):
            self.sizes[event.scale] = event.size
        elif isinstance(event, ScaleDone):
            h, w = self.sizes.get(event.scale, (1, 1))
            self.work += event.iterations_run * h * w / self.final_area
        elif isinstance(event, FrameStarted):
            self.kinds.append(event.kind)
        elif isinstance(event, FrameDone):
            self.seconds.append(event.seconds)
            self.end_frame()

    def end_frame(self) -> None:
        self.per_frame.append(self.work)
        self.work = 0.0


def read_frames(start: float, seconds: float, long_side: int) -> list[np.ndarray]:
    """The selection at the processing size, resized exactly as pipeline.video's reader does."""
    with VideoReader(SOURCE, start, seconds) as reader:
        info = reader.info
        size, _ = processing_size(info.width, info.height, info.display_sar, long_side)
        return [cv2.resize(f.pixels, size, interpolation=cv2.INTER_AREA) for f in reader]


def run_independent(stylizer: Stylizer, frames: list[np.ndarray]) -> Run:
    recorder = Recorder(frames[0].shape[:2])
    out = []
    for i, frame in enumerate(frames):
        began = time.monotonic()
        out.append(tensor_to_bgr(stylizer.stylize(bgr_to_tensor(frame, DEVICE), on_event=recorder)))
        recorder.seconds.append(time.monotonic() - began)
        recorder.kinds.append("first")
        recorder.end_frame()
        print(f"  independent frame {i + 1}/{len(frames)}: {recorder.seconds[-1]:.2f} s", flush=True)
    return Run("1 independent", out, recorder.seconds, recorder.per_frame, recorder.kinds)


def warp_only(ours: Run, inputs: list[np.ndarray]) -> Run:
    """`ours`'s first and after-cut frames, each later frame the previous one warped along the input's flow."""
    out: list[np.ndarray] = []
    for t, (frame, kind) in enumerate(zip(ours.frames, ours.kinds)):
        if kind != "warm":
            out.append(frame)
        else:
            moved = warp(bgr_to_tensor(out[-1], DEVICE), estimate_flow(inputs[t], inputs[t - 1]))
            out.append(tensor_to_bgr(moved))
    n = len(out)
    return Run("warp only", out, [ours.seconds[0]] + [0.0] * (n - 1), [ours.iterations[0]] + [0.0] * (n - 1),
               ours.kinds)


def run_pipeline(name: str, tag: str, settings: StyleSettings, video: VideoSettings, size: tuple[int, int]) -> Run:
    output = fresh_output(f"temporal_{tag}.mp4")
    recorder = Recorder(size)
    result = stylize_video(SOURCE, [(STYLE, 1.0)], output, settings, replace(video, keep_frames=True), "cpu", recorder)
    frames = [cv2.imread(str(p)) for p in sorted(work_folder(output).glob("*.png"))]
    assert len(frames) == result.frames, (len(frames), result.frames)
    return Run(name, frames, recorder.seconds, recorder.per_frame, recorder.kinds)


def carry_floor(frames: list[np.ndarray], inputs: list[np.ndarray]) -> tuple[float, float]:
    """(carry floor, excess of the first two pairs of each shot) of a stylized run, on the pairs warping_error keeps.

    carry floor: the warping error the run would have if each next frame were its frame t carried along the input's
    motion (bilinear, as a warm start is) instead of painted: the metric's own resampling of this run's texture,
    which grows with the texture's sharpness however steady the painting. excess: warping error minus floor over the
    two pairs after a first frame or a cut, where a first frame that is not settled is visibly finished by its warm
    frames."""
    floors, excess, since = [], [], 0
    for t in range(len(inputs) - 1):
        since = 0 if scene_cut(inputs[t], inputs[t + 1]) else since + 1
        if since == 0:
            continue
        flow = estimate_flow(inputs[t], inputs[t + 1])
        mask = consistency_mask(flow, estimate_flow(inputs[t + 1], inputs[t])) > 0.5
        if not mask.any():
            continue
        prev, nxt = bgr_to_tensor(frames[t], DEVICE), bgr_to_tensor(frames[t + 1], DEVICE)
        carried = warp(prev, estimate_flow(inputs[t + 1], inputs[t]))
        floor = float(((warp(carried, flow) - prev) ** 2).mean(dim=1)[0][torch.from_numpy(mask)].mean())
        floors.append(floor)
        if since <= 2:
            excess.append(float(((warp(nxt, flow) - prev) ** 2).mean(dim=1)[0][torch.from_numpy(mask)].mean()) - floor)
    return float(np.mean(floors)), float(np.mean(excess)) if excess else float("nan")


@torch.no_grad()
def losses(stylizer: Stylizer, image_bgr: np.ndarray, content_bgr: np.ndarray) -> tuple[float, float]:
    """(style term, content term) of the Stylizer's objective for one output frame against its content frame:
    sum_l w_l ||G_l - A_l||^2/||A_l||^2 and ||F - P||^2/||P||^2 (pipeline.losses), unscaled by the loss weights."""
    image, content = bgr_to_tensor(image_bgr, DEVICE), bgr_to_tensor(content_bgr, DEVICE)
    loss = stylizer.settings.loss
    targets = stylizer.style_targets((image.shape[2], image.shape[3]))
    feats, content_feats = stylizer.vgg(image), stylizer.vgg(content)
    style = sum(stylizer.layer_weights[k] * style_loss(feats[k], targets[k]) for k in loss.style_layers)
    cont = sum(content_loss(feats[k], content_feats[k]) for k in loss.content_layers) / len(loss.content_layers)
    return float(style), float(cont)


def contact_sheet(path: Path, inputs: list[np.ndarray], left: Run, right: Run, scale: int = 3) -> None:
    """Rows SHEET_ROWS (those that exist) of input | left | right, enlarged `scale` times, labelled."""
    rows = []
    for index in (i for i in SHEET_ROWS if i < len(inputs)):
        cells = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
                 for f in (inputs[index], left.frames[index], right.frames[index])]
        for cell, label in zip(cells, (f"input {index}", left.name, right.name)):
            cv2.putText(cell, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(cv2.hconcat([np.pad(c, ((2, 2), (2, 2), (0, 0))) for c in cells]))
    cv2.imwrite(str(path), cv2.vconcat(rows))


def summarize(run: Run, stylizer: Stylizer, inputs: list[np.ndarray]) -> dict:
    style, content = zip(*(losses(stylizer, out, inp) for out, inp in zip(run.frames, inputs)))
    later = slice(1, None)
    floor, settling = carry_floor(run.frames, inputs)
    return {
        "name": run.name,
        "error": warping_error(run.frames, inputs),
        "floor": floor,
        "settling": settling,
        "first_s": run.seconds[0],
        "later_s": float(np.mean(run.seconds[later])),
        "first_it": run.iterations[0],
        "later_it": float(np.mean(run.iterations[later])),
        "style": float(np.mean(style)),
        "content": float(np.mean(content)),
        "cuts": run.kinds.count("cut"),
    }


def print_table(rows: list[dict], floor: float) -> None:
    base = next((r for r in rows if r["name"].startswith("1")), None)
    print(f"\ninput video's own warping error (floor): {floor:.6f}")
    head = (f"{'variant':<14} {'warp err':>9} {'x input':>7} {'x 1':>6} {'first s':>8} {'later s':>8} {'later/first':>11}"
            f" {'iters 1st':>9} {'iters later':>11} {'style':>7} {'x 1':>6} {'content':>7} {'cuts':>4}"
            f" {'carry flr':>9} {'settling':>9}")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        rel_err = f"{r['error'] / base['error']:.3f}" if base else "-"
        rel_style = f"{r['style'] / base['style']:.3f}" if base else "-"
        print(f"{r['name']:<14} {r['error']:>9.6f} {r['error'] / floor:>7.2f} {rel_err:>6} {r['first_s']:>8.2f}"
              f" {r['later_s']:>8.3f} {r['later_s'] / r['first_s']:>11.3f} {r['first_it']:>9.0f} {r['later_it']:>11.1f}"
              f" {r['style']:>7.4f} {rel_style:>6} {r['content']:>7.4f} {r['cuts']:>4}"
              f" {r['floor']:>9.6f} {r['settling']:>9.6f}")


def print_goals(ours: dict, base: dict | None, floor: float) -> None:
    goals = [("warping error <= 0.3x that of 1", base and ours["error"] <= 0.3 * base["error"],
              base and f"{ours['error'] / base['error']:.3f}x"),
             ("warping error within 2x of the input's own", ours["error"] <= 2 * floor, f"{ours['error'] / floor:.2f}x"),
             ("mean s per later frame <= 20% of the first frame's", ours["later_s"] <= 0.2 * ours["first_s"],
              f"{ours['later_s'] / ours['first_s']:.1%} (iterations {ours['later_it'] / ours['first_it']:.1%})"),
             ("style loss per frame within 20% of 1's", base and abs(ours["style"] / base["style"] - 1) <= 0.2,
              base and f"{ours['style'] / base['style']:.3f}x")]
    print("\ngoals for 4:")
    for text, ok, value in goals:
        print(f"  [{'n/a ' if ok is None else 'PASS' if ok else 'FAIL'}] {text}: {value or '-'}")


def main() -> None:
    defaults = VideoSettings()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--start", type=float, default=0.8, help="seconds into bikes.mp4 (default 0.8: frame 20)")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--iterations", type=int, help="the first frame's at the final scale (default: the preset's)")
    p.add_argument("--style-weight", type=float, help="default: LossSettings'")
    p.add_argument("--variants", default="4,2,3,1", help="which to run, in this order (1, the slowest, last)")
    p.add_argument("--temporal-weight", type=float, default=defaults.temporal_weight, help="for 4")
    p.add_argument("--frame-iterations", type=int, default=defaults.frame_iterations, help="cap for 4; 2 and 3's fixed")
    p.add_argument("--min-frame-iterations", type=int, default=defaults.min_frame_iterations, help="for 4")
    p.add_argument("--weights", default="", help="extra rows: 4 with these other temporal weights, e.g. 50,1000")
    ns = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    settings = StyleSettings(size=ns.size)
    if ns.iterations:
        settings = replace(settings, optim=replace(settings.optim, iterations=ns.iterations))
    if ns.style_weight:
        settings = replace(settings, loss=replace(settings.loss, style_weight=ns.style_weight))
    selection = replace(defaults, start=ns.start, duration=ns.seconds, preset="ultrafast")
    inputs = read_frames(ns.start, ns.seconds, ns.size)
    size = inputs[0].shape[:2]
    stylizer = Stylizer([(load_image(STYLE, "style image", DEVICE), 1.0)], settings, DEVICE)
    print(f"{len(inputs)} frames of {SOURCE.name} from {ns.start} s at {size[1]}x{size[0]}, style {STYLE.name}, "
          f"first-frame iterations {settings.optim.iterations}", flush=True)
    fixed = replace(selection, frame_iterations=ns.frame_iterations, min_frame_iterations=ns.frame_iterations,
                    temporal_weight=0.0, detect_cuts=False)
    ours = replace(selection, temporal_weight=ns.temporal_weight, frame_iterations=ns.frame_iterations,
                   min_frame_iterations=ns.min_frame_iterations)
    plan = {
        "1": lambda: run_independent(stylizer, inputs),
        "2": lambda: run_pipeline("2 naive", "naive", settings, replace(fixed, warp=False), size),
        "3": lambda: run_pipeline("3 warped", "warped", settings, fixed, size),
        "4": lambda: run_pipeline("4 ours", "ours", settings, ours, size),
    }
    runs, rows = {}, {}
    floor = warping_error(inputs, inputs)
    for weight in (float(w) for w in ns.weights.split(",") if w):
        plan[f"4 W={weight:g}"] = lambda w=weight: run_pipeline(f"4 W={w:g}", f"ours_w{w:g}", settings,
                                                                 replace(ours, temporal_weight=w), size)
    extras = [k for k in plan if k.startswith("4 W=")]
    for key in [k for v in ns.variants.split(",") for k in ([v, *extras] if v == "4" else [v])]:
        print(f"running {key} ...", flush=True)
        runs[key] = plan[key]()
        rows[key] = summarize(runs[key], stylizer, inputs)
        print_table([rows[key]], floor)  # as it comes: a long run that is stopped still reports
        if key == "4":
            rows["warp only"] = summarize(warp_only(runs["4"], inputs), stylizer, inputs)
    order = sorted(rows, key=lambda k: (k[0] != "1", k))  # 1 first: the other rows are relative to it
    rows = {k: rows[k] for k in order}
    print(f"\n4: temporal weight {ns.temporal_weight}, warm frames {ns.min_frame_iterations}..{ns.frame_iterations} "
          f"iterations (2, 3: {ns.frame_iterations} fixed)")
    print_table(list(rows.values()), floor)
    if "4" in rows:
        print_goals(rows["4"], rows.get("1"), floor)
    if "1" in runs and "4" in runs:
        contact_sheet(OUT / "temporal_sheet.png", inputs, runs["1"], runs["4"])
        print(f"\ncontact sheet: {OUT / 'temporal_sheet.png'}")


if __name__ == "__main__":
    main()
