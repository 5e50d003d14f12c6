import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.errors import InputError
from pipeline.media import images

from media import P3_D50, SRGB_D50, grey_icc_profile, icc_profile


def test_exif_orientation_and_transparency(tmp_path):
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif)
    assert images.load_rgb(tmp_path / "r.jpg").shape == (20, 10, 3)
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert (images.load_rgb(tmp_path / "a.png") == 255).all()


@pytest.mark.parametrize("suffix", [".heic", ".avif"])
def test_phone_formats_are_read_upright_with_their_colours(tmp_path, suffix):
    """iPhones save HEIC (read through pillow-heif); AVIF is Pillow's own. Both keep the photo's rotation."""
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:, :32] = (200, 40, 40)  # left half red, right half blue
    pixels[:, 32:] = (40, 40, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view: the red half ends on top
    Image.fromarray(pixels).save(tmp_path / f"p{suffix}", quality=95, exif=exif.tobytes())
    assert images.is_still_image(tmp_path / f"p{suffix}")
    rgb = images.load_rgb(tmp_path / f"p{suffix}").astype(float)
    assert rgb.shape == (64, 32, 3)
    top, bottom = rgb[4:28].mean(axis=(0, 1)), rgb[36:60].mean(axis=(0, 1))
    assert np.abs(top - (200, 40, 40)).max() < 12 and np.abs(bottom - (40, 40, 200)).max() < 12


def p3_to_srgb(values: np.ndarray) -> np.ndarray:
    """The sRGB numbers of Display P3 (gamma 2.2) numbers, by the book: decode, P3 -> XYZ (D50) -> sRGB, encode."""
    linear = (values / 255.0) ** 2.2
    xyz = linear @ np.array(P3_D50)  # each row of P3_D50: the XYZ of one primary
    srgb = np.clip(xyz @ np.linalg.inv(np.array(SRGB_D50)), 0.0, 1.0)
    encoded = np.where(srgb <= 0.0031308, 12.92 * srgb, 1.055 * srgb ** (1 / 2.4) - 0.055)
    return encoded * 255.0


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".heic"])
def test_an_embedded_colour_profile_is_converted_to_srgb(tmp_path, suffix):
    # An iPhone photo is Display P3: the same numbers mean more saturated colours than in sRGB, and read as sRGB
    # they look dull. A red, a green and a grey patch, tagged P3 and untagged.
    colours = np.array([(200, 60, 40), (60, 180, 70), (128, 128, 128)], np.uint8)
    pixels = np.repeat(np.repeat(colours[None], 16, axis=0), 16, axis=1)  # 16x48, three 16x16 patches
    options = {"quality": 98, "subsampling": 0} if suffix == ".jpg" else {"quality": -1} if suffix == ".heic" else {}
    Image.fromarray(pixels).save(tmp_path / f"p3{suffix}", icc_profile=icc_profile(P3_D50, 2.2), **options)
    Image.fromarray(pixels).save(tmp_path / f"plain{suffix}", **options)
    tolerance = 2 if suffix == ".png" else 4  # lossy formats
    centres = (slice(4, 12), slice(4, 12)), (slice(4, 12), slice(20, 28)), (slice(4, 12), slice(36, 44))

    def patches(name: str) -> np.ndarray:
        rgb = images.load_rgb(tmp_path / name).astype(float)
        return np.array([rgb[rows, cols].mean(axis=(0, 1)) for rows, cols in centres])

    assert np.abs(patches(f"plain{suffix}") - colours).max() <= tolerance  # no profile: the numbers are sRGB
    p3 = patches(f"p3{suffix}")
    assert np.abs(p3 - p3_to_srgb(colours.astype(float))).max() <= tolerance + 1, p3
    spread, raw_spread = p3.max(axis=1) - p3.min(axis=1), np.ptp(colours.astype(float), axis=1)
    assert (spread[:2] > raw_spread[:2] + 40).all(), spread  # more saturated: red 160 -> 206, green 120 -> 185
    assert spread[2] <= tolerance and abs(p3[2].mean() - 128) <= tolerance + 1  # grey stays grey (same white)


def test_a_grey_profile_is_used_with_or_without_transparency(tmp_path):
    # A greyscale scan tagged with a linear grey profile (gamma 1): its numbers are light, not sRGB-encoded. With an
    # alpha channel (LA, as Photoshop saves a grey layer) it must read the same where it is opaque.
    ramp = np.repeat(np.array([[13, 64, 128, 200]], np.uint8).repeat(4, axis=1), 4, axis=0)  # 4x16
    opaque, half = np.full_like(ramp, 255), np.full_like(ramp, 255)
    half[:, 8:] = 128  # the right half is half transparent: laid on white, then converted
    profile = grey_icc_profile(1.0)
    Image.fromarray(ramp).save(tmp_path / "l.png", icc_profile=profile)
    Image.fromarray(np.dstack([ramp, opaque])).save(tmp_path / "la.png", icc_profile=profile)
    Image.fromarray(np.dstack([ramp, half])).save(tmp_path / "half.png", icc_profile=profile)
    Image.fromarray(ramp).save(tmp_path / "plain.png")

    def encode(linear: np.ndarray) -> np.ndarray:  # sRGB's curve, by the book
        return 255.0 * np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)

    expected = encode(ramp / 255.0)
    for name in ("l.png", "la.png"):
        rgb = images.load_rgb(tmp_path / name).astype(float)
        assert np.abs(rgb - expected[..., None]).max() <= 1.5, (name, rgb[0, ::4, 0])
    assert np.array_equal(images.load_rgb(tmp_path / "plain.png")[..., 0], ramp)  # untagged: taken as sRGB
    half_rgb = images.load_rgb(tmp_path / "half.png").astype(float)
    blended = np.rint((ramp[:, 8:].astype(float) * 128 + 255 * 127) / 255)  # on white, in the file's own numbers
    assert np.abs(half_rgb[:, 8:, 0] - encode(blended / 255.0)).max() <= 1.5


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    Image.new("RGB", (200, 200)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # Pillow refuses over twice this, before decoding
    with pytest.raises(InputError, match="style image '.*big.png' is too large to decode safely \\(over 0.02 megapixels"):
        images.load_rgb(tmp_path / "big.png", "style image")


@pytest.mark.parametrize("name", ["scan.jpg", "scan.png"])
def test_an_image_over_the_pixel_budget_is_read_reduced(tmp_path, monkeypatch, name):
    # A 100 MP phone photo or museum scan used to be refused ("over the 64 megapixel limit"); results are 2048 px
    # at most, so it is now read reduced: a JPEG decoded at 1/4 scale (draft), a PNG box-averaged after decoding.
    pixels = np.zeros((300, 400, 3), np.uint8)
    pixels[:150] = (220, 40, 40)  # top half red, bottom half blue, as 8x8 JPEG blocks allow
    pixels[150:] = (40, 40, 220)
    Image.fromarray(pixels).save(tmp_path / name, quality=95)
    exact = images.load_rgb(tmp_path / name)
    assert exact.shape == (300, 400, 3)  # within the budget: read whole
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)  # 400x300 is 12 times that: a factor of 4 per side
    reduced = images.load_rgb(tmp_path / name).astype(int)
    assert reduced.shape == (75, 100, 3)
    assert np.abs(reduced[:30].mean(axis=(0, 1)) - (220, 40, 40)).max() < 6
    assert np.abs(reduced[45:].mean(axis=(0, 1)) - (40, 40, 220)).max() < 6


def test_still_detection_by_content_not_name(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.mp4", format="PNG")
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "clip.png").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    assert images.is_still_image(tmp_path / "photo.mp4")
    assert not images.is_still_image(tmp_path / "anim.gif")
    assert not images.is_still_image(tmp_path / "clip.png")


def test_multi_picture_stills_are_stills_and_read_as_their_first_picture(tmp_path):
    # MPO: a JPEG followed by more pictures (Android Ultra HDR gain maps, cameras' previews); Pillow counts them as
    # frames, and such photos used to be taken for 1-frame videos. A multi-page TIFF likewise.
    def pictures() -> tuple[Image.Image, Image.Image]:  # fresh ones per file: Pillow keeps state from a save
        return Image.new("RGB", (16, 12), (200, 30, 30)), Image.new("RGB", (8, 6), (30, 30, 200))

    first, second = pictures()
    first.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[second])
    first, second = pictures()
    first.save(tmp_path / "pages.tif", save_all=True, append_images=[second])
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])  # APNG: an animation
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:])
    for name in ("phone.jpg", "pages.tif"):
        with Image.open(tmp_path / name) as image:
            assert getattr(image, "n_frames", 1) == 2
        assert images.is_still_image(tmp_path / name)
        rgb = images.load_rgb(tmp_path / name).astype(int)
        assert rgb.shape == (12, 16, 3) and np.abs(rgb.mean(axis=(0, 1)) - (200, 30, 30)).max() < 8
    assert not images.is_still_image(tmp_path / "anim.png") and not images.is_still_image(tmp_path / "anim.webp")


def test_an_image_too_large_is_a_still_that_says_so(tmp_path, monkeypatch, recwarn):
    # Taken for a video, it got "video stream of unknown size"; it must reach the reader's own refusal, silently.
    Image.new("L", (200, 100)).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000)  # Pillow: a warning above this, an error above twice it
    assert images.is_still_image(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 12_000)
    assert images.is_still_image(tmp_path / "huge.png")
    assert not recwarn.list


def test_save_round_trip_is_exact_for_png(tmp_path):
    from pipeline.media.frames import load_image, save_image

    image = torch.randint(0, 256, (1, 3, 5, 7)).float() / 255
    save_image(image, tmp_path / "o.png")
    assert torch.equal(load_image(tmp_path / "o.png"), image)


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_deep_greyscale_is_scaled_not_clipped(tmp_path, mode):
    # A 16-bit (or 32-bit, or float) greyscale ramp must load as the same ramp: Pillow's own convert("RGB") clips
    # these at 255, and a 16-bit scan came out white.
    ramp = np.linspace(0.0, 1.0, 64)[None, :].repeat(8, axis=0)
    if mode == "F":
        pixels, path = Image.fromarray(ramp.astype(np.float32)), tmp_path / "ramp.tif"
    else:
        pixels = Image.fromarray(np.rint(ramp * 65535).astype(np.uint16 if mode == "I;16" else np.int32))
        path = tmp_path / ("ramp.png" if mode == "I;16" else "ramp.tif")
    pixels.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == mode  # the file really is that deep
    rgb = images.load_rgb(path)
    assert rgb.shape == (8, 64, 3) and (rgb == rgb[..., :1]).all()
    assert np.abs(rgb[0, :, 0].astype(float) - ramp[0] * 255).max() <= 1
