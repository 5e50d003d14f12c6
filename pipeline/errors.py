"""The exceptions the pipeline raises. Only `cli/` turns them into messages and exit codes.

Every message is one line that says what was expected and what came, so the CLI can print it as it is.
"""

from __future__ import annotations


class StylizeError(Exception):
    """Base of every error the pipeline raises on purpose (never a bug).

    `kept`: what of the work survived the error, as a clause to add to the message ("" if nothing): a video run
    that stops keeps its finished frames for --resume. Set on KeyboardInterrupt too (see video.stylize_video).
    """

    kept: str = ""


class UsageError(StylizeError):
    """The request itself is wrong (bad option value, output equal to input...): exit code 2."""


class InputError(StylizeError):
    """An input file is missing, unreadable or not what it claims to be."""


class OutputError(StylizeError):
    """The output cannot be written (folder missing, not writable, ffmpeg failed...)."""


class DeviceError(StylizeError):
    """The requested compute device is not available."""


class WeightsError(StylizeError):
    """The VGG19 weights cannot be loaded (missing, wrong shape, pickled code, no network...)."""


class DivergedError(StylizeError, FloatingPointError):
    """The loss became NaN or infinite during the optimization (weights or learning rate far too large)."""


class Interrupted(StylizeError):
    """The run was stopped by SIGINT/SIGTERM after keeping what was done: exit code 130."""


class DisplayError(StylizeError):
    """The live window cannot open here (no display, OpenCV without GUI support)."""


class ModelError(StylizeError):
    """A fast painter's model file (--model) cannot be used: missing, not weights-only, or another network."""
