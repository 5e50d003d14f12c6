"""neural-style's objective (jcjohnson/neural-style, neural_style.lua at 07c4b82) as a scorer, for bench/still.py.

    loss = 5 * MSE(F_relu4_2(x), F_relu4_2(c))                                  (mean over C*H*W)
         + sum over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of 100 * MSE(G(x), G(s)), G = F F^T / (C*H*W)
                                                                               (mean over C*C)

Its TV term (1e-3) only adds a gradient, never a value, so it is not scored. VGG19's input: RGB [0, 1] -> BGR x 256
(not 255) minus the Caffe mean; our VGGFeatures takes x 255, so images are scaled by 256/255 first. Both photo and
painting are brought to a long side of `image_size` with torch-image's `image.scale(..., 'bilinear')`, which shrinks
with a fractional box filter (the painting independently of the photo's aspect).

Two variants of the style term: "exact" (neural-style's box filter) and "issue": the painting shrunk with PIL's
default (bicubic), which reproduces the figures the issue quotes (7.7e6 for neural-style's published
tubingen_starry, where the exact term gives 1.75e7: relu4_1's Gram of Starry Night depends strongly on the filter).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.core.geometry import fit_long_side
from pipeline.core.stylizer import shrink_painting
from pipeline.core.vgg import VGGFeatures, load_caffe
from pipeline.media.frames import load_image

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_WEIGHT, STYLE_WEIGHT = 5.0, 100.0


def _gram(features: torch.Tensor) -> torch.Tensor:
    flat = features[0].reshape(features.shape[1], -1)
    return (flat @ flat.T) / features[0].numel()


class NeuralStyleObjective:
    """The two terms of neural-style's objective for images of one photo at `image_size` px (long side)."""

    def __init__(self, photo: Path, painting: Path, image_size: int) -> None:
        self.vgg = VGGFeatures(load_caffe(), (*STYLE_LAYERS, CONTENT_LAYER))
        content = load_image(photo)
        self.size = fit_long_side(content.shape[2], content.shape[3], image_size)
        content = shrink_painting(content, self.size)  # torch-image's box filter, as for the painting
        style = load_image(painting)
        box = shrink_painting(style, fit_long_side(style.shape[2], style.shape[3], image_size))
        with torch.no_grad():
            self.content = self._features(content)[CONTENT_LAYER]
            self.styles = {"exact": self._grams(box), "issue": self._grams(_pil_bicubic(painting, image_size))}

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.vgg(image * (256.0 / 255.0))

    def _grams(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self._features(image)
        return {name: _gram(features[name]) for name in STYLE_LAYERS}

    @torch.no_grad()
    def terms(self, image: torch.Tensor) -> dict[str, float]:
        """{"content", "exact", "issue"} of a 1x3xHxW RGB [0, 1] image at the objective's size."""
        if tuple(image.shape[2:]) != tuple(self.size):
            raise ValueError(f"an image of {tuple(image.shape[2:])} px, the objective's is {self.size}")
        features = self._features(image)
        grams = {name: _gram(features[name]) for name in STYLE_LAYERS}
        terms = {"content": float(CONTENT_WEIGHT * (features[CONTENT_LAYER] - self.content).pow(2).mean())}
        for variant, targets in self.styles.items():
            terms[variant] = float(sum(STYLE_WEIGHT * (grams[n] - targets[n]).pow(2).mean() for n in STYLE_LAYERS))
        return terms


def _pil_bicubic(path: Path, long_side: int) -> torch.Tensor:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        size = (max(1, int(width * long_side / max(width, height))), max(1, int(height * long_side / max(width, height))))
        pixels = np.asarray(rgb.resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()
