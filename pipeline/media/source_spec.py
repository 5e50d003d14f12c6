"""What a live SOURCE names: a camera index ("0"), a device path ("/dev/video0"), a stream URL or a video file.

Free of torch and OpenCV, so the command line refuses a missing device or file before anything slow is imported;
media/live_sources.py opens and reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import STREAM_SCHEMES
from ..errors import InputError, UsageError
from .paths import check_input


@dataclass(frozen=True)
class SourceSpec:
    """kind: "camera" (target an int index), "device" (a device path), "stream" (a URL) or "file" (a path)."""

    kind: str
    target: int | str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.target}" if self.kind != "file" else f"video '{self.target}'"


def parse_source(text: str) -> SourceSpec:
    """What the user's SOURCE names; missing device paths and files fail here, before anything is loaded."""
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise UsageError(f"live source '{text}': scheme '{scheme}' is not one of {', '.join(STREAM_SCHEMES)}")
        return SourceSpec("stream", text)
    if text.startswith("/dev/"):
        if not os.path.exists(text):
            raise InputError(f"device '{text}' does not exist (camera unplugged? `ls /dev/video*` lists cameras)")
        return SourceSpec("device", text)
    return SourceSpec("file", str(check_input(text, "live source")))


def describe_source(spec: SourceSpec) -> str:
    """A short name for messages: 'camera 0', 'bikes.mp4', 'rtsp://host/stream'."""
    return Path(str(spec.target)).name if spec.kind == "file" else spec.label
