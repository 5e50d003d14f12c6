"""The per-image optimization loop: L-BFGS (default) or Adam over the pixels, reporting progress as events."""

from __future__ import annotations

import math
import threading
from typing import Callable, NamedTuple

import torch

from ..config import OptimSettings
from ..errors import DivergedError, Interrupted
from ..events import IterationEvent

Objective = Callable[[torch.Tensor], torch.Tensor]  # 1x3xHxW image -> scalar loss tensor (same device)


Callback = Callable[[object], None]


class Optimized(NamedTuple):
    """What optimize() returns: `image` 1x3xHxW clipped to [0, 1]; `loss` its objective value (with Adam, the value
    just before its last step: the exact one would cost another pass); `step_scale` the step length per unit of
    gradient that L-BFGS's first iteration found (s.y / y.y of its first curvature pair: the inverse curvature along
    the gradient), where a similar next run's first step can start (optimize's first_step); None for Adam, or when
    no step was accepted. iterations: how many ran; settled: it stopped because the picture settled."""

    image: torch.Tensor
    loss: float
    step_scale: float | None
    iterations: int = 0
    settled: bool = False


SETTLE_EVERY = 5  # iterations between two looks at how far the pixels moved (OptimSettings.settle_below)


class _LBFGS:
    """torch's L-BFGS with a strong-Wolfe line search: the step length adapts to the loss scale, so no learning
    rate has to be tuned per weight setting. One step() is one L-BFGS iteration, so optimize() can stop, report
    and check for a plateau between iterations.

    Two details of torch.optim.LBFGS matter when it is stepped one iteration at a time (max_iter=1):
    - its default max_eval is max_iter * 5 // 4 = 1, which leaves the line search a budget of 0 trials: a unit step
      that raises the loss is rejected (t = 0), nothing enters the history, and every later step retries the same
      rejected step, a silent stall. We give the search its own budget of LINE_SEARCH_EVALS trials;
    - each step() first re-evaluates the point the previous line search accepted. We answer that from a cache of
      the last evaluation, so an iteration usually costs one forward/backward pass, not two. That cached loss is
      also what our step() returns: the loss of the accepted point, where torch's step() returns the loss of the
      point it started from, one iteration behind the image.
    It reads the loss on the host inside its line search (unavoidable for a line search); our own code adds one
    comparison of the pixels with the cached ones per iteration and per further line-search trial.
    """

    LINE_SEARCH_EVALS = 25  # torch's own default for _strong_wolfe's max_ls

    def __init__(self, image: torch.Tensor, objective: Objective, settings: OptimSettings,
                 first_step: float | None = None) -> None:
        self.image, self.objective = image, objective
        usable = first_step is not None and math.isfinite(first_step) and first_step > 0
        self.first_step = first_step if usable else None  # otherwise torch's own first step
        self.opt = torch.optim.LBFGS(
            [image], lr=1.0, max_iter=1, max_eval=1 + self.LINE_SEARCH_EVALS, history_size=50,
            line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0,
        )
        self._last: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # pixels, loss, gradient
        self._accepted = False  # _last is the evaluation of the pixels the last step accepted
        self.evaluations = 0  # forward/backward passes actually run
        self.step_scale: float | None = None  # see Optimized; read once, when the first pair is in

    def _closure(self) -> torch.Tensor:
        # The first call of a step is the point the previous step accepted; later calls are line-search trials,
        # which near convergence can be too short to move any pixel.
        accepted, self._accepted = self._accepted, False
        if accepted or (self._last is not None and torch.equal(self._last[0], self.image)):
            self.image.grad = self._last[2].clone()
            return self._last[1]
        return self._evaluate()

    def _evaluate(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        loss = self.objective(self.image)
        loss.backward()
        self.evaluations += 1
        self._last = (self.image.detach().clone(), loss.detach(), self.image.grad.clone())
        return loss

    def step(self) -> torch.Tensor:
        """One iteration; returns the loss of the pixels it leaves (a 0-d tensor, not read back)."""
        self._step()
        # The accepted point is rebuilt as x + t*d by the same operation the line search used, so it is bitwise
        # equal to the evaluated one when it was the last trial (the usual case). Otherwise it is evaluated now:
        # the next step() would have to anyway.
        if not torch.equal(self._last[0], self.image):
            self._evaluate()
        self._accepted = True
        # The first pair, not the newest: a next frame's first step is along its gradient, as this run's first was;
        # later pairs follow flatter directions, and warm frames started from them overshot (docs/design.md).
        if self.step_scale is None:
            state = self.opt.state.get(self.image, {})
            if state.get("old_dirs"):
                self.step_scale = float(state["H_diag"])
        return self._last[1]

    def _step(self) -> None:
        if self.first_step is None:
            self.opt.step(self._closure)
            return
        # Without history, torch's first trial step is -min(1, 1/|g|_1) * lr * g: far too short on our losses, so
        # its line search spent 3-4 more passes growing it (each warm video frame paid them). Setting lr makes that
        # trial -first_step * g, the step a previous, similar run's curvature gives, which is usually accepted.
        # The gradient norm costs one host read per run; the pass is cached for step()'s own first evaluation.
        # (first_step is used up by the run's first step, so nothing has been evaluated yet.)
        self._evaluate()
        self._accepted = True
        gradient_l1 = float(self._last[2].abs().sum())
        group = self.opt.param_groups[0]
        group["lr"] = self.first_step * max(1.0, gradient_l1)
        try:
            self.opt.step(self._closure)
        finally:
            group["lr"], self.first_step = 1.0, None


class _Adam:
    """Adam on the pixels; with CUDA and settings.amp the network runs under float16 autocast (gradient scaling
    keeps small gradients alive). No host sync at all inside a step."""

    step_scale = None  # no curvature estimate

    def __init__(self, image: torch.Tensor, objective: Objective, settings: OptimSettings,
                 first_step: float | None = None) -> None:
        self.image, self.objective = image, objective  # first_step: Adam's steps are set by lr
        self.opt = torch.optim.Adam([image], lr=settings.lr)
        self.amp = settings.amp and image.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def step(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(self.image.device.type, dtype=torch.float16, enabled=self.amp):
            loss = self.objective(self.image)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        with torch.no_grad():
            self.image.clamp_(0.0, 1.0)  # Adam takes bounded steps, so projecting onto the box is safe
        return loss.detach()


# Its keys are config.OPTIMIZER_NAMES, which the command line offers and checks.py checks.
OPTIMIZERS: dict[str, type] = {"lbfgs": _LBFGS, "adam": _Adam}


def optimize(
    init: torch.Tensor,
    objective: Objective,
    settings: OptimSettings,
    iterations: int,
    *,
    scale: tuple[int, int] = (0, 1),
    on_event: Callback | None = None,
    stop: threading.Event | None = None,
    first_step: float | None = None,
    settle: bool = False,
) -> Optimized:
    """Minimize `objective` over the pixels, starting from `init` (1x3xHxW, [0, 1]; not modified).

    The loss is taken of the pixels clipped to [0, 1]. Runs at most `iterations` iterations, stopping early on a
    plateau (see OptimSettings), and with `settle` once the picture settles (its pixels move less than
    settings.settle_below a pixel over SETTLE_EVERY iterations: a coarse scale's composition is set), and raising
    Interrupted as soon as `stop` is set (checked between iterations). first_step (L-BFGS only): the first trial
    step as a multiple of the negative gradient, typically the step_scale of a previous run on a similar problem
    (the last video frame). Returns Optimized(image clipped to [0, 1], last loss, step_scale, iterations run,
    settled).
    """
    image = init.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)

    def bounded(pixels: torch.Tensor) -> torch.Tensor:
        # L-BFGS is unconstrained, but what is saved is the image clipped to [0, 1]; so the loss is taken of the
        # clipped pixels and the optimizer minimizes what the user gets (docs/design.md, "The optimizer"). A pixel
        # pushed out gets no gradient and keeps the bound's value (clamp passes the gradient at the bound itself, so
        # Adam's projected pixels keep theirs).
        return objective(pixels.clamp(0.0, 1.0))

    runner = OPTIMIZERS[settings.optimizer](image, bounded, settings, first_step)
    every = max(1, settings.report_every)
    floor = math.ceil(settings.min_fraction * iterations)
    settles = settle and settings.settle_below > 0
    last_loss, previous, before, settled, i = math.inf, math.inf, None, False, 0
    for i in range(1, iterations + 1):
        if stop is not None and stop.is_set():
            raise Interrupted("stopped by request")
        loss = runner.step()
        if settles and i % SETTLE_EVERY == 0:
            now = image.detach().clamp(0.0, 1.0)
            if before is not None and i >= settings.settle_from:
                settled = float((now - before).abs().mean()) * 255 < settings.settle_below  # one host sync
            before = now.clone()
        if i % every and i != iterations and not settled:
            continue
        last_loss = float(loss)  # the one host sync per report
        if not math.isfinite(last_loss):
            raise DivergedError("the loss became NaN or infinite; lower the learning rate or the weights")
        if on_event is not None:
            size = (image.shape[2], image.shape[3])
            on_event(IterationEvent(scale[0], scale[1], size, i, iterations, last_loss))
        if settled or (i >= floor and previous - last_loss < settings.plateau_tolerance * abs(previous)):
            break
        previous = last_loss
    return Optimized(image.detach().clamp(0.0, 1.0), last_loss, runner.step_scale, i, settled)
