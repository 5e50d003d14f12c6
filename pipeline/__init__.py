"""stylize-video's library: neural style transfer for photos, videos and live streams.

    from pipeline import stylize_image_file, StyleSettings
    stylize_image_file("photo.jpg", [("starry_night.jpg", 1.0)], "out.png", StyleSettings(size=256))

One call per use: `stylize_image_file` / `stylize_image` (a still), `stylize_video`, `live`; progress arrives as the
small event objects of `pipeline.events` through `on_event`, and every failure the user can act on is a
`StylizeError` whose message is one line.

The layers, imports pointing down only: `core/` (tensor and array maths, no file paths) <- `media/` (files, ffmpeg,
cameras) <- the runs here (`still`, `video`, `sequence`, `live`, `checkpoints`, `flicker`) <- `cli/`. The torch-free
`config`, `errors`, `events` and `checks` serve every layer.
"""

from __future__ import annotations

import importlib

from .config import FastSettings, LiveSettings, LossSettings, OptimSettings, StyleSettings, VideoSettings
from .errors import StylizeError
from .events import (
    FrameDone,
    FrameStarted,
    IterationEvent,
    LiveFrame,
    LiveNotice,
    LiveResult,
    LiveStarted,
    ScaleDone,
    ScalePlan,
    StillPlan,
    StylizeWarning,
    VideoPlan,
    VideoResult,
)

# The stylizing functions need torch, which takes seconds to import: they are loaded on first use, so that importing
# the settings, the errors or the events (the command line's --help does) stays instant.
_LAZY = {"stylize_image": "still", "stylize_image_file": "still", "stylize_video": "video", "live": "live"}

__all__ = ["FastSettings", "LiveSettings", "LossSettings", "OptimSettings", "StyleSettings", "VideoSettings", "StylizeError",
           "FrameDone", "FrameStarted", "IterationEvent", "LiveFrame", "LiveNotice", "LiveResult", "LiveStarted",
           "ScaleDone", "ScalePlan", "StillPlan", "StylizeWarning", "VideoPlan", "VideoResult", *_LAZY]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
