"""Shared fixtures: tiny real images from samples/ and the real (embedded) VGG19 weights, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.images import load_image
from pipeline.stylize import fit_long_side, resize
from pipeline.vgg import load_caffe

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="session")
def caffe_weights():
    return load_caffe()


def tiny(path: Path, long_side: int = 64) -> torch.Tensor:
    image = load_image(path)
    return resize(image, fit_long_side(image.shape[2], image.shape[3], long_side))


@pytest.fixture(scope="session")
def photo() -> torch.Tensor:
    return tiny(SAMPLES / "tubingen.jpg")


@pytest.fixture(scope="session")
def starry() -> torch.Tensor:
    return tiny(SAMPLES / "styles" / "starry_night.jpg")


@pytest.fixture(scope="session")
def scream() -> torch.Tensor:
    return tiny(SAMPLES / "styles" / "the_scream.jpg")
