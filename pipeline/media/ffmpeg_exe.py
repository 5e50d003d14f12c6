"""Finding the ffmpeg binary, running it, and turning its stderr into a one-line reason.

imageio-ffmpeg bundles ffmpeg but not ffprobe, so probing parses `ffmpeg -i` output (see probe.py).
Every child runs in its own session: a terminal's Ctrl-C reaches only Python, which decides how to stop ffmpeg
(finish the file or kill it) instead of ffmpeg dying half-way through writing.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import ffmpeg

from ..errors import StylizeError

ENV_VAR = "STYLIZE_VIDEO_FFMPEG"

# ffmpeg run with `-loglevel level+...` prefixes each line with its level, e.g. "[mp4 @ 0x55..] [error] ...".
_LEVEL = re.compile(r"\[(panic|fatal|error|warning|info|verbose|debug|trace)\] ")
_CONTEXT = re.compile(r"^(\[[^\]]*\] )+")
# Lines ffmpeg adds after the real cause; they never say why.
_NOISE = ("Conversion failed", "Nothing was written into output file", "Exiting normally")


# The oldest ffmpeg the test suite passes with (7.0, bundled by imageio-ffmpeg 0.6-0.7; 9.0 from 0.8 on). 5.1 gives
# animated GIFs the wrong length and 4.2 misreads rotation, HDR and variable-rate files: quietly wrong videos.
# Animated WebP needs 8.0 (its decoder came then); older builds say they cannot read it.
MIN_VERSION = (7, 0)
_WANTED = ".".join(map(str, MIN_VERSION))
_VERSION = re.compile(r"^ffmpeg version n?(\d+)\.(\d+)")


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: $STYLIZE_VIDEO_FFMPEG, else imageio-ffmpeg's bundled one, else `ffmpeg` on PATH.

    StylizeError if there is none, or if it is older than MIN_VERSION (checked once per binary)."""
    override = os.environ.get(ENV_VAR)
    if override:
        # A bare name ("ffmpeg") is looked up on PATH, as a shell would; "~" is the home folder, even when quoted.
        path = os.path.expanduser(override) if os.sep in override else shutil.which(override) or override
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return _checked(path, f"point {ENV_VAR} at ffmpeg {_WANTED} or newer, or unset it to use the bundled one")
        problem = "is not an executable file" if os.path.exists(path) else "does not exist"
        raise StylizeError(f"{ENV_VAR}='{override}' {problem}: point it at ffmpeg or unset it")
    try:
        import imageio_ffmpeg

        bundled = imageio_ffmpeg.get_ffmpeg_exe()
        if bundled and os.path.isfile(bundled):
            return _checked(bundled, "run pip install --upgrade imageio-ffmpeg")
    except (ImportError, RuntimeError, OSError):
        pass  # imageio-ffmpeg without a binary for this platform: try the system one
    system = shutil.which("ffmpeg")
    if system:
        return _checked(system, f"install ffmpeg {_WANTED} or newer, or imageio-ffmpeg")
    raise StylizeError(f"ffmpeg not found: install imageio-ffmpeg or ffmpeg, or set {ENV_VAR} to an ffmpeg binary")


def ffmpeg_version(banner: str) -> tuple[int, int] | None:
    """(major, minor) from the first line of `ffmpeg -version`, e.g. "ffmpeg version n9.0.2-17-g2a5..." -> (9, 0);
    None for a build that names no release (a git snapshot: "ffmpeg version N-117000-g..." is newer than any)."""
    match = _VERSION.match(banner)
    return (int(match.group(1)), int(match.group(2))) if match else None


@functools.lru_cache(maxsize=None)
def _checked(path: str, advice: str) -> str:
    """`path` if it runs as an ffmpeg of at least MIN_VERSION; else StylizeError naming it and `advice`."""
    try:
        completed = subprocess.run(
            [path, "-hide_banner", "-version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False
        )
        banner = completed.stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StylizeError(f"ffmpeg '{path}' does not run ({exc}): {advice}") from None
    if not banner.startswith("ffmpeg version"):
        raise StylizeError(f"'{path}' does not answer -version as ffmpeg does: {advice}")
    version = ffmpeg_version(banner)
    if version is not None and version < MIN_VERSION:
        raise StylizeError(f"ffmpeg {version[0]}.{version[1]} at '{path}' is too old for stylize-video: {advice}")
    return path


def input_url(path: str | os.PathLike) -> str:
    """ffmpeg URL of a local file: `file:` + absolute path, so names like `-x.mp4` or `a:b.mp4` stay plain files."""
    return "file:" + os.path.abspath(path)


def clean_line(line: str) -> str:
    """Drop ffmpeg's "[context @ 0x..]" and "[error]" prefixes from one stderr line."""
    return _LEVEL.sub("", _CONTEXT.sub("", line.strip()), count=1).strip()


def ffmpeg_reason(lines: Iterable[str]) -> str:
    """ffmpeg's own one-line reason for a failure, from its stderr lines (oldest first).

    With level-prefixed output the first error/fatal line is the cause (later ones cascade from it); otherwise the
    last line that is not a generic epilogue.
    """
    lines = [line for line in lines if line.strip()]
    for line in lines:
        level = _LEVEL.search(line)
        if level and level.group(1) in ("panic", "fatal", "error") and not clean_line(line).startswith(_NOISE):
            return clean_line(line)
    for line in reversed(lines):
        if not clean_line(line).startswith(_NOISE):
            return clean_line(line)
    return "no message from ffmpeg"


class StderrDrain:
    """Reads a child's stderr on a daemon thread into a bounded deque, so ffmpeg never blocks on a full pipe.

    Keeps the last `keep` lines and, separately, the first error-level lines (the cause), however long the output.
    `on_line` (on the drain's thread) sees every line as it comes, and `on_close` is called once the stream ends.
    """

    def __init__(self, stream: IO[bytes], keep: int = 200, on_line: Callable[[str], None] | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.tail: deque[str] = deque(maxlen=keep)
        self.errors: list[str] = []
        self._on_line, self._on_close = on_line, on_close
        self._thread = threading.Thread(target=self._run, args=(stream,), name="ffmpeg-stderr", daemon=True)
        self._thread.start()

    def _run(self, stream: IO[bytes]) -> None:
        try:
            with stream:
                for raw in iter(stream.readline, b""):
                    line = raw.decode("utf-8", "replace").rstrip()
                    self.tail.append(line)
                    level = _LEVEL.search(line)
                    if level and level.group(1) in ("panic", "fatal", "error") and len(self.errors) < 8:
                        self.errors.append(line)
                    if self._on_line is not None:
                        self._on_line(line)
        finally:
            if self._on_close is not None:
                self._on_close()

    def join(self, timeout: float = 5.0) -> None:
        """Wait until the stream is closed (the process ended), at most `timeout` seconds."""
        self._thread.join(timeout)

    def reason(self) -> str:
        """ffmpeg's one-line reason (see ffmpeg_reason)."""
        return ffmpeg_reason([*self.errors, *self.tail])


def run_ffmpeg(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run an ffmpeg argv to completion (stdin closed, stdout and stderr captured); never raises on exit status."""
    return subprocess.run(
        args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, start_new_session=True, check=False
    )


def stderr_lines(completed: subprocess.CompletedProcess[bytes]) -> list[str]:
    """The captured stderr of run_ffmpeg as text lines."""
    return completed.stderr.decode("utf-8", "replace").splitlines()


class FileUrls:
    """`file:` URLs for an ffmpeg-python graph, put in only when it is compiled.

    ffmpeg-python hashes every argument as UTF-8, which a file name that is not UTF-8 (bytes Python holds as lone
    surrogates, PEP 383) cannot be: the graph gets a plain stand-in, the compiled argv the real URL.
    """

    def __init__(self) -> None:
        self._real: dict[str, str] = {}

    def __call__(self, path: str | os.PathLike) -> str:
        stand_in = f"file:stylize-video-url-{len(self._real)}"
        self._real[stand_in] = input_url(Path(path))
        return stand_in

    def compile(self, node: ffmpeg.nodes.OutputStream) -> list[str]:
        return [self._real.get(arg, arg) for arg in node.compile(cmd=ffmpeg_exe())]
