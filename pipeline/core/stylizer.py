"""The stylizer: VGG19 and style targets held once, one image (or video frame) optimized at a time, coarse to
fine. Images are 1x3xHxW float32 RGB tensors in [0, 1] on the stylizer's device."""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..config import LossSettings, StyleSettings
from ..events import ScaleDone, ScalePlan
from . import color
from .devices import cpu_bfloat16
from .geometry import fit_long_side, min_long_side, scale_schedule, shrunk
from .losses import content_loss, gram, style_loss, total_variation
from .optimize import Callback, optimize
from .vgg import VGGFeatures, load_weights

ExtraLoss = Callable[[torch.Tensor], torch.Tensor]  # image at the final scale -> scalar (e.g. temporal loss)


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a 1x3xHxW image to (height, width); antialiased when shrinking so no aliasing reaches the Grams."""
    if tuple(image.shape[2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[2] or size[1] < image.shape[3]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def _box_weights(source: int, target: int, like: torch.Tensor) -> torch.Tensor:
    """target x source weights: each target pixel the mean of the source pixels its span covers, weighted by how much
    of each it covers (a box filter at any factor)."""
    edges = torch.arange(target + 1, dtype=torch.float64) * (source / target)
    left = torch.arange(source, dtype=torch.float64)
    overlap = (torch.minimum(edges[1:, None], left + 1) - torch.maximum(edges[:-1, None], left)).clamp(min=0)
    return (overlap / overlap.sum(dim=1, keepdim=True)).to(like)


def shrink_painting(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A painting (1x3xHxW) at the smaller (height, width) its Gram targets are taken at, with a box filter, as
    neural-style's torch-image does; enlarged (a painting smaller than the result) as resize() does.

    Deviation from our resize(): its antialiased bilinear kernel is wider than a box and blurs the brushwork the
    Gram matrices measure; on Starry Night at 512 px the two targets differ by more than neural-style's whole style
    term of its own published picture, and the box targets give a more painterly result (docs/design.md)."""
    if size[0] > image.shape[2] or size[1] > image.shape[3]:
        return resize(image, size)
    rows, cols = _box_weights(image.shape[2], size[0], image), _box_weights(image.shape[3], size[1], image)
    return torch.einsum("ph,nchw,qw->ncpq", rows, image, cols)


def coarse_caps(caps: Sequence[int], scales: int) -> tuple[int, ...]:
    """The iteration caps of `scales` coarse scales, the coarsest first: `caps` in order, the last one repeated for
    scales beyond them (none given: no coarse scale may run)."""
    return tuple(caps[min(k, len(caps) - 1)] if caps else 0 for k in range(scales))


def _normalized(weights: Sequence[float]) -> list[float]:
    """Finite weights >= 0, not all 0 -> the same proportions summing to 1. Divided by the largest first, so that
    weights as large as 1e308 do not overflow the sum to inf (which made every weight 0)."""
    peak = max(weights)
    scaled = [w / peak for w in weights]
    total = sum(scaled)
    return [w / total for w in scaled]


class Stylizer:
    """Holds the frozen VGG19 and the style targets; `stylize` paints one image.

    styles: list of (1x3xHxW RGB [0, 1] image, blend weight > 0); the blended target is the weighted mean of
    the styles' Gram matrices (as neural-style's -style_blend_weights). The settings are taken as checked
    (pipeline.checks); settings.init may be "content" or "noise": an init image is given to stylize() as `init`.
    """

    def __init__(self, styles: list[tuple[torch.Tensor, float]], settings: StyleSettings, device: torch.device) -> None:
        loss = settings.loss
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
                style = shrink_painting(image, fit_long_side(image.shape[2], image.shape[3], max(long_side, least)))
                if self._color_reference is not None:
                    style = color.match_luminance(style, self._color_reference)
                feats = self.vgg(style)
                for name in self.settings.loss.style_layers:
                    g = gram(feats[name]) * weight
                    blended[name] = blended[name] + g if name in blended else g
            self._targets[key] = blended
        return self._targets[key]

    def objective(self, content: torch.Tensor, extra: ExtraLoss | None = None,
                  targets_size: tuple[int, int] | None = None,
                  weights: LossSettings | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """The loss over a 1x3xHxW image for this content (content features encoded once, here). targets_size:
        the (height, width) of the picture `content` is a crop of, whose style targets it takes (the painting's
        strokes keep their size in pixels); None: the content's own size. weights: other content, style and tv
        weights than the settings' (same layers), e.g. for the fast painter's training."""
        loss = self.settings.loss if weights is None else weights
        targets = self.style_targets(targets_size or (content.shape[2], content.shape[3]))
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
        """The starting image for --init content|noise, at the content's size (1x3xHxW, [0, 1]). An init image
        file is read by the run and comes to stylize() as `init`."""
        init = self.settings.init
        if init == "content":
            return content
        if init == "noise":
            gen = torch.Generator().manual_seed(self.settings.seed)
            return torch.rand(content.shape, generator=gen).to(content)
        raise ValueError(f"init {init!r} names a file: read it and pass the image to stylize() as init")

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

        init: starting image at the final size (default: per settings.init). iterations: at the final scale
        (default: settings.optim.iterations); a coarser scale gets at most its settings.optim.coarse_iterations and
        stops once the picture settles there (see OptimSettings). extra_loss applies at the final scale only (e.g. a temporal term, defined on the full frame).
        scale < 1 paints at that fraction of the size and upsamples the result (less memory, less detail; see
        core/oom.py); extra_loss then sees the upsampled image, so it keeps its full-size meaning. first_step: L-BFGS's
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
        caps = coarse_caps(optim.coarse_iterations, len(sizes) - 1) + (iterations,)
        if on_event is not None:
            on_event(ScalePlan(tuple(sizes), caps))
        for k, size in enumerate(sizes):
            image = resize(image, size)
            last = k == len(sizes) - 1
            objective = self.objective(resize(source, size), extra_loss if last else None)
            image, loss, step_scale, ran, settled = optimize(
                image, objective, optim, caps[k], scale=(k, len(sizes)), on_event=on_event, stop=stop,
                first_step=first_step if k == 0 else None, settle=not last)
            if on_event is not None:
                on_event(ScaleDone(k, len(sizes), ran, caps[k], loss, step_scale, settled))
        if self.settings.preserve_colors:
            image = color.keep_colors(image, content)
        return image

    def _stylize_smaller(self, content: torch.Tensor, scale: float, *, init: torch.Tensor | None,
                         extra_loss: ExtraLoss | None, **options: object) -> torch.Tensor:
        full = (content.shape[2], content.shape[3])
        small = (shrunk(full[0], scale), shrunk(full[1], scale))
        extra = None if extra_loss is None else (lambda image: extra_loss(resize(image, full)))
        result = self.stylize(resize(content.to(self.device), small),
                              init=None if init is None else resize(init.to(self.device), small),
                              extra_loss=extra, **options)
        return resize(result, full).clamp(0.0, 1.0)
