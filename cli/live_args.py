"""The `--live` command line: its parser and the settings it gives, without torch, so `--live --help` and usage errors
come at once (importing the painting side takes seconds)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from pipeline.checks import check_fast_files, check_live_files, check_live_settings, check_style_settings
from pipeline.config import (
    DEVICE_CHOICES,
    LIVE_DEFAULT_SIZE,
    LIVE_RESERVED_CPUS,
    STREAM_SCHEMES,
    WEIGHT_NAMES,
    FastSettings,
    LiveSettings,
    StyleSettings,
)
from pipeline.errors import UsageError
from pipeline.media.containers import CONTAINERS, GIF_SUFFIX, listed

from .args import (
    Parser,
    add_artist_controls,
    add_fast_steps,
    add_precision,
    add_threads,
    add_version,
    fast_settings,
    loss_settings,
    style_specs,
)

_LIVE, _STYLE = LiveSettings(), StyleSettings()


def build_live_parser() -> Parser:
    p = Parser(
        prog="stylize-video",
        usage="%(prog)s --live SOURCE STYLE [options]",
        description="Stylize a webcam, a stream or a video file live, as it plays.",
        epilog="Window keys: q/Esc quit, space pause, s snapshot, n/p next/previous style, +/- style weight, "
               "k new keyframe (--fast).",
    )
    p.add_argument("--live", required=True, metavar="SOURCE",
                   help=f"camera index (0), device path (/dev/video0), stream URL ({', '.join(STREAM_SCHEMES)}) "
                        "or a video file played at its own pace")
    p.add_argument("style", metavar="STYLE",
                   help="style image; several as a,b,c or a folder of images (n/p switch between them)")
    g = p.add_argument_group("speed")
    sizes = ", ".join(f"{k} {v}" for k, v in LIVE_DEFAULT_SIZE.items())
    g.add_argument("--size", type=int, help=f"long side of the stylized frames in pixels (default per device: {sizes})")
    g.add_argument("--fps", type=float, default=_LIVE.fps,
                   help="target frames per second; sets each frame's time budget (default %(default)s)")
    g.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto)")
    add_threads(g, reserved=LIVE_RESERVED_CPUS)
    add_precision(g)
    g.add_argument("--weights", default=_STYLE.weights,
                   help=f"VGG19 weights: {' or '.join(WEIGHT_NAMES)} or a state dict path (default %(default)s)")
    g.add_argument("--temporal-weight", type=float, default=_LIVE.temporal_weight,
                   help="steadiness between frames, 0 = off (default %(default)s)")
    add_artist_controls(p.add_argument_group("artist controls"), still=False)
    o = p.add_argument_group("output")
    o.add_argument("--record", metavar="OUT", help=f"also save the stylized stream as a video ({listed(list(CONTAINERS))}) "
                                                   f"or a GIF ({GIF_SUFFIX})")
    o.add_argument("-y", "--overwrite", action="store_true", help="replace the --record (or --save-model) file if it exists")
    o.add_argument("--no-window", action="store_true", help="run headless (no window; Ctrl-C stops)")
    o.add_argument("--side-by-side", action="store_true", help="show the camera beside the stylized frame")
    o.add_argument("--max-seconds", type=float, help="stop after this many seconds")
    o.add_argument("--snapshots", default=".", metavar="DIR", help="folder for the s key's PNGs (default: here)")
    f = p.add_argument_group("the fast painter (experimental)")
    f.add_argument("--fast", action="store_true",
                   help="paint a keyframe from the first frame, train a small network on it in the background and "
                        "show its paintings (the camera until the first one); k repaints a keyframe and retrains")
    f.add_argument("--save-model", metavar="FILE", help="with --fast: keep the trained network in FILE")
    f.add_argument("--model", metavar="FILE", help="paint with the network --save-model kept (no training; implies "
                                                   "--fast)")
    add_fast_steps(f, "training steps for each keyframe (default 200); more paint better and take longer: about "
                      "0.8 s a step beside the window on a 2-core CPU")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_version(p)
    return p


def settings_from(ns: argparse.Namespace) -> tuple[LiveSettings, StyleSettings]:
    """The checked LiveSettings and StyleSettings of a parsed `--live` command line."""
    settings = replace(_LIVE, size=ns.size, fps=ns.fps, max_seconds=ns.max_seconds, temporal_weight=ns.temporal_weight,
                       overwrite=ns.overwrite)
    style = replace(_STYLE, style_scale=ns.style_scale, preserve_colors=ns.preserve_colors, weights=ns.weights,
                    pooling=ns.pooling, loss=loss_settings(ns), optim=replace(_STYLE.optim, amp=ns.precision == "auto"),
                    threads=ns.threads)
    check_live_settings(settings)
    check_style_settings(style)
    return settings, style


def parse_live_args(argv: list[str]) -> tuple[argparse.Namespace, LiveSettings, StyleSettings, FastSettings | None]:
    """The parsed `--live` command line and its settings (the fast painter's: None without --fast), its files
    checked. --help prints and exits 0; a bad command line raises UsageError, a missing file InputError, a refused
    recording UsageError or OutputError."""
    parser = build_live_parser()
    if "-h" in argv or "--help" in argv:  # before parsing: `--live --help` would read --help as the SOURCE
        parser.print_help()
        parser.exit()
    ns = parser.parse_args(argv)
    settings, style = settings_from(ns)
    # The source, the styles, the recording and the snapshot folder, before the seconds torch and OpenCV take to
    # import: the session checks them again, cheaply.
    check_live_files(ns.live, live_styles(ns), ns.record, ns.snapshots, settings.overwrite)
    fast = live_fast_settings(ns)
    if fast is not None:
        check_fast_files(fast, [ns.live, *live_styles(ns)], ns.record or "", settings.overwrite)
    return ns, settings, style, fast


def live_fast_settings(ns: argparse.Namespace) -> FastSettings | None:
    """The FastSettings of a `--live` command line (None: not --fast); UsageError for what it cannot do."""
    fast = fast_settings(ns)
    if fast is not None and len(live_styles(ns)) > 1:
        raise UsageError("--fast learns one style: give one STYLE image")
    return fast


def live_styles(ns: argparse.Namespace) -> list[str]:
    """The STYLE argument's images or folders ('a.jpg,b.jpg' -> two)."""
    return [path for path, _ in style_specs(ns.style, None)]
