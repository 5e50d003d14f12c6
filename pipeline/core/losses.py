"""Loss terms of neural style transfer: small pure functions on feature maps and images.

Feature maps are 1xCxHxW activations; images are 1x3xHxW RGB in [0, 1]. Every term is normalized so that its
value does not depend on the image size or on the scale of the network's activations: a weight chosen on a
256 px draft means the same on a 1024 px render, and the same defaults serve Caffe and torchvision weights.
"""

from __future__ import annotations

import torch


def gram(features: torch.Tensor) -> torch.Tensor:
    """CxC Gram matrix of 1xCxHxW features, divided by H*W (a mean over positions).

    Gatys et al. (2015) use the raw sum F F^T and divide the loss by 4 N^2 M^2 instead; dividing here keeps Grams
    of a style image at another resolution comparable (needed for --style-scale and coarse-to-fine).
    Computed in float32 even under autocast: Gram sums overflow float16.
    """
    f = features.float().flatten(2)[0]  # C x HW
    return (f @ f.T) / f.shape[1]


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Relative squared Frobenius error ||G - A||^2 / ||A||^2 between the Gram of `features` and `target_gram`.

    Deviation from Gatys et al. (2015, eq. 4): their per-layer E_l has magnitudes that differ by orders between
    relu1_1 and relu5_1, so equal layer weights are not equal in effect; dividing by ||A||^2 makes each layer's
    term dimensionless (0 = matched) and the layer weights mean what they say.
    """
    g = gram(features)
    return (g - target_gram).pow(2).sum() / target_gram.pow(2).sum().clamp_min(1e-12)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error ||F - P||^2 / ||P||^2 of 1xCxHxW features (Gatys et al. eq. 1, normalized)."""
    return (features.float() - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels of a 1x3xHxW image in [0, 1] (Mahendran & Vedaldi)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()
