"""The live window: OpenCV's highgui showing the painted frame (optionally beside the camera's) with a small
overlay, and the keys pressed, as a pipeline.live.Display. Nothing in the pipeline needs a display.

Opening a window where none can open is not an exception with OpenCV's Qt build: Qt aborts the whole process. So
`window_unavailable()` finds out first, in a throwaway subprocess where it matters.
"""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np

from pipeline.live import KEY_ACTIONS, LiveView

TITLE = "stylize-video live"
MIN_LONG_SIDE = 512  # small live frames (64-128 px on a CPU) are enlarged on screen to at least this
PROBE_TIMEOUT_S = 30.0
_PROBE = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows(); cv2.waitKey(1)"
# waitKey codes -> key names of live.KEY_ACTIONS (other printable keys map to their character)
_KEY_NAMES = {27: "esc", 32: "space"}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Qt warns on every start that OpenCV's wheel ships no fonts; the overlay is drawn by OpenCV, so it does not matter.
_QT_QUIET = {"QT_LOGGING_RULES": os.environ.get("QT_LOGGING_RULES", "default.warning=false")}


def gui_backend() -> str:
    """The GUI line of OpenCV's build information ("QT5", "GTK3", "NONE" ...)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip() or "NONE"
    return "NONE"


def window_unavailable() -> str | None:
    """Why no window can open here (one line), or None if one can."""
    if gui_backend().upper() == "NONE":
        return "this OpenCV has no GUI support (opencv-python-headless?)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY is not set)"
    if sys.platform.startswith(("darwin", "win")):
        return None  # native backends raise cv2.error rather than abort; CvWindow reports it
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=PROBE_TIMEOUT_S,
                               env={**os.environ, **_QT_QUIET})
    except subprocess.TimeoutExpired:
        return f"opening a test window did not finish within {PROBE_TIMEOUT_S:g} s"
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.decode(errors="replace").splitlines() if line.strip()]
        why = next((line for line in lines if "display" in line.lower()), lines[-1] if lines else "")
        return f"OpenCV could not open a window ({why.strip() or f'exit {probe.returncode}'})"
    return None



def compose(view: LiveView, side_by_side: bool) -> np.ndarray:
    """The picture to show (HxWx3 BGR uint8): painted frame (left of the camera frame if side_by_side), enlarged to
    MIN_LONG_SIDE, with the overlay drawn on it."""
    picture = np.hstack((view.stylized, view.camera)) if side_by_side else view.stylized
    h, w = picture.shape[:2]
    scale = max(1.0, MIN_LONG_SIDE / max(view.stylized.shape[:2]))
    if scale > 1:
        picture = cv2.resize(picture, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    else:
        picture = picture.copy()
    text = f"{view.fps:.1f} fps  {view.latency * 1000:.0f} ms"
    if view.style:
        text += f"  {view.style}  x{view.style_weight:.3g}"
    if view.paused:
        text += "  PAUSED"
    (tw, th), base = cv2.getTextSize(text, _FONT, 0.5, 1)
    cv2.rectangle(picture, (0, 0), (tw + 10, th + base + 8), (0, 0, 0), cv2.FILLED)
    cv2.putText(picture, text, (5, th + 4), _FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return picture


def key_name(code: int) -> str | None:
    """cv2.waitKey's code -> a key name ("q", "esc", "space", "+" ...), None for no key or an unknown one."""
    if code < 0:
        return None
    code &= 0xFF
    return _KEY_NAMES.get(code) or (chr(code).lower() if 32 < code < 127 else None)


class CvWindow:
    """Context manager: the OpenCV window, a live.Display. show() draws and returns the key pressed, "close" when
    the user closed the window."""

    def __init__(self, side_by_side: bool = False, title: str = TITLE) -> None:
        self.side_by_side, self.title = side_by_side, title
        self._open = False

    def __enter__(self) -> CvWindow:
        for name, value in _QT_QUIET.items():
            os.environ.setdefault(name, value)
        cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # lets the GUI thread actually close it
            self._open = False

    def show(self, view: LiveView) -> str | None:
        cv2.imshow(self.title, compose(view, self.side_by_side))
        key = key_name(cv2.waitKey(1))
        if key is None and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return "close"
        return key if key in KEY_ACTIONS else None
