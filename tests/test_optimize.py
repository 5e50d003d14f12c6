from dataclasses import replace

import torch

from pipeline.config import OptimSettings
from pipeline.core.optimize import OPTIMIZERS, optimize

EXACT = replace(OptimSettings(), min_fraction=1.0, report_every=1)  # no plateau stop: run every iteration


def rosenbrock(image: torch.Tensor) -> torch.Tensor:
    """Sum of 2-D Rosenbrock functions over pairs of pixels; minimum 0 with every pixel at 1 (inside [0, 1]).
    Its curved valley makes unit L-BFGS steps overshoot, so the line search has to shorten some of them."""
    v = image.flatten()
    x, y = v[0::2], v[1::2]
    return ((1 - x) ** 2 + 100 * (y - x * x) ** 2).sum()


def test_lbfgs_line_search_recovers_from_overshooting_steps():
    # With torch's default max_eval for max_iter=1 the search had no trials left: the first rejected unit step
    # froze the run at a loss of about 7.5 (from 171) for good.
    torch.manual_seed(0)
    init = torch.rand(1, 3, 4, 4) * 0.5
    losses: list[float] = []
    image, loss, *_ = optimize(init, rosenbrock, EXACT, 100, on_event=lambda e: losses.append(e.loss))
    assert losses[0] > 10 and loss < 1e-6
    assert torch.allclose(image, torch.ones_like(image), atol=1e-3)


def test_lbfgs_costs_about_one_evaluation_per_iteration():
    # The point a line search accepted is not evaluated again at the start of the next iteration.
    calls = 0

    def counted(image: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        return ((image - 0.25) ** 2 * torch.linspace(1, 4, image.numel()).view_as(image)).sum()

    optimize(torch.full((1, 3, 8, 8), 0.75), counted, EXACT, 30)
    assert calls <= 1.3 * 30


def test_lbfgs_reports_its_curvature_and_a_next_run_starts_from_it():
    # A quadratic of curvature c: every L-BFGS pair has y = c s, so the step scale s.y / y.y is 1 / c; started
    # there, the first trial step lands on the minimum, where torch's own first trial (1 / |g|_1 times the
    # gradient) is far too short and its line search needs more passes to grow it.
    c = 40.0
    target = torch.linspace(0.2, 0.8, 3 * 8 * 8).view(1, 3, 8, 8)
    init = torch.full_like(target, 0.5)
    calls = 0

    def quadratic(image: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        return 0.5 * c * ((image - target) ** 2).sum()

    first = optimize(init, quadratic, EXACT, 3)
    assert abs(first.step_scale - 1 / c) < 1e-4 / c
    calls = 0
    optimize(init, quadratic, EXACT, 1)
    plain_calls, calls = calls, 0
    started = optimize(init, quadratic, EXACT, 1, first_step=first.step_scale)
    assert calls == 2 < plain_calls  # the gradient, then one trial, accepted
    assert torch.allclose(started.image, target, atol=1e-5) and started.loss < 1e-8
    adam = optimize(init, quadratic, replace(EXACT, optimizer="adam"), 3, first_step=0.1)
    assert adam.step_scale is None


def test_lbfgs_reports_the_loss_of_the_image_it_returns_after_any_number_of_iterations():
    # torch's LBFGS.step() returns the loss of the point it started from: reported as it was, every loss (the
    # progress bar's, a video frame's) was one iteration behind the picture, by a factor of 6 after one iteration.
    objective = lambda x: ((x - 0.25) ** 2 * torch.linspace(1, 4, x.numel()).view_as(x)).sum()  # noqa: E731
    for iterations in (1, 2, 5):
        result = optimize(torch.full((1, 3, 8, 8), 0.75), objective, EXACT, iterations)
        assert result.loss == float(objective(result.image)), iterations


def test_every_optimizer_lowers_a_simple_loss():
    target = torch.linspace(0.1, 0.9, 3 * 8 * 8).view(1, 3, 8, 8)
    for name in OPTIMIZERS:
        settings = replace(EXACT, optimizer=name, lr=0.05)
        image, loss, *_ = optimize(torch.full_like(target, 0.5), lambda x: ((x - target) ** 2).sum(), settings, 60)
        assert loss < 0.05 * float(((0.5 - target) ** 2).sum()), name


def test_the_reported_loss_is_the_loss_of_the_returned_image():
    # The unconstrained minimum lies partly outside [0, 1]; the image returned is clipped, and the loss reported
    # must be that image's loss, not the loss of an unclipped iterate nobody sees.
    target = torch.linspace(-0.5, 1.5, 3 * 8 * 8).view(1, 3, 8, 8)
    objective = lambda x: ((x - target) ** 2).sum()  # noqa: E731
    for name in OPTIMIZERS:
        image, loss, *_ = optimize(torch.full_like(target, 0.5), objective, replace(EXACT, optimizer=name, lr=0.05), 200)
        best = float(objective(target.clamp(0, 1)))  # the constrained minimum
        assert 0 <= image.min() and image.max() <= 1
        assert abs(loss - float(objective(image))) < 1e-4 * best + 1e-6, name
        assert float(objective(image)) < 1.05 * best, name


def test_a_coarse_scale_stops_once_its_pixels_settle_and_says_so():
    # A picture whose pixels stop moving has its composition set: a coarse scale stops there (a final scale, where
    # the detail sharpens, does not). Checked every 5 iterations, from the 10th; the mean change is in 0-255 levels.
    target = torch.linspace(0.2, 0.8, 3 * 16 * 16).view(1, 3, 16, 16)
    objective = lambda x: ((x - target) ** 2).sum()  # noqa: E731 - L-BFGS gets there in a few iterations
    settings = replace(EXACT, settle_below=2.0, settle_from=10)
    settled = optimize(torch.full_like(target, 0.5), objective, settings, 100, settle=True)
    assert settled.settled and settled.iterations == 10  # moved 0 levels between 5 and 10
    whole = optimize(torch.full_like(target, 0.5), objective, settings, 100)
    assert not whole.settled and whole.iterations == 100
    moving = optimize(torch.full_like(target, 0.5), objective, replace(settings, settle_below=0.0), 100, settle=True)
    assert not moving.settled and moving.iterations == 100  # settle_below 0: never
