"""stylize-video's command line: parses arguments into pipeline settings, draws progress, maps errors to exit codes."""

import os
import signal
import sys

# OpenCV's FFmpeg backend prints libav's decoder complaints ("[h264 @ 0x...] Invalid NAL unit size") straight to
# the terminal, above our one-line message for the same failure. Quiet (AV_LOG_QUIET) unless the user asks.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def entry() -> int:
    """The `stylize-video` command. SIGINT and SIGTERM are held while the pipeline (torch: seconds) is imported: a
    Ctrl-C that lands inside torch's C++ initialisation aborts the process (SIGABRT) rather than raising
    KeyboardInterrupt. A signal held here ends the run at once with the usual message and exit code 130."""
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        from .main import EXIT_INTERRUPTED, INTERRUPTED_MESSAGE, main
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if held:
        print(INTERRUPTED_MESSAGE, file=sys.stderr)
        return EXIT_INTERRUPTED
    return main()
