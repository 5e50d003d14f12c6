"""pipeline.checks: every refusal of a request before slow work, named as the command line names the option, and
the names the checks accept are the registries' own."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from pipeline.checks import check_layer_names, check_style_settings
from pipeline.config import StyleSettings
from pipeline.errors import UsageError

TINY = StyleSettings(size=64)


def test_the_names_the_parser_offers_are_the_registries():
    from pipeline import config
    from pipeline.core import devices, optimize, vgg

    assert config.DEVICE_CHOICES == ("auto", *devices.AVAILABLE)
    assert config.OPTIMIZER_NAMES == tuple(optimize.OPTIMIZERS) and config.WEIGHT_NAMES == tuple(vgg.WEIGHTS)


def test_the_layer_names_are_the_network_s_own(caffe_weights):
    from torch import nn

    from pipeline.config import VGG_LAYER_NAMES
    from pipeline.core.vgg import VGGFeatures

    net = VGGFeatures(caffe_weights, [VGG_LAYER_NAMES[-1]])
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    assert net.names == VGG_LAYER_NAMES and len(VGG_LAYER_NAMES) == 16 + 16 + 4
    assert all(isinstance(module, kinds[name[:4]]) for name, module in zip(net.names, net.net))


def test_unknown_layer_is_named():
    with pytest.raises(UsageError, match="--style-layers: unknown VGG19 layer 'relu9_9'"):  # a wrong request: exit 2
        check_layer_names(["relu4_2", "relu9_9"], "--style-layers")


def test_an_unknown_pooling_is_refused_not_taken_as_average():
    with pytest.raises(UsageError, match="--pooling must be max or avg, got 'min'"):
        check_style_settings(replace(TINY, pooling="min"))


def test_init_path_may_start_with_home_but_a_misspelt_keyword_is_named(tmp_path, monkeypatch):
    # "~/..." is the home folder for --init as for every input; the check that names the keywords once refused it.
    monkeypatch.setenv("HOME", str(tmp_path))
    Image.new("RGB", (8, 8)).save(tmp_path / "init.png")
    check_style_settings(StyleSettings(init="~/init.png"))
    with pytest.raises(UsageError, match="--init 'Noise' is not content, noise or an existing image file"):
        check_style_settings(StyleSettings(init="Noise"))
