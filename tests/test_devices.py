"""Where lower precision is used: bfloat16 only on a CPU that computes it natively, and only when asked (amp)."""

from dataclasses import replace

import pytest
import torch

from cli.args import build_parser, style_settings
from cli.live_args import build_live_parser, settings_from
from pipeline.config import StyleSettings
from pipeline.core import devices
from pipeline.core.stylizer import Stylizer

CPU = torch.device("cpu")


def cpu_has(monkeypatch, avx512_bf16: bool, amx: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)


@pytest.mark.parametrize("avx512_bf16, amx, native", [(False, False, False), (True, False, True), (False, True, True)])
def test_bfloat16_only_where_the_cpu_computes_it(monkeypatch, avx512_bf16, amx, native):
    cpu_has(monkeypatch, avx512_bf16, amx)
    assert devices.native_bfloat16() is native
    assert devices.device_label(CPU, amp=True) == ("cpu (bfloat16)" if native else "cpu")
    assert devices.device_label(CPU, amp=False) == "cpu"


def test_a_torch_without_the_cpu_checks_stays_in_float32(monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    assert not devices.native_bfloat16()


@pytest.mark.parametrize("native", [True, False])
def test_the_stylizer_runs_vgg_in_bfloat16_only_with_amp_on_such_a_cpu(monkeypatch, starry, native):
    monkeypatch.setattr(devices, "native_bfloat16", lambda: native)
    amp_on = Stylizer([(starry, 1.0)], StyleSettings(), CPU)
    amp_off = Stylizer([(starry, 1.0)], replace(StyleSettings(), optim=replace(StyleSettings().optim, amp=False)), CPU)
    assert amp_on.vgg.cpu_bfloat16 is native and amp_off.vgg.cpu_bfloat16 is False


def test_precision_float32_turns_amp_off_in_both_modes():
    parser = build_parser()
    assert style_settings(parser.parse_args(["a.jpg", "s.jpg", "o.png"])).optim.amp is True
    assert style_settings(parser.parse_args(["a.jpg", "s.jpg", "o.png", "--precision", "float32"])).optim.amp is False
    live = build_live_parser()  # parse_live_args would also look for the files
    assert settings_from(live.parse_args(["--live", "0", "s.jpg"]))[1].optim.amp is True
    assert settings_from(live.parse_args(["--live", "0", "s.jpg", "--precision", "float32"]))[1].optim.amp is False
