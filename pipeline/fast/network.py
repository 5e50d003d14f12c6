"""The fast painter's network: a small fully convolutional U-Net-like generator, after the shape of Texler et al.
2020's (a 7x7 convolution, two stride-2 convolutions, residual blocks at 1/4 resolution, two nearest-upsampling
convolutions with skip connections, a last convolution that also sees the input), shrunk for a CPU: channels
(16, 32, 64) and 2 residual blocks instead of (32, 64, 128) and 7, about 0.24 M parameters instead of 2.8 M.

Deviations from Texler et al.: no normalization layers (they use batch normalization): the network is the same
function in training and at inference, so a frame is never painted with statistics of other crops, and the
prototype measured no loss of quality without it (/work/notes/texler.md); LeakyReLU everywhere; a sigmoid output.

Input and output: Nx3xHxW RGB in [0, 1], any H and W (sides that are not multiples of 4 are handled by resizing the
upsampled features to the skip connection's size).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.2  # LeakyReLU's, as Texler et al.'s encoder
LOGIT_EPS = 1 / 255  # a residual network's input is clipped to [1/255, 254/255] before its logit: no infinities


@dataclass(frozen=True)
class Shape:
    """What decides the network: channels at full, 1/2 and 1/4 resolution, residual blocks; residual: the output is
    the input moved in logit space (sigmoid(logit(input) + network)), so an untrained network starts near the photo
    instead of a grey picture."""

    channels: tuple[int, int, int] = (16, 32, 64)
    res_blocks: int = 2
    residual: bool = False


def _conv(inputs: int, outputs: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, kernel, stride, kernel // 2), nn.LeakyReLU(SLOPE))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(SLOPE),
                                  nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Painter(nn.Module):
    """The generator. forward: Nx3xHxW RGB in [0, 1] -> Nx3xHxW RGB in [0, 1]."""

    def __init__(self, shape: Shape = Shape()) -> None:
        super().__init__()
        self.shape = shape
        full, half, quarter = shape.channels
        self.enter = _conv(3, full, 7)
        self.down1 = _conv(full, half, 3, 2)
        self.down2 = _conv(half, quarter, 3, 2)
        self.middle = nn.Sequential(*(_Residual(quarter) for _ in range(shape.res_blocks)))
        self.up2 = _conv(2 * quarter, half, 3)
        self.up1 = _conv(2 * half, half, 3)
        self.exit = _conv(half + full + 3, full, 3)
        self.rgb = nn.Conv2d(full, 3, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image * 2 - 1
        f0 = self.enter(x)
        f1 = self.down1(f0)
        f2 = self.down2(f1)
        u2 = self.up2(_up(torch.cat([self.middle(f2), f2], 1), f1))
        u1 = self.up1(_up(torch.cat([u2, f1], 1), f0))
        out = self.rgb(self.exit(torch.cat([u1, f0, x], 1)))
        return torch.sigmoid(out + torch.logit(image, eps=LOGIT_EPS) if self.shape.residual else out)


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """x upsampled (nearest) to the height and width of `like`."""
    return F.interpolate(x, size=like.shape[2:], mode="nearest")


def parameter_count(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())
