import torch

from pipeline.core.losses import content_loss, gram, style_loss, total_variation


def test_gram_is_the_mean_outer_product_over_positions():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 2
    assert torch.allclose(gram(f), expected)


def test_style_loss_is_zero_at_the_target_and_scale_free():
    f, g = torch.rand(1, 8, 6, 6), torch.rand(1, 8, 6, 6)
    assert style_loss(f, gram(f)).item() < 1e-10
    a, b = style_loss(f, gram(g)), style_loss(f * 10, gram(g * 10))
    assert torch.allclose(a, b, rtol=1e-4) and a > 0


def test_style_loss_ignores_spatial_arrangement_and_size():
    f = torch.rand(1, 4, 8, 8)
    shuffled = f.flatten(2)[..., torch.randperm(64)].view(1, 4, 8, 8)
    tiled = f.repeat(1, 1, 2, 2)
    assert style_loss(shuffled, gram(f)).item() < 1e-8 and style_loss(tiled, gram(f)).item() < 1e-8


def test_content_loss_is_relative():
    p = torch.rand(1, 4, 5, 5)
    assert content_loss(p, p).item() == 0
    assert torch.allclose(content_loss(torch.zeros_like(p), p), torch.tensor(1.0))


def test_total_variation_of_flat_and_ramp_images():
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)).item() == 0
    ramp = torch.arange(8.0).div(10).view(1, 1, 1, 8).expand(1, 3, 8, 8)
    assert torch.allclose(total_variation(ramp), torch.tensor(0.01))
