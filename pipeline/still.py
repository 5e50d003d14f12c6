"""Still images end to end: photo + styles -> stylized image file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import torch

from .checks import (
    check_blend_weights,
    check_files,
    check_network_size,
    check_style_settings,
    init_path,
    soft_style_warning,
)
from .config import StyleSettings
from .core.cpu_threads import use_threads
from .core.devices import device_label, pick_device
from .core.geometry import fit_long_side
from .core.oom import free_cache, is_out_of_memory
from .core.optimize import Callback
from .core.stylizer import resize
from .errors import DeviceError, UsageError
from .events import StillPlan, StylizeWarning
from .media.frames import load_image, save_image
from .sequence import StylizerFactory, make_stylizer

StyleSpec = tuple[str | os.PathLike, float]  # style image path, blend weight


def load_styles(styles: list[StyleSpec], device: torch.device) -> list[tuple[torch.Tensor, float]]:
    """Read each style image (1x3xHxW RGB [0, 1] on `device`) with its blend weight."""
    if not styles:
        raise UsageError("give at least one style image")
    return [(load_image(path, "style image", device), float(weight)) for path, weight in styles]


def stylize_image(
    photo: torch.Tensor,
    styles: list[tuple[torch.Tensor, float]],
    settings: StyleSettings = StyleSettings(),
    device: str | torch.device = "auto",
    on_event: Callback | None = None,
    stop: threading.Event | None = None,
    stylizer: StylizerFactory | None = None,
) -> torch.Tensor:
    """Stylize `photo` (1x3xHxW RGB [0, 1], any size) in the blended `styles`; returns 1x3xhxw RGB [0, 1] on the CPU
    whose long side is settings.size. stylizer: what makes the stylizer (sequence.StylizerFactory; None: the
    optimizer's)."""
    check_blend_weights([weight for _, weight in styles])
    check_style_settings(settings)
    return _stylize(photo, styles, settings, device, on_event, stop, stylizer)


def _stylize(photo: torch.Tensor, styles: list[tuple[torch.Tensor, float]], settings: StyleSettings,
             device: str | torch.device, on_event: Callback | None, stop: threading.Event | None,
             stylizer: StylizerFactory | None) -> torch.Tensor:
    """stylize_image once its request is checked."""
    device = device if isinstance(device, torch.device) else pick_device(device)
    size = fit_long_side(photo.shape[2], photo.shape[3], settings.size)
    check_network_size(size, (photo.shape[2], photo.shape[3]), settings.size)
    content = resize(photo.to(device), size)
    init = [resize(load_image(path, "init image", device), size) for path in init_path(settings)]
    threads = use_threads(settings.threads)
    engine = make_stylizer(stylizer, styles, settings, device)
    if on_event is not None:
        on_event(StillPlan(size, device_label(device, settings.optim.amp), len(styles), threads))
    try:
        return engine.stylize(content, init=init[0] if init else None, on_event=on_event, stop=stop).cpu()
    except Exception as error:  # noqa: BLE001 - re-raised unless it is out-of-memory
        if not is_out_of_memory(error):
            raise
    # Outside the except block, so the failed attempt's tensors are released. Unlike a video (see core/oom.py), one
    # still is not silently stylized smaller or moved to a CPU that may take an hour: the user chooses.
    free_cache(device)
    advice = "" if device.type == "cpu" else " or use --device cpu"
    raise DeviceError(f"out of memory on {device} painting {size[1]}x{size[0]} px; lower --size "
                      f"(memory grows with the area){advice}")


def stylize_image_file(
    photo_path: str | os.PathLike,
    styles: list[StyleSpec],
    output_path: str | os.PathLike,
    settings: StyleSettings = StyleSettings(),
    device: str = "auto",
    on_event: Callback | None = None,
    stop: threading.Event | None = None,
    overwrite: bool = False,
    stylizer: StylizerFactory | None = None,
) -> Path:
    """Read, stylize and atomically write one still; every input is checked before the slow work starts.

    An existing `output_path` is refused (UsageError) unless `overwrite`."""
    check_blend_weights([weight for _, weight in styles])
    check_style_settings(settings)
    photo_file, style_files, output = check_files(photo_path, styles, output_path, settings, overwrite, still=True)
    dev = pick_device(device)
    photo = load_image(photo_file, "photo", dev)
    style_images = load_styles(style_files, dev)
    size = fit_long_side(photo.shape[2], photo.shape[3], settings.size)
    for (path, _), (image, _) in zip(styles, style_images):
        warning = soft_style_warning(str(path), (image.shape[2], image.shape[3]), size, settings.style_scale)
        if warning is not None and on_event is not None:
            on_event(StylizeWarning(warning))
    result = _stylize(photo, style_images, settings, dev, on_event, stop, stylizer)
    save_image(result, output, overwrite)
    return output
