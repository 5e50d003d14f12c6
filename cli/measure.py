"""`stylize-video measure STYLIZED --reference INPUT`: how much a stylized video flickers, and the floor.

Prints the warping error of Lai et al. 2018 (pipeline.flicker) of the stylized video against the motion of its
input, and the same figure for the input itself: the error that flow estimation and resampling leave even in a
perfectly steady video. Numbers go to stdout (for scripts); errors are one line on stderr, through cli.main:
exit 2 for a bad command line, 1 for a file that cannot be measured.
"""

from __future__ import annotations

import math

from pipeline.errors import UsageError
from pipeline.media.paths import check_input

from .args import Parser
from .terminal import print_result, signals_held

MIN_FRAMES = 2  # one pair of frames at least


def build_parser() -> Parser:
    p = Parser(
        prog="stylize-video measure",
        description="Measure the flicker of a stylized video: the warping error of Lai et al. (2018), lower is "
                    "steadier, against the input video's own error (the floor).",
    )
    p.add_argument("stylized", metavar="STYLIZED", help="the stylized video")
    p.add_argument("--reference", metavar="INPUT", required=True,
                   help="the video it was made from: its motion decides what is compared")
    p.add_argument("--frames", type=int, metavar="N", help="compare only the first N frames (default all)")
    p.add_argument("--start", type=float, default=0.0, metavar="S",
                   help="read INPUT from S seconds on, for a preview made with --start S (default 0)")
    return p


def run_measure(argv: list[str]) -> int:
    """Parse `argv` (the arguments after `measure`), measure, print; returns 0. Raises UsageError (exit 2) or
    InputError (exit 1), which cli.main turns into one-line messages."""
    ns = build_parser().parse_args(argv)
    if ns.frames is not None and ns.frames < MIN_FRAMES:
        raise UsageError(f"--frames must be at least {MIN_FRAMES} (one pair of frames), got {ns.frames}")
    if not (math.isfinite(ns.start) and ns.start >= 0):
        raise UsageError(f"--start must be a number of seconds >= 0, got {ns.start}")
    stylized = check_input(ns.stylized, "stylized video")
    reference = check_input(ns.reference, "reference video")
    with signals_held():  # torch takes seconds to import, and --help and usage errors need none of it
        from pipeline.flicker import measure_video

    error, floor = measure_video(stylized, reference, ns.frames, ns.start)
    ratio = f"{error / floor:.2f}x the floor" if floor > 0 else "the floor is 0"
    print_result("warping error (Lai et al. 2018; mean squared difference in [0, 1] units, lower is steadier)",
                 f"  stylized   {error:.6f}  {ns.stylized}",
                 f"  reference  {floor:.6f}  {ns.reference}  (the input's own: the floor)",
                 f"  stylized / reference: {ratio}")
    return 0
