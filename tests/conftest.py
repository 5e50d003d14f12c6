"""Shared fixtures: tiny real images from samples/, the real (embedded) VGG19 weights loaded once, a texture style
image, and one compute thread for the modules that ask for it."""

from __future__ import annotations

import os

# The runs choose their thread count from the machine's load unless OMP_NUM_THREADS says (core/cpu_threads.py), and
# the count changes the pixels in their last bits: fixed here, before torch is imported, so that two runs a test
# compares paint alike however the load moves. Tiny images gain nothing from more threads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import cv2
import pytest
import torch

from pipeline.core.geometry import fit_long_side
from pipeline.core.stylizer import resize
from pipeline.core.vgg import load_caffe
from pipeline.media.frames import load_image

from media import texture

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


@pytest.fixture(scope="module")
def one_thread():
    """One torch and OpenCV thread for a module (`pytestmark = pytest.mark.usefixtures("one_thread")`): on a shared
    2-core machine spinning thread pools make VGG up to 10x slower, and tiny images gain nothing from more."""
    torch_threads, cv_threads, asked = torch.get_num_threads(), cv2.getNumThreads(), os.environ["OMP_NUM_THREADS"]
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # what the runs' default follows (core/cpu_threads.default_threads)
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv_threads)
    os.environ["OMP_NUM_THREADS"] = asked


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32x32 texture PNG: a style image for pipeline runs where only the plumbing is under test."""
    path = tmp_path_factory.mktemp("style") / "style.png"
    cv2.imwrite(str(path), texture(32, 32, seed=7, blur=0.7))
    return path
