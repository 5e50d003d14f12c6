"""The race of the first still issue (its 30x goal is retired): how much sooner our optimizer reaches the classic
baseline's loss. The presets' own times are bench/still.py's.

Run as `python bench/race.py` (one process; torch is pinned to 2 threads). It measures, side by side in one run:

1. The SEED recipe, the classic PyTorch-tutorial / Gatys et al. baseline, as we interpret it:
   Adam, lr 0.003, 3000 iterations, starting from the photo; pixels in [0, 1], clamped after every step (the
   tutorial's `clamp_(0, 1)`); our VGGFeatures with the Caffe weights (preprocessing inside) and max pooling;
   style and photo both at 128 px long side (the style resized to the photo's long side).
       loss = 1 * content + 1e6 * style
       content = mean((F - P)^2)                   on conv4_2
       style   = sum over conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 of mean((G - A)^2),
                 G = F F^T / numel(F)  (F the CxHxW conv output, pre-ReLU as in the tutorial)
   Its "final loss" is the loss at iteration 3000 (not the minimum of the curve; both are printed), and its
   time is the whole run.
2. OURS on the SAME objective (same function, weights and 128 px final size): `pipeline.core.optimize.optimize`
   with L-BFGS (OptimSettings defaults, plateau stop disabled) after a 64 px coarse stage of 100 iterations
   (our `scale_schedule` with min_scale_side=64: the headline), the same at 128 px only, and Adam with our
   default lr (0.02) for information. Each runs until the final-size loss first reaches the seed's final loss
   (or its iteration cap). On a CPU with native bfloat16 (devices.native_bfloat16) one more line runs the
   headline as our default does there: VGG19 in bfloat16 (targets too), the loss still judged in float32.
3. speed-up = seed seconds / our seconds, per line. The seed recipe stays float32, as written; bfloat16 would
   speed up its passes too, so the float32 line is the comparison at equal arithmetic, and the time of one pass
   in each precision is printed beside it.
4. The wall time of our default preset (StyleSettings(): "normal", 512 px) through Stylizer.stylize.

How the loss is read: every `report_every` iterations optimize() calls back; the callback evaluates the
final-size objective on the CLAMPED current image (what the user would get: optimize() returns it clamped,
and L-BFGS iterates may leave [0, 1]). That forward pass is the benchmark's own instrumentation, so the
stopwatch is paused during it, for every line alike. Because the CPU is shared, each line also reports its
work as VGG forward+backward passes in final-size equivalents (a coarse pass counts by its pixel fraction),
which machine load does not change.

Images go to bench/out/: seed_128.png, ours_128.png (L-BFGS coarse to fine, when it reached the seed's loss),
ours_lbfgs_1scale_128.png, ours_adam_128.png, ours_128_bf16.png, still_512.png (default preset).
"""

from __future__ import annotations

import argparse
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import torch

from pipeline.config import OptimSettings, StyleSettings
from pipeline.core.devices import device_label, native_bfloat16
from pipeline.core.geometry import fit_long_side, scale_schedule
from pipeline.core.optimize import optimize
from pipeline.core.stylizer import Stylizer, resize
from pipeline.core.vgg import VGGFeatures, load_caffe
from pipeline.errors import Interrupted
from pipeline.events import IterationEvent, ScaleDone
from pipeline.media.frames import load_image, save_image

DATA = Path("/work/shared/data")
OUT = Path(__file__).resolve().parent / "out"
DEVICE = torch.device("cpu")
THREADS = 2

SEED_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
SEED_CONTENT_LAYER = "conv4_2"
SEED_CONTENT_WEIGHT = 1.0
SEED_STYLE_WEIGHT = 1e6
SEED_LR = 0.003

Objective = Callable[[torch.Tensor], torch.Tensor]
Size = tuple[int, int]


class Stopwatch:
    """Wall-clock seconds since start(), minus the time spent inside paused()."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._excluded = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self._start - self._excluded

    @contextmanager
    def paused(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self._excluded += time.perf_counter() - began


def seed_gram(features: torch.Tensor) -> torch.Tensor:
    """CxC Gram of 1xCxHxW features divided by numel(F) = C*H*W, as the PyTorch tutorial's gram_matrix."""
    f = features.flatten(2)[0]
    return (f @ f.T) / features.numel()


class SeedProblem:
    """The seed recipe's objective for one photo and one style, buildable at any (height, width).

    content: 1x3xHxW RGB [0, 1] photo at the final size; `final_loss` evaluates the final-size objective, always
    in float32.
    """

    def __init__(self, content_path: Path, style_path: Path, long_side: int) -> None:
        weights, layers = load_caffe(), SEED_STYLE_LAYERS + (SEED_CONTENT_LAYER,)
        self.vgg = VGGFeatures(weights, layers).to(DEVICE)
        self.vgg_bfloat16 = VGGFeatures(weights, layers, cpu_bfloat16=True).to(DEVICE)
        photo = load_image(content_path, "content image", DEVICE)
        self.size: Size = fit_long_side(photo.shape[2], photo.shape[3], long_side)
        self.content = resize(photo, self.size)
        self.style = load_image(style_path, "style image", DEVICE)
        self._final = self.objective(self.size)

    def objective(self, size: Size, bfloat16: bool = False) -> Objective:
        """The seed loss for an image of `size`; targets encoded once, here (style at the same long side), by the
        same network as the image (VGG19 in bfloat16 if asked; Grams and losses in float32 either way)."""
        vgg = self.vgg_bfloat16 if bfloat16 else self.vgg
        style = resize(self.style, fit_long_side(self.style.shape[2], self.style.shape[3], max(size)))
        with torch.no_grad():
            content_target = vgg(resize(self.content, size))[SEED_CONTENT_LAYER]
            style_feats = vgg(style)
            style_targets = {k: seed_gram(style_feats[k]) for k in SEED_STYLE_LAYERS}

        def loss(image: torch.Tensor) -> torch.Tensor:
            feats = vgg(image)
            content = (feats[SEED_CONTENT_LAYER] - content_target).pow(2).mean()
            style = sum((seed_gram(feats[k]) - style_targets[k]).pow(2).mean() for k in SEED_STYLE_LAYERS)
            return SEED_CONTENT_WEIGHT * content + SEED_STYLE_WEIGHT * style

        return loss

    @torch.no_grad()
    def final_loss(self, image: torch.Tensor) -> float:
        """The final-size seed loss of `image` clipped to [0, 1] (what a user would save)."""
        return float(self._final(image.detach().clamp(0.0, 1.0)))


@dataclass(frozen=True)
class Line:
    """One optimizer configuration of the race. `iterations`: cap at the final scale; `coarse_iterations`:
    fixed budget of each coarser scale of scale_schedule(settings.max_scales, settings.min_scale_side).
    `normalize`: divide each scale's objective by its value at the start (same minimizer, loss ~1).
    `bfloat16`: VGG19 in bfloat16 (our default on a CPU with native bfloat16). `headline`: its speed-up is
    printed against the goal."""

    name: str
    png: str
    settings: OptimSettings
    iterations: int
    coarse_iterations: int = 0
    normalize: bool = False
    bfloat16: bool = False
    headline: bool = False


@dataclass
class Outcome:
    """What one line did: `curve` holds (seconds, iteration at the final scale, final-size loss) per check."""

    line: Line
    curve: list[tuple[float, int, float]] = field(default_factory=list)
    passes: float = 0.0  # forward+backward passes in final-size equivalents
    reached: tuple[float, int, float] | None = None  # the first check at or below the threshold
    image: torch.Tensor | None = None

    @property
    def seconds(self) -> float:
        return (self.reached or self.curve[-1])[0]

    @property
    def loss(self) -> float:
        return (self.reached or self.curve[-1])[2]


class _Tracker:
    """Wraps each scale's objective to count passes and see the pixels; checks the loss on each report and sets
    `stop` once it is at or below `threshold`."""

    def __init__(self, problem: SeedProblem, outcome: Outcome, clock: Stopwatch, threshold: float | None) -> None:
        self.problem, self.outcome, self.clock, self.threshold = problem, outcome, clock, threshold
        self.stop = threading.Event()
        self.image: torch.Tensor | None = None
        self.passes_at_reach = 0.0

    def wrap(self, objective: Objective, size: Size, start: torch.Tensor | None) -> Objective:
        """`objective` counting its passes; divided by its value at `start` when one is given."""
        weight = size[0] * size[1] / (self.problem.size[0] * self.problem.size[1])
        if start is not None:
            with torch.no_grad():
                scale = float(objective(start))
        else:
            scale = 1.0

        def counted(image: torch.Tensor) -> torch.Tensor:
            self.image = image  # the optimizer's own parameter: after a step it holds the accepted iterate
            self.outcome.passes += weight
            return objective(image) / scale

        return counted

    def check(self, event: object) -> None:
        """optimize()'s callback at the final scale: one paused loss evaluation per report."""
        if not isinstance(event, IterationEvent) or self.outcome.reached:
            return
        with self.clock.paused():
            loss = self.problem.final_loss(self.image)
        point = (self.clock.elapsed(), event.iteration, loss)
        self.outcome.curve.append(point)
        if self.threshold is not None and loss <= self.threshold:
            self.outcome.reached = point
            self.passes_at_reach = self.outcome.passes
            self.stop.set()


def run_line(line: Line, problem: SeedProblem, threshold: float | None = None) -> Outcome:
    """Optimize the seed objective from the photo along `line`'s schedule, timing until `threshold` (or the cap)."""
    settings = line.settings
    sizes = scale_schedule(*problem.size, settings.max_scales, settings.min_scale_side)
    outcome = Outcome(line)
    outcome.curve.append((0.0, 0, problem.final_loss(problem.content)))
    clock = Stopwatch()
    tracker = _Tracker(problem, outcome, clock, threshold)
    torch.manual_seed(0)
    image = problem.content
    try:
        for k, size in enumerate(sizes):
            final = k == len(sizes) - 1
            image = resize(image, size)
            objective = tracker.wrap(problem.objective(size, line.bfloat16), size, image if line.normalize else None)
            image = optimize(
                image, objective, settings, line.iterations if final else line.coarse_iterations,
                scale=(k, len(sizes)), on_event=tracker.check if final else None, stop=tracker.stop,
            ).image
    except Interrupted:  # our own stop: the threshold was reached
        image = tracker.image.detach().clamp(0.0, 1.0)
    if outcome.reached:
        outcome.passes = tracker.passes_at_reach
    outcome.image = image
    save_image(image, OUT / line.png)
    return outcome


def race_settings(optimizer: str, report_every: int, **changes: object) -> OptimSettings:
    """Our OptimSettings defaults with the plateau stop disabled (the check falls on the last iteration only)."""
    return replace(OptimSettings(), optimizer=optimizer, report_every=report_every, min_fraction=1.0, **changes)


def our_lines(args: argparse.Namespace) -> list[Line]:
    """Our optimizers on the seed objective: L-BFGS coarse to fine (the headline, in float32), the same with
    VGG19 in bfloat16 where the CPU has it natively (our default there), L-BFGS at 128 px only, and Adam with our
    default learning rate."""
    lbfgs = race_settings("lbfgs", args.check_every)
    headline = Line(f"L-BFGS, {args.coarse_side}->{args.size} px", "ours_128.png",
                    replace(lbfgs, max_scales=2, min_scale_side=args.coarse_side), args.max_iterations,
                    args.coarse_iterations, args.normalize, headline=True)
    low = [replace(headline, name=headline.name + ", bf16", png="ours_128_bf16.png", bfloat16=True)]
    return [
        headline,
        *(low if native_bfloat16() else []),
        Line(f"L-BFGS, {args.size} px only", "ours_lbfgs_1scale_128.png", replace(lbfgs, max_scales=1),
             args.max_iterations, normalize=args.normalize),
        Line(f"Adam lr {OptimSettings().lr}, {args.size} px", "ours_adam_128.png",
             race_settings("adam", args.check_every, max_scales=1), args.adam_iterations),
    ]


def pass_seconds(problem: SeedProblem, bfloat16: bool, passes: int = 10) -> float:
    """Seconds of one forward+backward pass of the final-size seed objective (after two warm-up passes)."""
    objective = problem.objective(problem.size, bfloat16)
    image = problem.content.clone().requires_grad_(True)
    for k in range(passes + 2):
        if k == 2:
            began = time.perf_counter()
        objective(image).backward()
    return (time.perf_counter() - began) / passes


def describe(outcome: Outcome, seed: Outcome) -> str:
    """One line of the race table."""
    seconds, iteration, loss = outcome.reached or min(outcome.curve, key=lambda p: p[2])
    head = f"{outcome.line.name:30s}"
    if outcome.reached is None:
        return (f"{head} NOT reached: best {loss:.4g} at it {iteration} ({seconds:.1f} s); "
                f"ran {outcome.curve[-1][1]} it at 128 px, {outcome.curve[-1][0]:.1f} s, {outcome.passes:.0f} passes")
    return (f"{head} {seconds:6.1f} s  loss {loss:.4g} at it {iteration:4d}  {outcome.passes:5.0f} passes  "
            f"speed-up {seed.seconds / seconds:5.1f}x (in passes {seed.passes / outcome.passes:5.1f}x)")


def print_curve(outcome: Outcome, rows: int = 10) -> None:
    """About `rows` evenly spaced points of a loss curve, always with its last point."""
    step = max(1, (len(outcome.curve) - 1) // rows)
    points = outcome.curve[::step]
    if points[-1] is not outcome.curve[-1]:
        points.append(outcome.curve[-1])
    for seconds, iteration, loss in points:
        print(f"    it {iteration:5d}  {seconds:8.1f} s  loss {loss:.4g}")


def time_default_preset(content_path: Path, style_path: Path, amp: bool = True) -> None:
    """Our default preset end to end through Stylizer.stylize; writes bench/out/still_512.png (amp=False:
    still_512_float32.png, as --precision float32)."""
    settings = StyleSettings()
    settings = replace(settings, optim=replace(settings.optim, amp=amp))
    photo = load_image(content_path, "content image", DEVICE)
    content = resize(photo, fit_long_side(photo.shape[2], photo.shape[3], settings.size))
    style = load_image(style_path, "style image", DEVICE)
    clock = Stopwatch()
    stylizer = Stylizer([(style, 1.0)], settings, DEVICE)
    scales: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, ScaleDone):
            scales.append(f"{event.iterations_run}/{event.iterations} it (loss {event.loss:.4g}, {clock.elapsed():.1f} s)")

    image = stylizer.stylize(content, on_event=on_event)
    seconds = clock.elapsed()
    save_image(image, OUT / ("still_512.png" if amp else "still_512_float32.png"))
    print(f"default preset ({settings.size} px, {settings.optim.optimizer}, {settings.optim.max_scales} scales, on "
          f"{device_label(DEVICE, amp)}): {seconds:.1f} s wall, weights loading included")
    for k, text in enumerate(scales):
        print(f"    scale {k}: {text}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--content", type=Path, default=DATA / "content" / "tubingen.jpg")
    p.add_argument("--style", type=Path, default=DATA / "styles" / "starry_night.jpg")
    p.add_argument("--size", type=int, default=128, help="final long side of the race, px")
    p.add_argument("--seed-iterations", type=int, default=3000)
    p.add_argument("--seed-check-every", type=int, default=10)
    p.add_argument("--check-every", type=int, default=5, help="report_every of our lines")
    p.add_argument("--max-iterations", type=int, default=1000, help="cap of our L-BFGS lines at the final size")
    p.add_argument("--adam-iterations", type=int, default=500, help="cap of our Adam line")
    p.add_argument("--coarse-side", type=int, default=64, help="min_scale_side of the coarse-to-fine line")
    p.add_argument("--coarse-iterations", type=int, default=100)
    p.add_argument("--normalize", action="store_true", help="L-BFGS on the objective divided by its start value")
    p.add_argument("--skip-preset", action="store_true", help="skip the 512 px default-preset timing")
    p.add_argument("--preset-float32", action="store_true",
                   help="also time the default preset with --precision float32 (on a CPU with native bfloat16)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(THREADS)
    OUT.mkdir(parents=True, exist_ok=True)
    problem = SeedProblem(args.content, args.style, args.size)
    print(f"{args.content.name} + {args.style.name} at {problem.size[1]}x{problem.size[0]} px, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    seed_line = Line(f"seed: Adam lr {SEED_LR}", "seed_128.png",
                     race_settings("adam", args.seed_check_every, lr=SEED_LR, max_scales=1), args.seed_iterations)
    seed = run_line(seed_line, problem)
    best = min(seed.curve, key=lambda p: p[2])
    print(f"{seed.line.name}: {seed.curve[-1][1]} it in {seed.seconds:.1f} s, final loss {seed.loss:.4g} "
          f"(start {seed.curve[0][2]:.4g}; minimum {best[2]:.4g} at it {best[1]}), {seed.passes:.0f} passes")
    print_curve(seed)

    print(f"race to the seed's final loss {seed.loss:.4g} (time excludes the paused loss checks):")
    outcomes = [run_line(line, problem, threshold=seed.loss) for line in our_lines(args)]
    for outcome in outcomes:
        print("  " + describe(outcome, seed))
    for outcome in (o for o in outcomes if o.line.headline):
        arithmetic = "bfloat16 VGG19, our default on this CPU" if outcome.line.bfloat16 else "float32, as the recipe"
        if outcome.reached:
            print(f"speed-up ({arithmetic}): {seed.seconds / outcome.seconds:.1f}x (seed {seed.seconds:.1f} s to loss "
                  f"{seed.loss:.3g}; ours {outcome.seconds:.1f} s, {outcome.line.name}); goal at least 30x")
        else:
            print(f"speed-up ({arithmetic}): none, {outcome.line.name} did not reach the seed's loss {seed.loss:.3g}")
    if native_bfloat16():
        full, low = pass_seconds(problem, False), pass_seconds(problem, True)
        print(f"one pass at {args.size} px: float32 {full:.3f} s, bfloat16 {low:.3f} s ({full / low:.2f}x): the seed "
              f"recipe in bfloat16 would gain about that much too")

    if not args.skip_preset:
        time_default_preset(args.content, args.style)
        if args.preset_float32 and native_bfloat16():
            time_default_preset(args.content, args.style, amp=False)
    print(f"images in {OUT}")


if __name__ == "__main__":
    main()
