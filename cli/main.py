"""Entry point of `stylize-video`: dispatch to a command (stylize.py, live.py, measure.py), turn exceptions into
one-line messages and exit codes.

Exit codes (cli/terminal.py): 0 done, 1 failed (bad input, ffmpeg error ...), 2 usage error, 3 written from part of
the input (it ended early), 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from pipeline.errors import Interrupted, StylizeError, UsageError

from .terminal import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, ForgivingStderr, StdoutClosed, signals_held

if TYPE_CHECKING:  # torch: not imported for --help
    from pipeline.sequence import StylizerFactory



def run(argv: list[str] | None, stylizer: StylizerFactory | None = None) -> int:
    """Dispatch to the command `argv` names; returns its exit code (exceptions are _main's)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["measure"]:
        from .measure import run_measure

        return run_measure(argv[1:])
    if _is_live(argv):
        from .live_args import parse_live_args

        live_args = parse_live_args(argv)  # --help and usage errors end here, before torch is imported
        with signals_held():
            from .live import run_live

        return run_live(*live_args)
    with signals_held():
        from .stylize import run_stylize

    return run_stylize(argv, stylizer)


def main(argv: list[str] | None = None, stylizer: StylizerFactory | None = None) -> int:
    """Run the command line; never lets a traceback reach the user for an expected failure. stylizer: what paints
    stills and videos (pipeline.sequence.StylizerFactory; None: the optimizer's), for embedding and tests."""
    _print_names_as_bytes()
    stderr = sys.stderr
    if stderr is not None and not isinstance(stderr, ForgivingStderr):
        sys.stderr = ForgivingStderr(stderr)
    try:
        return _main(argv, stylizer)
    finally:
        sys.stderr = stderr


def _main(argv: list[str] | None, stylizer: StylizerFactory | None) -> int:
    try:
        return run(argv, stylizer)
    except UsageError as exc:
        print(f"stylize-video: error: {exc}; see {_help_command(sys.argv[1:] if argv is None else argv)}",
              file=sys.stderr)
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
        from pipeline.core.oom import CPU_ALLOCATOR_FAILURE, is_out_of_memory  # here: `--help` need not wait for torch

        if not is_out_of_memory(exc):
            raise
        if CPU_ALLOCATOR_FAILURE in str(exc).lower():
            print("stylize-video: error: out of memory; try a smaller --size", file=sys.stderr)
        else:
            print("stylize-video: error: out of GPU memory; try a smaller --size or --device cpu", file=sys.stderr)
        return EXIT_FAILED


def _is_live(argv: list[str]) -> bool:
    return any(a == "--live" or a.startswith("--live=") for a in argv)


def _help_command(argv: list[str]) -> str:
    """The --help that describes the command `argv` asked for, for the end of a usage error."""
    if argv[:1] == ["measure"]:
        return "stylize-video measure --help"
    if _is_live(argv):
        return "stylize-video --live --help"
    return "stylize-video --help"


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
