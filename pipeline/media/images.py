"""Still images as HxWx3 RGB uint8 arrays: reading (with EXIF orientation, the embedded colour profile and a
decompression-bomb guard) and atomic writing. Torch-free: the checks open images before torch is imported."""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..errors import InputError, OutputError, UsageError
from .paths import atomic_output, check_input

# A larger image is reduced as it is read, by the smallest whole factor per side that brings it to at most MAX_PIXELS
# (64 MP: a 48 or 61 MP camera photo is read whole, a 108 MP one at half size, 6000x4500, more than the presets' 256
# to 768 px need; only a --size above its reduced long side is painted from enlarged pixels). A JPEG is decoded at
# 1/2, 1/4 or 1/8 scale (Pillow's draft, which also spares the memory), other formats are reduced after decoding.
# Pillow itself refuses, before decoding, images of more than twice Image.MAX_IMAGE_PIXELS (179 MP by default):
# decompression bombs, and 200 MP phone photos.
MAX_PIXELS = 64_000_000
IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF"}
# Pillow formats whose several frames are an animation (played as a video); other multi-picture files are stills.
ANIMATION_FORMATS = {"GIF", "PNG", "WEBP", "AVIF"}
# What a folder of styles may hold: the formats we write, and HEIC/HEIF (phones' photos) and AVIF, read only.
READABLE_SUFFIXES = (*IMAGE_SUFFIXES, ".heic", ".heif", ".avif")

# The image modes (after transparency is laid on white: RGBA, or L for LA) an embedded ICC profile of each colour
# space can describe; the first is what littleCMS converts from.
_PROFILE_MODES = {"RGB": ("RGB", "RGBA"), "CMYK": ("CMYK",), "GRAY": ("L",)}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

# iPhones save photos as HEIC, which Pillow cannot read by itself; the plugin also applies the file's rotation.
pillow_heif.register_heif_opener()


def _reduction(width: int, height: int) -> int:
    """The integer factor (per side) that brings width x height to at most MAX_PIXELS; 1 if it is within."""
    return max(1, math.ceil(math.sqrt(width * height / MAX_PIXELS)))


def check_image(path: str | os.PathLike, what: str) -> None:
    """InputError unless `path` is an image Pillow can decode (read from its header only: cheap)."""
    _open(check_input(path, what), what).close()


def _open(path: Path, what: str) -> Image.Image:
    """Open lazily (header only), refuse bombs before any pixel is decoded, and set a JPEG larger than MAX_PIXELS to
    decode at a reduced scale."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # within the hard limit: reduced below
            image = Image.open(path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{what} '{path}' could not be read (not an image?)") from None
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 10**6
        raise InputError(f"{what} '{path}' is too large to decode safely (over {limit:.3g} megapixels)") from None
    factor = _reduction(image.width, image.height)
    if factor > 1 and image.format in ("JPEG", "MPO"):
        image.draft(image.mode, (math.ceil(image.width / factor), math.ceil(image.height / factor)))
    return image


def is_still_image(path: str | os.PathLike) -> bool:
    """True if the file's content (not its name) is a still image. An animated GIF, PNG (APNG), WebP or AVIF is not;
    a JPEG holding several pictures (MPO: Android Ultra HDR gain maps, many cameras' previews) or a multi-page TIFF
    is a still, read as its first picture. An image too large to decode is a still too: reading it says so."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # reading it decides; no warning here
            with Image.open(path) as image:
                return not (image.format in ANIMATION_FORMATS and getattr(image, "n_frames", 1) > 1)
    except Image.DecompressionBombError:
        return True
    except Exception:  # anything PIL cannot identify is simply not a still image
        return False


def _deep_grey_to_8bit(image: Image.Image) -> Image.Image:
    """A one-channel 16/32-bit integer or float image ("I;16", "I", "F") as 8-bit "L", scaled to its type's range.

    Pillow's convert() clips these at 255 instead of scaling, which turns a 16-bit greyscale scan almost white.
    "I" is read as 16-bit data when it fits (how Pillow opens many 16-bit files); "F" as [0, 1] when it fits, else
    by its maximum.
    """
    values = np.asarray(image, dtype=np.float64)
    top = float(values.max(initial=0.0))
    if image.mode == "F":
        top = 1.0 if top <= 1.0 else top
    else:
        top = 65535.0 if top <= 65535 else top
    return Image.fromarray(np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8))


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """`image` as RGB in sRGB, converted from its embedded ICC profile `icc` by littleCMS (perceptual intent), as a
    colour-managed viewer shows it: an iPhone's Display P3 photo or an Adobe RGB scan read as if sRGB looks dull.
    An image without a profile is taken as sRGB; a profile littleCMS cannot read or that does not fit the image's
    mode is ignored, as browsers do."""
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            modes = _PROFILE_MODES.get(profile.profile.xcolor_space.strip(), ())
            if image.mode in modes:
                source = image.convert(modes[0]) if image.mode != modes[0] else image
                return ImageCms.profileToProfile(source, profile, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return image.convert("RGB")


def load_rgb(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """Read an image file as HxWx3 RGB uint8 in sRGB (converted from an embedded colour profile), upright per its
    EXIF orientation; transparency over white. An image of more than MAX_PIXELS comes reduced by the smallest whole
    factor per side that brings it within."""
    p = check_input(path, what)
    with _open(p, what) as image:
        icc = image.info.get("icc_profile")  # read first: the conversions below return images without it
        try:
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I") or image.mode == "F":
                image = _deep_grey_to_8bit(image)
            if image.mode == "LA":  # stays grey, so that a grey profile still describes it
                white = Image.new("L", image.size, 255)
                white.paste(image.getchannel("L"), mask=image.getchannel("A"))
                image = white
            elif image.mode in ("RGBA", "P", "PA"):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            rgb = _to_srgb(image, icc)
            factor = _reduction(rgb.width, rgb.height)  # what draft() left, or a format without it: box average
            return np.asarray(rgb.reduce(factor) if factor > 1 else rgb)
        except (OSError, SyntaxError, ValueError):
            raise InputError(f"{what} '{path}' is damaged and could not be decoded") from None


def image_format(path: str | os.PathLike) -> str:
    """PIL format name for an output path's suffix; UsageError for a suffix that is not an image format."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UsageError(
            f"output '{path}' should end in one of {', '.join(IMAGE_SUFFIXES)} for an image"
        )
    return IMAGE_SUFFIXES[suffix]


def save_rgb(rgb: np.ndarray, path: str | os.PathLike, overwrite: bool = True) -> None:
    """Write an HxWx3 RGB uint8 image atomically: the file appears at `path` only when complete (and without
    `overwrite`, only if no file is there by then)."""
    fmt = image_format(path)
    pixels = Image.fromarray(rgb)
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    with atomic_output(path, overwrite) as tmp:
        try:
            pixels.save(tmp, format=fmt, **options)
        except OSError as exc:
            raise OutputError(f"could not write '{path}': {exc.strerror or exc}") from None
