"""Frame, and the only conversions between OpenCV's images and the stylizer's tensors.

Inside the pipeline an image is a float32 tensor of shape 1x3xHxW, RGB, values in [0, 1], on an explicit device.
OpenCV's HxWx3 BGR uint8 arrays exist only at the edges (sources and sinks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Frame:
    """One decoded picture of a stream.

    index: 0-based position in the decoded stream; time: presentation time in seconds from the stream's start;
    pixels: HxWx3 BGR uint8 array (C-contiguous, never modified after creation). repeat: the frame before's picture
    again, where a variable-rate file runs slower than its constant rate (sources.VideoReader).
    """

    index: int
    time: float
    pixels: np.ndarray
    repeat: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.pixels.shape[1], self.pixels.shape[0]


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
