"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural Artistic Style
Transfer", 2016): luminance-only transfer. Images are 1x3xHxW RGB in [0, 1]."""

from __future__ import annotations

import torch

# BT.601 luma/chroma (YCbCr without offsets): invertible, and Y is what the eye reads as structure.
_RGB_TO_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YUV_TO_RGB = torch.linalg.inv(_RGB_TO_YUV)


def rgb_to_yuv(image: torch.Tensor) -> torch.Tensor:
    """1x3xHxW RGB in [0, 1] -> Y in [0, 1], U and V in [-0.5, 0.5]."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YUV.to(image), image)


def yuv_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Inverse of rgb_to_yuv (not clipped)."""
    return torch.einsum("ij,bjhw->bihw", _YUV_TO_RGB.to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """1x3xHxW RGB -> 1x3xHxW grey image whose three channels are the luma Y."""
    return rgb_to_yuv(image)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Grey style image whose luma has the content's mean and standard deviation (Gatys et al. 2016, sec. 2.2)."""
    ys, yc = rgb_to_yuv(style)[:, :1], rgb_to_yuv(content)[:, :1]
    matched = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
    return matched.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def keep_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized image's luma with the content's chroma (U, V), clipped to [0, 1]. Same shapes."""
    y = rgb_to_yuv(stylized)[:, :1]
    uv = rgb_to_yuv(content)[:, 1:]
    return yuv_to_rgb(torch.cat([y, uv], dim=1)).clamp(0, 1)
