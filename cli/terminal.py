"""The terminal, shared by every command: stdout for results, a stderr that outlives its reader, and the signals
that stop a run cleanly."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager, suppress
from typing import Iterator, TextIO

from pipeline.errors import Interrupted, OutputError

# The exit codes of every command (README, "Exit codes and messages"). 3: the output was written, but from part of the
# input only (it ended early), so a script that checks for 0 does not take 32 frames of 75 for the whole video.
EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class StdoutClosed(Exception):
    """The reader of standard output has gone away (`stylize-video measure ... | head -1`)."""


class ForgivingStderr:
    """sys.stderr that outlives its reader: once a write or flush finds the pipe closed (`... 2>&1 | head -1`), the
    rest of the messages are dropped and the run goes on. stderr only carries progress and messages; the result is
    the output file, and an hour's painting should not end, or end with exit 1 after its file was written, because
    the progress could not be shown. The file descriptor is pointed at /dev/null, so Python's own flush at exit
    succeeds too. Other attributes (isatty, encoding, fileno ...) are the wrapped stream's, for rich."""

    def __init__(self, stream: TextIO) -> None:
        self.wrapped = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.wrapped.write(text)
            except BrokenPipeError:
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.wrapped.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self.gone = True
        with suppress(OSError, ValueError):  # a stream without a descriptor (a test's capture) has nothing to close
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.wrapped.fileno())

    def __getattr__(self, name: str) -> object:
        return getattr(self.wrapped, name)


def print_result(*lines: str) -> None:
    """Print result lines on stdout (for scripts) and flush. A reader that has gone away ends the run quietly
    (StdoutClosed), as it ends other Unix tools; another failure (a full disk) is an OutputError. Either way stdout
    is pointed at /dev/null, or Python's own flush at exit would fail again with a traceback (see the Python
    documentation's "Note on SIGPIPE"). Python has no sys.stdout when started with it closed (`>&-`)."""
    if sys.stdout is None:
        raise OutputError("could not write to standard output: it is closed")
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except OSError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if isinstance(exc, BrokenPipeError):
            raise StdoutClosed from None
        raise OutputError(f"could not write to standard output: {exc.strerror or exc}") from None


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set an event the pipeline checks between iterations (it then keeps what is done and
    stops); a second signal interrupts at once."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the block, then raise Interrupted if one came. For `import torch` (seconds): a
    KeyboardInterrupt raised inside torch's C++ start-up aborts the process (SIGABRT) instead of unwinding."""
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if held:
        raise Interrupted("interrupted during start-up")
