"""`stylize-video INPUT STYLE OUTPUT [options]`: a photo or a video, decided by the input's content."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from pipeline.checks import check_fast_files, check_files, init_path
from pipeline.media.images import is_still_image
from pipeline.media.paths import check_input

from .args import (
    build_parser,
    fast_settings,
    ray_settings,
    style_settings,
    style_specs,
    video_options_given,
    video_settings,
)
from .progress import QuietDisplay, RichDisplay
from .terminal import EXIT_DONE, EXIT_PARTIAL, signals_held, stop_on_signals

if TYPE_CHECKING:  # torch: not imported for --help
    from pipeline.sequence import StylizerFactory


def run_stylize(argv: list[str], stylizer: StylizerFactory | None = None) -> int:
    """Parse `argv`, stylize the still or the video it names with `stylizer` (None: the optimizer's); returns 0, or 3
    for a video from an input that ended early.
    Usage errors, missing or unreadable files and refused outputs are raised before torch is imported."""
    with signals_held():  # a signal during start-up exits 130; inside torch's C++ start-up it would abort the process
        # The parser is built inside too: cli/main.py's held import of this module ends just before, and a SIGTERM in
        # between killed the process (143) instead of ending it with its one line (seen in a CI run).
        parser = build_parser()
        ns = parser.parse_args(argv)  # --help and usage errors end here, before torch is imported
        settings = style_settings(ns)
        styles = style_specs(ns.style, ns.style_blend)
        check_input(ns.input, "input")
        still = is_still_image(ns.input)
        video = None if still else video_settings(ns)
        fast = None if still else fast_settings(ns)
        ray = None if still else ray_settings(ns)
        # Every file the run names, before the seconds torch takes to import: the run checks them again, cheaply.
        check_files(ns.input, styles, ns.output, settings, ns.overwrite, still)
        if fast is not None:
            check_fast_files(fast, [ns.input, *(path for path, _ in styles), *init_path(settings)], ns.output,
                             ns.overwrite, ns.resume)
        if still:
            from pipeline.still import stylize_image_file
        else:
            from pipeline.video import stylize_video
    display = QuietDisplay() if ns.quiet else RichDisplay()
    with stop_on_signals() as stop, display:
        if still:
            ignored = video_options_given(parser, ns)
            if ignored:
                kind = "is a video option" if len(ignored) == 1 else "are video options"
                display.warn(f"{', '.join(ignored)} {kind}: ignored for the photo '{ns.input}'")
            out = stylize_image_file(ns.input, styles, ns.output, settings, ns.device, display, stop, ns.overwrite,
                                     stylizer)
        else:
            result = stylize_video(ns.input, styles, ns.output, settings, video, ns.device, display, stop, stylizer,
                                   ray, fast)
            out = result.output
    if not ns.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return EXIT_PARTIAL if not still and result.truncated else EXIT_DONE
