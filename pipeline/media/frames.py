"""The only conversions between the arrays of files and cameras and the stylizer's tensors.

Inside the pipeline an image is a float32 tensor of shape 1x3xHxW, RGB, values in [0, 1], on an explicit device.
OpenCV's HxWx3 BGR uint8 arrays (and Pillow's HxWx3 RGB uint8 ones) exist only at the edges: readers, writers,
cameras and image files.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .images import load_rgb, save_rgb


def bgr_to_tensor(bgr: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx3 BGR uint8 -> 1x3xHxW float32 RGB in [0, 1] on `device`."""
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got shape {bgr.shape} dtype {bgr.dtype}")
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    tensor = torch.from_numpy(rgb).to(device)
    return tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0).contiguous()


def tensor_to_bgr(image: torch.Tensor) -> np.ndarray:
    """1x3xHxW float RGB (any device, values clipped to [0, 1]) -> HxWx3 BGR uint8, rounded to nearest."""
    if image.ndim != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"expected a 1x3xHxW tensor, got shape {tuple(image.shape)}")
    rgb = image.detach()[0].clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return np.ascontiguousarray(rgb.permute(1, 2, 0).cpu().numpy()[:, :, ::-1])


def rgb_to_tensor(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx3 RGB uint8 (as PIL gives) -> 1x3xHxW float32 RGB in [0, 1] on `device`."""
    return bgr_to_tensor(np.ascontiguousarray(rgb[:, :, ::-1]), device)


def tensor_to_rgb(image: torch.Tensor) -> np.ndarray:
    """1x3xHxW float RGB in [0, 1] -> HxWx3 RGB uint8 (as PIL takes)."""
    return np.ascontiguousarray(tensor_to_bgr(image)[:, :, ::-1])


def load_image(path: str | os.PathLike, what: str = "image", device: torch.device | str = "cpu") -> torch.Tensor:
    """Read an image file (see images.load_rgb) as a 1x3xHxW float32 RGB tensor in [0, 1] on `device`."""
    return rgb_to_tensor(load_rgb(path, what), device)


def save_image(image: torch.Tensor, path: str | os.PathLike, overwrite: bool = True) -> None:
    """Write a 1x3xHxW RGB [0, 1] tensor as an image file, atomically (see images.save_rgb)."""
    save_rgb(tensor_to_rgb(image), path, overwrite)
