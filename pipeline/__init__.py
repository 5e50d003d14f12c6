"""stylize-video's core library: neural style transfer for photos, videos and live streams.

    from pipeline import stylize_image_file, StyleSettings
    stylize_image_file("photo.jpg", [("starry_night.jpg", 1.0)], "out.png", StyleSettings(size=256))
"""

from __future__ import annotations

import importlib

from .config import LossSettings, OptimSettings, StyleSettings, VideoSettings
from .errors import StylizeError

# The painting functions need torch, which takes seconds to import: they are loaded on first use, so that importing
# the settings or the errors (the command line's --help does) stays instant.
_LAZY = {
    "stylize_image": "still", "stylize_image_file": "still", "stylize_video": "video", "VideoPlan": "video",
    "FrameStarted": "video", "FrameDone": "video", "VideoWarning": "video", "VideoResult": "video",
}

__all__ = ["LossSettings", "OptimSettings", "StyleSettings", "VideoSettings", "StylizeError", *_LAZY]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
