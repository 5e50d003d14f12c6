"""Entry point of `stylize-video`: parse, dispatch to the pipeline, turn exceptions into one-line messages.

Exit codes: 0 done, 1 failed (bad input, ffmpeg error ...), 2 usage error, 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager, suppress
from typing import Iterator, TextIO

from pipeline.errors import Interrupted, OutputError, StylizeError, UsageError

from .args import build_parser, style_settings, style_specs, video_options_given, video_settings

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


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


def run(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["measure"]:
        from .measure import run_measure

        return run_measure(argv[1:])
    if "--live" in argv or any(a.startswith("--live=") for a in argv):
        from .live_args import parse_live_args

        live_args = parse_live_args(argv)  # --help and usage errors end here, before torch is imported
        with signals_held():
            from .live import run_live

        return run_live(*live_args)
    parser = build_parser()
    ns = parser.parse_args(argv)  # --help and usage errors end here, before torch is imported
    with signals_held():
        from .progress import QuietDisplay, RichDisplay
    settings = style_settings(ns)
    styles = style_specs(ns.style, ns.style_blend)
    display = QuietDisplay() if ns.quiet else RichDisplay()
    from pipeline.images import is_still_image
    from pipeline.paths import check_input

    check_input(ns.input, "input")
    with stop_on_signals() as stop, display:
        if is_still_image(ns.input):
            from pipeline.still import stylize_image_file

            ignored = video_options_given(parser, ns)
            if ignored:
                display.warn(f"{', '.join(ignored)} {'is a video option' if len(ignored) == 1 else 'are video options'}"
                             f": ignored for the photo '{ns.input}'")

            out = stylize_image_file(ns.input, styles, ns.output, settings, ns.device, display, stop, ns.overwrite)
        else:
            from pipeline.video import stylize_video

            out = stylize_video(ns.input, styles, ns.output, settings, video_settings(ns), ns.device, display, stop)
            out = getattr(out, "output", out)
    if not ns.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; never lets a traceback reach the user for an expected failure."""
    _print_names_as_bytes()
    stderr = sys.stderr
    if stderr is not None and not isinstance(stderr, ForgivingStderr):
        sys.stderr = ForgivingStderr(stderr)
    try:
        return _main(argv)
    finally:
        sys.stderr = stderr


def _main(argv: list[str] | None) -> int:
    try:
        return run(argv)
    except UsageError as exc:
        print(f"stylize-video: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StdoutClosed:
        return EXIT_FAILED
    except (Interrupted, KeyboardInterrupt) as exc:
        print(f"stylize-video: interrupted; nothing was written to the output{_kept(exc)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StylizeError as exc:
        print(f"stylize-video: error: {exc}{_kept(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except MemoryError:
        print("stylize-video: error: out of memory; try a smaller --size", file=sys.stderr)
        return EXIT_FAILED
    except RuntimeError as exc:  # torch's out-of-memory errors are RuntimeErrors; anything else is a bug: re-raised
        from pipeline.oom import CPU_ALLOCATOR_FAILURE, is_out_of_memory  # here: `--help` need not wait for torch

        if not is_out_of_memory(exc):
            raise
        if CPU_ALLOCATOR_FAILURE in str(exc).lower():
            print("stylize-video: error: out of memory; try a smaller --size", file=sys.stderr)
        else:
            print("stylize-video: error: out of GPU memory; try a smaller --size or --device cpu", file=sys.stderr)
        return EXIT_FAILED


def _kept(exc: BaseException) -> str:
    """"; <what survived>" for an error after which work was kept (StylizeError.kept), else ""."""
    kept = getattr(exc, "kept", "")
    return f"; {kept}" if kept else ""


def _print_names_as_bytes() -> None:
    """Print a file name that is not UTF-8 as its own bytes, the way `ls` does, rather than as '\\udcff' (stderr's
    escape) or a UnicodeEncodeError (stdout's): Python holds such bytes as lone surrogates (PEP 383)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # a real text stream, not a test's capture
            stream.reconfigure(errors="surrogateescape")
