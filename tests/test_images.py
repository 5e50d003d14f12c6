import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import images
from pipeline.errors import InputError


def test_exif_orientation_and_transparency(tmp_path):
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif)
    assert images.load_rgb(tmp_path / "r.jpg").shape == (20, 10, 3)
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert (images.load_rgb(tmp_path / "a.png") == 255).all()


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    Image.new("RGB", (200, 200)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    with pytest.raises(InputError, match="megapixel"):
        images.load_rgb(tmp_path / "big.png", "style image")


def test_still_detection_by_content_not_name(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.mp4", format="PNG")
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "clip.png").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    assert images.is_still_image(tmp_path / "photo.mp4")
    assert not images.is_still_image(tmp_path / "anim.gif")
    assert not images.is_still_image(tmp_path / "clip.png")


def test_save_round_trip_is_exact_for_png(tmp_path):
    image = torch.randint(0, 256, (1, 3, 5, 7)).float() / 255
    images.save_image(image, tmp_path / "o.png")
    assert torch.equal(images.load_image(tmp_path / "o.png"), image)
