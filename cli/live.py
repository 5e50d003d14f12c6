"""`stylize-video --live SOURCE STYLE [options]`: stylize a camera, a stream or a file as it plays.

Exit codes: 0 when the session ends normally (q or Esc, the window closed, Ctrl-C or SIGTERM, --max-seconds, the end
of a file; the recording is complete), 1 when the source is lost for good or cannot be opened, 2 for usage errors.
The summary goes to stdout (one line, with the word "dropped"); everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import cv2

from pipeline.config import FastSettings, LiveSettings, StyleSettings
from pipeline.errors import DisplayError
from pipeline.events import LiveFrame, LiveNotice, LiveResult, LiveStarted, StylizeWarning
from pipeline.live import NullDisplay, live

from .live_args import live_styles
from .progress import on_device
from .terminal import print_result, stop_on_signals

STATUS_EVERY_S = 5.0  # headless: one status line this often


class LiveReporter:
    """Draws live events on stderr: the start, notices, and (headless) a status line every STATUS_EVERY_S."""

    def __init__(self, quiet: bool, headless: bool) -> None:
        self.quiet, self.headless = quiet, headless
        self.next_status = 0.0

    def __call__(self, event: object) -> None:
        if self.quiet:
            return
        if isinstance(event, LiveStarted):
            (iw, ih), (w, h) = event.input_size, event.size
            record = ""
            if event.record:
                sound = "with the file's sound" if event.record_sound else "no sound"
                record = f"; recording {event.record} ({sound})"
            how = "Ctrl-C stops" if self.headless else "q or Esc quits, Ctrl-C too"
            say(f"live: {event.source} {iw}x{ih} as {w}x{h} {on_device(event.device, event.threads)}, target "
                f"{event.fps:g} fps, style {event.style}{record}; {how}")
            self.next_status = time.monotonic() + STATUS_EVERY_S
        elif isinstance(event, LiveNotice):
            say(f"live: {event.message}")
        elif isinstance(event, StylizeWarning):
            say(f"live: warning: {event.message}")
        elif isinstance(event, LiveFrame) and self.headless and time.monotonic() >= self.next_status:
            self.next_status = time.monotonic() + STATUS_EVERY_S
            say(f"live: {event.index + 1} shown, {event.dropped} dropped, {event.fps:.1f} fps, "
                f"latency {event.latency * 1000:.0f} ms, {event.iterations} iterations/frame")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(result: LiveResult) -> str:
    """The one-line report scripts read: shown, dropped, mean fps, mean latency."""
    latency = "n/a" if result.shown == 0 else f"{result.mean_latency * 1000:.0f} ms (max {result.max_latency * 1000:.0f} ms)"
    line = (f"live: {result.shown} frames shown, {result.dropped} dropped of {result.captured} delivered, "
            f"mean {result.fps:.2f} fps, mean latency {latency}")
    if result.shown:
        line += f", {result.mean_iterations:.1f} iterations/frame"
    line += f", in {result.seconds:.1f} s; ended: {result.end}"
    if result.recorded is not None:
        line += f"; recorded {result.recorded} ({result.recorded_frames} frames)"
    return line


def open_display(ns: argparse.Namespace):
    """The window, or the headless twin; DisplayError at once (with the headless command) if no window can open."""
    if ns.no_window:
        return NullDisplay()
    from .window import CvWindow, window_unavailable

    reason = window_unavailable()
    if reason is not None:
        raise DisplayError(f"cannot open a window: {reason}; run headless with --no-window --record OUT.mp4")
    return CvWindow(side_by_side=ns.side_by_side)


def run_live(ns: argparse.Namespace, settings: LiveSettings, style: StyleSettings, fast: FastSettings | None) -> int:
    """Run the session cli.live_args.parse_live_args gave (its files checked); returns the exit code."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our messages say what failed, once
    display = open_display(ns)
    reporter = LiveReporter(ns.quiet, headless=ns.no_window)
    with stop_on_signals() as stop, display:
        result = live(ns.live, live_styles(ns), style, settings, device=ns.device, record=ns.record, display=display,
                      snapshots=ns.snapshots, on_event=reporter, stop=stop, fast=fast)
    if stop.is_set() and result.end == "stopped":
        result = replace(result, end="stopped by a signal")
    print_result(summary(result))
    if result.lost:
        print(f"stylize-video: error: {result.end}", file=sys.stderr)
        return 1
    return 0

