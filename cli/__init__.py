"""stylize-video's command line: parses arguments into pipeline settings, draws progress, maps errors to exit codes."""

import os

# OpenCV's FFmpeg backend prints libav's decoder complaints ("[h264 @ 0x...] Invalid NAL unit size") straight to
# the terminal, above our one-line message for the same failure. Quiet (AV_LOG_QUIET) unless the user asks.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
