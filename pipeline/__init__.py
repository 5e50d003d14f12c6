"""stylize-video's core library: neural style transfer for photos, videos and live streams.

    from pipeline import stylize_image_file, StyleSettings
    stylize_image_file("photo.jpg", [("starry_night.jpg", 1.0)], "out.png", StyleSettings(size=256))
"""

from .config import LossSettings, OptimSettings, StyleSettings, VideoSettings
from .errors import StylizeError
from .still import stylize_image, stylize_image_file
from .video import FrameDone, FrameStarted, VideoPlan, VideoResult, VideoWarning, stylize_video

__all__ = [
    "LossSettings", "OptimSettings", "StyleSettings", "VideoSettings", "StylizeError",
    "stylize_image", "stylize_image_file", "stylize_video",
    "VideoPlan", "FrameStarted", "FrameDone", "VideoWarning", "VideoResult",
]
