"""The stylizer: VGG19 and style targets held once, one image (or video frame) optimized at a time,
coarse to fine."""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from . import color
from .config import MAX_SIZE, MIN_SIZE, LossSettings, StyleSettings
from .devices import cpu_bfloat16
from .errors import UsageError
from .images import check_image, load_image
from .losses import content_loss, gram, style_loss, total_variation
from .optimize import Callback, check_optimizer, optimize
from .vgg import VGGFeatures, check_layer_names, load_weights

ExtraLoss = Callable[[torch.Tensor], torch.Tensor]  # image at the final scale -> scalar (e.g. temporal loss)


@dataclass(frozen=True)
class ScalePlan:
    """Sent before the first scale: the (height, width) of each scale, coarse to fine, and the iterations each may
    run. An iteration costs about in proportion to its scale's pixels, so a display can weigh them for its ETA."""

    sizes: tuple[tuple[int, int], ...]
    iterations: int


@dataclass(frozen=True)
class ScaleDone:
    """One scale of the coarse-to-fine schedule finished after `iterations_run` iterations."""

    scale: int
    scales: int
    iterations_run: int
    iterations: int
    loss: float
    step_scale: float | None = None  # L-BFGS's first step per unit of gradient (optimize.Optimized)


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a 1x3xHxW image to (height, width); antialiased when shrinking so no aliasing reaches the Grams."""
    if tuple(image.shape[2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[2] or size[1] < image.shape[3]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def fit_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is `long_side` px, keeping the aspect (each side >= 1)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def scale_schedule(height: int, width: int, max_scales: int, min_side: int) -> list[tuple[int, int]]:
    """Sizes from coarse to fine ending at (height, width); each coarser one halves the long side while it stays
    >= min_side and the short side >= MIN_SIZE (what VGG19 can take). Coarse scales set the large strokes cheaply;
    the fine one adds detail (as in crowsonkb's style-transfer-pytorch)."""
    sizes = [(height, width)]
    long_side = max(height, width)
    while len(sizes) < max_scales and long_side // 2 >= min_side:
        long_side //= 2
        coarser = fit_long_side(height, width, long_side)
        if min(coarser) < MIN_SIZE:
            break
        sizes.insert(0, coarser)
    return sizes


def min_long_side(height: float, width: float) -> int:
    """The smallest long side (px) at which an image of this shape keeps MIN_SIZE px on its short side.

    MIN_SIZE is what VGG19 can take: its four poolings before relu5_1 shrink a side under 16 px to nothing.
    """
    return math.ceil(MIN_SIZE * max(height, width) / min(height, width))


# A style image enlarged more than this for its Gram targets has soft strokes: the painting's brushwork is then
# finer than its pixels, and the result shows the blur of the enlargement instead.
SOFT_STYLE_ENLARGEMENT = 2.0


def soft_style_warning(name: str, style_hw: tuple[int, int], content_hw: tuple[int, int],
                       style_scale: float) -> str | None:
    """A one-line warning when the style image `name` of (height, width) px is enlarged more than
    SOFT_STYLE_ENLARGEMENT times for a result of `content_hw` at `style_scale` (as Stylizer.style_targets does);
    None otherwise."""
    target = max(1, round(max(content_hw) * style_scale), min_long_side(*style_hw))
    factor = target / max(style_hw)
    if factor <= SOFT_STYLE_ENLARGEMENT:
        return None
    return (f"the style image '{name}' is only {style_hw[1]}x{style_hw[0]} px: it is enlarged {factor:.1f}x to "
            f"{target} px, so its strokes come out soft; give a larger copy or a smaller --style-scale")


def _shrunk(side: int, scale: float) -> int:
    """`side` px times `scale`, never thinner than VGG19 can take unless it already was."""
    return max(round(side * scale), min(side, MIN_SIZE))


def check_network_size(size: tuple[int, int], source: tuple[float, float], long_side: int,
                       upscales: bool = True) -> None:
    """UsageError unless both sides of `size` (height, width: the picture to paint, made from a `source` of
    (height, width) at --size `long_side`) are at least MIN_SIZE px. upscales: whether a --size above the source's
    long side enlarges it (stills) or not (videos), which decides what the message advises."""
    if min(size) >= MIN_SIZE:
        return
    need = min_long_side(*source)
    if not upscales and need > max(source):
        raise UsageError(f"the picture is {round(source[1])}x{round(source[0])} px, too small for VGG19 "
                         f"(at least {MIN_SIZE} px a side)")
    raise UsageError(f"--size {long_side} makes the picture {size[1]}x{size[0]} px, too thin for VGG19 "
                     f"(at least {MIN_SIZE} px a side): use --size {need} or more")


def check_blend_weights(weights: list[float]) -> None:
    """UsageError unless there is at least one style weight and each is a finite number > 0."""
    if not weights:
        raise UsageError("give at least one style image")
    if not all(math.isfinite(w) and w > 0 for w in weights):
        raise UsageError(f"--style-blend weights must be positive numbers, got {list(weights)}")


def _normalized(weights: Sequence[float]) -> list[float]:
    """Finite weights >= 0, not all 0 -> the same proportions summing to 1. Divided by the largest first, so that
    weights as large as 1e308 do not overflow the sum to inf (which made every weight 0)."""
    peak = max(weights)
    scaled = [w / peak for w in weights]
    total = sum(scaled)
    return [w / total for w in scaled]


def _non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def init_path(settings: StyleSettings) -> list[str]:
    """The init image file, if `settings.init` names one: an input the output must not replace."""
    return [] if settings.init in ("content", "noise") else [settings.init]


def check_layer_weights(loss: LossSettings) -> None:
    """UsageError unless there is one style layer weight per style layer."""
    weights, layers = len(loss.style_layer_weights), len(loss.style_layers)
    if weights != layers:
        raise UsageError(f"--style-layer-weights has {weights} weight{'s' * (weights != 1)} for the {layers} "
                         f"--style-layers ({','.join(loss.style_layers)}): give one weight per layer")


def check_style_settings(settings: StyleSettings) -> None:
    """UsageError for settings no image can be painted with, raised before anything is loaded (NaN included)."""
    loss, optim = settings.loss, settings.optim
    if not MIN_SIZE <= settings.size <= MAX_SIZE:
        raise UsageError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {settings.size}")
    if optim.iterations < 1:
        raise UsageError(f"--iterations must be at least 1, got {optim.iterations}")
    if not 0.05 <= settings.style_scale <= 4:
        raise UsageError(f"--style-scale must be between 0.05 and 4, got {settings.style_scale}")
    for name, value in (("--content-weight", loss.content_weight), ("--style-weight", loss.style_weight),
                        ("--tv-weight", loss.tv_weight)):
        if not _non_negative(value):
            raise UsageError(f"{name} must be a number >= 0, got {value}")
    for name, layers in (("--style-layers", loss.style_layers), ("--content-layers", loss.content_layers)):
        if not layers:
            raise UsageError(f"{name} needs at least one VGG19 layer, e.g. relu4_2")
        check_layer_names(layers, name)
    check_layer_weights(loss)
    if not all(_non_negative(w) for w in loss.style_layer_weights) or not sum(loss.style_layer_weights) > 0:
        raise UsageError(f"--style-layer-weights must be numbers >= 0, not all 0, got {list(loss.style_layer_weights)}")
    if settings.pooling not in ("max", "avg"):  # the CLI offers only these; VGGFeatures takes anything else as avg
        raise UsageError(f"--pooling must be max or avg, got {settings.pooling!r}")
    if not 0 <= settings.seed < 2**64:  # torch.manual_seed's range
        raise UsageError(f"--seed must be between 0 and 2**64 - 1, got {settings.seed}")
    if not (math.isfinite(optim.lr) and optim.lr > 0):
        raise UsageError(f"--lr must be a number > 0, got {optim.lr}")
    for path in init_path(settings):
        # A typo of a keyword ("Noise") reads as a missing file: name the keywords too. "~" is the user's home, as for
        # every input path (paths.check_input).
        if not os.path.lexists(os.path.expanduser(path)):
            raise UsageError(f"--init '{path}' is not content, noise or an existing image file")
        check_image(path, "init image")  # now, not after the plan and the network are out
    check_optimizer(optim.optimizer)


class Stylizer:
    """Holds the frozen VGG19 and the style targets; `stylize` paints one image.

    styles: list of (1x3xHxW RGB [0, 1] image, blend weight > 0); the blended target is the weighted mean of
    the styles' Gram matrices (as neural-style's -style_blend_weights).
    """

    def __init__(self, styles: list[tuple[torch.Tensor, float]], settings: StyleSettings, device: torch.device) -> None:
        loss = settings.loss
        check_layer_weights(loss)
        self.settings, self.device = settings, device
        self.set_styles(styles)
        layers = tuple(dict.fromkeys(loss.style_layers + loss.content_layers))
        self.vgg = VGGFeatures(load_weights(settings.weights), layers, settings.pooling,
                               cpu_bfloat16=cpu_bfloat16(settings.optim.amp)).to(device)
        self.layer_weights = dict(zip(loss.style_layers, _normalized(loss.style_layer_weights)))
        self._color_reference: torch.Tensor | None = None

    def set_styles(self, styles: list[tuple[torch.Tensor, float]]) -> None:
        """Paint with other styles from now on (same layout as the constructor's); VGG19 stays loaded, so a live
        session switches styles in one style-image forward pass."""
        check_blend_weights([w for _, w in styles])
        weights = _normalized([w for _, w in styles])
        self.styles = [(image.to(self.device), w) for (image, _), w in zip(styles, weights)]
        self._targets: dict[tuple, dict[str, torch.Tensor]] = {}

    def to(self, device: torch.device | str) -> Stylizer:
        """Continue on `device` (e.g. the CPU after the GPU ran out of memory): VGG19, the styles and the colour
        reference move; the cached style targets are recomputed there when next needed."""
        self.device = torch.device(device)
        self.vgg = self.vgg.to(self.device)
        self.styles = [(image.to(self.device), w) for image, w in self.styles]
        if self._color_reference is not None:
            self._color_reference = self._color_reference.to(self.device)
        self._targets = {}
        return self

    def set_color_reference(self, content: torch.Tensor) -> None:
        """With preserve_colors, match the styles' luminance to this content (once per still, or per scene)."""
        if self.settings.preserve_colors:
            self._color_reference = content.to(self.device)
            self._targets.clear()

    @torch.no_grad()
    def style_targets(self, content_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Blended Gram targets for a content of (height, width); computed once per size and cached."""
        key = tuple(content_size)
        if key not in self._targets:
            long_side = max(1, round(max(content_size) * self.settings.style_scale))
            blended: dict[str, torch.Tensor] = {}
            for image, weight in self.styles:
                # A small --style-scale (or a thin painting) is kept at the least VGG19 can take.
                least = min_long_side(image.shape[2], image.shape[3])
                style = resize(image, fit_long_side(image.shape[2], image.shape[3], max(long_side, least)))
                if self._color_reference is not None:
                    style = color.match_luminance(style, self._color_reference)
                feats = self.vgg(style)
                for name in self.settings.loss.style_layers:
                    g = gram(feats[name]) * weight
                    blended[name] = blended[name] + g if name in blended else g
            self._targets[key] = blended
        return self._targets[key]

    def objective(self, content: torch.Tensor, extra: ExtraLoss | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """The loss over a 1x3xHxW image for this content (content features encoded once, here)."""
        loss = self.settings.loss
        targets = self.style_targets((content.shape[2], content.shape[3]))
        with torch.no_grad():
            content_feats = {k: v.float() for k, v in self.vgg(content).items() if k in loss.content_layers}

        def total(image: torch.Tensor) -> torch.Tensor:
            feats = self.vgg(image)
            c = sum(content_loss(feats[k], content_feats[k]) for k in loss.content_layers) / len(loss.content_layers)
            s = sum(self.layer_weights[k] * style_loss(feats[k], targets[k]) for k in loss.style_layers)
            value = loss.content_weight * c + loss.style_weight * s + loss.tv_weight * total_variation(image)
            return value + extra(image) if extra is not None else value

        return total

    def initial_image(self, content: torch.Tensor) -> torch.Tensor:
        """The starting image for --init content|noise|PATH, at the content's size (1x3xHxW, [0, 1])."""
        init = self.settings.init
        if init == "content":
            return content
        if init == "noise":
            gen = torch.Generator().manual_seed(self.settings.seed)
            return torch.rand(content.shape, generator=gen).to(content)
        return resize(load_image(init, "init image", self.device), (content.shape[2], content.shape[3]))  # a path

    def stylize(
        self,
        content: torch.Tensor,
        *,
        init: torch.Tensor | None = None,
        iterations: int | None = None,
        coarse_to_fine: bool = True,
        extra_loss: ExtraLoss | None = None,
        on_event: Callback | None = None,
        stop: threading.Event | None = None,
        scale: float = 1.0,
        first_step: float | None = None,
    ) -> torch.Tensor:
        """Paint `content` (1x3xHxW RGB [0, 1], at the final size) and return the result, same shape, in [0, 1].

        init: starting image at the final size (default: per settings.init). iterations: per scale (default:
        settings). extra_loss applies at the final scale only (e.g. a temporal term, defined on the full frame).
        scale < 1 paints at that fraction of the size and upsamples the result (less memory, less detail; see
        oom.py); extra_loss then sees the upsampled image, so it keeps its full-size meaning. first_step: L-BFGS's
        first trial step at the first scale, from a similar run's ScaleDone.step_scale (see optimize).
        """
        if scale != 1.0:
            return self._stylize_smaller(content, scale, init=init, iterations=iterations,
                                         coarse_to_fine=coarse_to_fine, extra_loss=extra_loss, on_event=on_event,
                                         stop=stop, first_step=first_step)
        optim = self.settings.optim
        iterations = optim.iterations if iterations is None else iterations
        torch.manual_seed(self.settings.seed)
        content = content.to(self.device)
        if self.settings.preserve_colors:
            if self._color_reference is None:
                self.set_color_reference(content)
            source = color.luminance(content)
        else:
            source = content
        start = (self.initial_image(source) if init is None else init.to(self.device))
        if self.settings.preserve_colors:
            start = color.luminance(start)
        h, w = content.shape[2], content.shape[3]
        sizes = scale_schedule(h, w, optim.max_scales if coarse_to_fine else 1, optim.min_scale_side)
        image = resize(start, sizes[0])
        if on_event is not None:
            on_event(ScalePlan(tuple(sizes), iterations))
        for k, size in enumerate(sizes):
            image = resize(image, size)
            last = k == len(sizes) - 1
            objective = self.objective(resize(source, size), extra_loss if last else None)
            seen = []

            def relay(event: object) -> None:
                seen.append(event)
                if on_event is not None:
                    on_event(event)

            image, loss, step_scale = optimize(image, objective, optim, iterations, scale=(k, len(sizes)),
                                               on_event=relay, stop=stop, first_step=first_step if k == 0 else None)
            ran = seen[-1].iteration if seen else 0
            if on_event is not None:
                on_event(ScaleDone(k, len(sizes), ran, iterations, loss, step_scale))
        if self.settings.preserve_colors:
            image = color.keep_colors(image, content)
        return image

    def _stylize_smaller(self, content: torch.Tensor, scale: float, *, init: torch.Tensor | None,
                         extra_loss: ExtraLoss | None, **options: object) -> torch.Tensor:
        full = (content.shape[2], content.shape[3])
        small = (_shrunk(full[0], scale), _shrunk(full[1], scale))
        extra = None if extra_loss is None else (lambda image: extra_loss(resize(image, full)))
        result = self.stylize(resize(content.to(self.device), small),
                              init=None if init is None else resize(init.to(self.device), small),
                              extra_loss=extra, **options)
        return resize(result, full).clamp(0.0, 1.0)
