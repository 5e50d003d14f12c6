"""The output file names a video run writes, by suffix: the containers that hold our H.264 video, and GIF.

Free of torch, OpenCV and ffmpeg, so the command line refuses a wrong OUTPUT name, and lists the right ones in its
help, before anything slow is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError

# Output file suffix -> ffmpeg muxer. Only containers that hold H.264 video, and of those the ones we write (.avi,
# for one, can hold H.264 too: we do not write it).
CONTAINERS = {".mp4": "mp4", ".m4v": "ipod", ".mov": "mov", ".mkv": "matroska"}
GIF_SUFFIX = ".gif"


def listed(suffixes: list[str] | tuple[str, ...], last: str = "or") -> str:
    """'.mp4, .m4v, .mov or .mkv'."""
    return suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} {last} {suffixes[-1]}"


def is_gif(path: str | os.PathLike) -> bool:
    """Whether an output path names an animated GIF (any case of .gif)."""
    return Path(path).suffix.lower() == GIF_SUFFIX


def container_of(path: str | os.PathLike) -> str:
    """ffmpeg muxer for an output path (or a bare suffix like ".mov"); no suffix (e.g. /dev/full) means MP4."""
    text = os.fspath(path)
    suffix = text.lower() if text.startswith(".") and "/" not in text else Path(text).suffix.lower()
    if not suffix:
        return "mp4"
    if suffix not in CONTAINERS:
        raise UsageError(f"output '{text}': '{suffix}' is not supported; videos are written as H.264 in "
                         f"{listed(list(CONTAINERS))}")
    return CONTAINERS[suffix]


def check_video_name(path: str | os.PathLike) -> str:
    """container_of for a file the user names: without a suffix it is a UsageError, not MP4, because the temporary
    file beside it (see paths.atomic_output) would have no container to go by."""
    if not Path(path).suffix:
        raise UsageError(f"output '{os.fspath(path)}' has no extension; end it in one of {', '.join(CONTAINERS)}")
    return container_of(path)


def check_animation_name(path: str | os.PathLike) -> str:
    """check_video_name for the video command and live recordings, which also write GIFs: "gif" for a .gif path,
    else the H.264 muxer."""
    if is_gif(path):
        return "gif"
    try:
        return check_video_name(path)
    except UsageError as error:
        raise UsageError(f"{error}, or as a GIF ({GIF_SUFFIX})") from None
