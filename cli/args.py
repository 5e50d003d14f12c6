"""The argument parser. Every default and choice comes from pipeline.config, which needs no torch: --help is instant."""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import replace

from pipeline.checks import (
    check_blend_weights,
    check_fast_settings,
    check_ray_settings,
    check_style_settings,
    check_video_settings,
)
from pipeline.config import (
    DEFAULT_QUALITY,
    DEVICE_CHOICES,
    OPTIMIZER_NAMES,
    PRECISION_CHOICES,
    QUALITY,
    WEIGHT_NAMES,
    FastSettings,
    LossSettings,
    OptimSettings,
    RaySettings,
    StyleSettings,
    VideoSettings,
    with_quality,
)
from pipeline.errors import UsageError
from pipeline.media.containers import CONTAINERS, GIF_SUFFIX, listed

_LOSS, _OPTIM, _STYLE, _VIDEO, _RAY = LossSettings(), OptimSettings(), StyleSettings(), VideoSettings(), RaySettings()
_FAST = FastSettings()


_NEGATIVE_LIST = re.compile(r"^-[0-9.][0-9.eE+-]*(,[-+0-9.eE]*)+$")  # "-1,2", "-0.5,1e3": numbers, the first negative


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (UsageError -> exit code 2), never the usage block."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_args(self._joined_negative_lists(self._argv), namespace)

    def _joined_negative_lists(self, argv: list[str]) -> list[str]:
        """`--style-blend -1,2` as `--style-blend=-1,2`: argparse takes a value that starts with '-' for an option
        unless it is one plain number, and said "expected one argument" instead of what is wrong with -1."""
        out: list[str] = []
        for arg in argv:
            action = self._option_string_actions.get(out[-1]) if out else None
            if action is not None and action.nargs is None and action.option_strings and _NEGATIVE_LIST.match(arg):
                out[-1] = f"{out[-1]}={arg}"
            else:
                out.append(arg)
        return out

    def error(self, message: str) -> None:
        # A file name that starts with '-' reads as an unknown option, and the message blames something else.
        argv = getattr(self, "_argv", [])
        argv = argv[: argv.index("--")] if "--" in argv else argv
        dashed = [a for a in argv if a.startswith("-") and not a.startswith("--") and "." in a
                  and a.split("=")[0] not in self._option_string_actions]
        if dashed:
            message += f" ('{dashed[0]}' looks like a file name: write it as ./{dashed[0]})"
        taken = [value for option, value in zip(argv, argv[1:]) if option == "--ray" and not _RAY_ADDRESS.match(value)]
        if taken:  # --ray's address is optional, so it took the file after it
            message += (f" (--ray took '{taken[0]}' for a cluster address: put --ray after the files, or write "
                        "--ray=ADDRESS)")
        raise UsageError(message)


def version() -> str:
    """The installed package's version ("unknown" when run from a source tree that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("stylize-video")
    except PackageNotFoundError:
        return "unknown"


def add_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"stylize-video {version()}")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


# The three commands, for the first line of --help (argparse would list every option of the first one only).
USAGE = ("%(prog)s INPUT STYLE OUTPUT [options]\n"
         "       %(prog)s --live SOURCE STYLE [options]\n"
         "       %(prog)s measure STYLIZED --reference INPUT [options]")


def build_parser() -> Parser:
    p = Parser(
        prog="stylize-video",
        usage=USAGE,
        description="Repaint a video, a photo or a live stream in the style of a painting.",
        epilog="Still images: the output is an image (.png, .jpg ...). Videos: the output is a video "
               f"({listed(list(CONTAINERS))}) or an animated GIF without sound ({GIF_SUFFIX}). "
               "Live: stylize-video --live SOURCE STYLE [options]; see stylize-video --live 0 --help. "
               "Flicker: stylize-video measure STYLIZED --reference INPUT; see stylize-video measure --help.",
    )
    p.add_argument("input", metavar="INPUT", help="photo or video file (decided by its content)")
    p.add_argument("style", metavar="STYLE", help="style image; several as a,b,c (see --style-blend)")
    p.add_argument("output", metavar="OUTPUT", help="result file: an image for a photo, a video for a video")
    g = p.add_argument_group("quality and speed")
    g.add_argument("--quality", choices=list(QUALITY), default=DEFAULT_QUALITY,
                   help=f"preset of --size and the iterations (default {DEFAULT_QUALITY}: "
                        + ", ".join(f"{k} {v['size']} px, at most "
                                    f"{'/'.join(map(str, (*v['coarse_iterations'], v['iterations'])))} it"
                                    for k, v in QUALITY.items()) + " on the scales, coarse to fine)")
    g.add_argument("--size", type=int, help="long side of the result in pixels (default: from --quality)")
    g.add_argument("--iterations", type=int,
                   help="optimizer iterations at the final scale (default: from --quality); the coarser scales stop "
                        "once the picture settles there")
    g.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto)")
    add_threads(g)
    add_precision(g)
    g.add_argument("--optimizer", choices=list(OPTIMIZER_NAMES), default=_OPTIM.optimizer, help="default %(default)s")
    g.add_argument("--lr", type=float, default=_OPTIM.lr, help="Adam's learning rate (default %(default)s)")
    g.add_argument("--scales", type=int, default=_OPTIM.max_scales,
                   help="coarse-to-fine scales, at most (default %(default)s; 1 = single scale)")
    g.add_argument("--seed", type=int, default=_STYLE.seed, help="random seed (default %(default)s)")
    g.add_argument("--weights", default=_STYLE.weights,
                   help=f"VGG19 weights: {' or '.join(WEIGHT_NAMES)} or a state dict path (default %(default)s)")
    add_artist_controls(p.add_argument_group("artist controls"))
    v = p.add_argument_group("video")  # VIDEO_OPTIONS
    v.add_argument("--frame-iterations", type=int, default=_VIDEO.frame_iterations,
                   help="at most this many iterations for each frame after the first; fewer on still scenes (default %(default)s)")
    v.add_argument("--temporal-weight", type=float, default=_VIDEO.temporal_weight,
                   help="steadiness between frames, 0 = off (default %(default)s)")
    v.add_argument("--start", type=float, default=_VIDEO.start, help="start at this second of the input")
    v.add_argument("--duration", type=float, help="stylize this many seconds")
    v.add_argument("--frames", type=int, help="stylize at most this many frames")
    v.add_argument("--crf", type=int, default=_VIDEO.crf,
                   help="H.264 quality 0-51, lower is better (default %(default)s)")
    v.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command")
    v.add_argument("--keep-frames", action="store_true", help="keep the stylized frames' work folder")
    f = p.add_argument_group("the fast painter (videos)")  # FAST_OPTIONS
    f.add_argument("--fast", action="store_true",
                   help="experimental: paint a few keyframes with the optimizer, train a small network on them and "
                        "paint every frame with it; steadier, but so far far less painterly than the default (README)")
    f.add_argument("--save-model", metavar="FILE", help="with --fast: keep the trained network in FILE")
    f.add_argument("--model", metavar="FILE",
                   help="paint every frame with the network --save-model kept (no keyframes, no training; implies "
                        "--fast)")
    add_fast_steps(f, "the network's training steps (default: one a frame, 200 to 1500); more paint better and "
                      "take longer: about 0.5 s a step on a 2-core CPU (README)")
    r = p.add_argument_group("videos across machines, on Ray (pip install \"stylize-video[ray]\")")  # RAY_OPTIONS
    r.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="spread the frames over Ray workers: on this machine (a Ray instance started for the run), "
                        "or on the cluster at ADDRESS (host:port) or RAY_ADDRESS; put it after the files")
    r.add_argument("--workers", type=int, help="at most this many workers (default: one per GPU, else per core)")
    r.add_argument("--chunk-seconds", type=float, default=_RAY.chunk_seconds,
                   help="the longest piece of one shot a worker gets (default %(default)s)")
    r.add_argument("--ray-logs", action="store_true", help="show Ray's own log lines and the workers' output")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists (default: refuse)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_version(p)
    return p


def add_artist_controls(a: argparse._ArgumentGroup, still: bool = True) -> None:
    """The artist controls; `still` adds the two that only make sense for one painted image at a time
    (--style-blend and --init), left out of the live mode, which switches styles and warm-starts every frame."""
    a.add_argument("--style-weight", type=float, default=_LOSS.style_weight, help="default %(default)s")
    a.add_argument("--content-weight", type=float, default=_LOSS.content_weight, help="default %(default)s")
    a.add_argument("--tv-weight", type=float, default=_LOSS.tv_weight, help="smoothness (default %(default)s)")
    if still:
        a.add_argument("--style-blend", type=_floats, help="blend weights of several styles, e.g. 3,1")
    a.add_argument("--style-scale", type=float, default=_STYLE.style_scale,
                   help="size of the style's strokes relative to the result (default %(default)s)")
    a.add_argument("--preserve-colors", action="store_true", help="keep the photo's colours; style only the luminance")
    if still:
        a.add_argument("--init", default=_STYLE.init, help="starting image: content, noise or a path (default %(default)s)")
    a.add_argument("--style-layers", type=_names, default=_LOSS.style_layers, help="default " + ",".join(_LOSS.style_layers))
    a.add_argument("--style-layer-weights", type=_floats, help="one weight per style layer (default all 1)")
    a.add_argument("--content-layers", type=_names, default=_LOSS.content_layers, help="default " + ",".join(_LOSS.content_layers))
    a.add_argument("--pooling", choices=("max", "avg"), default=_STYLE.pooling, help="default %(default)s")


def add_threads(group: argparse._ArgumentGroup, reserved: int = 0) -> None:
    """--threads, shared with live mode, which keeps `reserved` CPUs for its own other threads."""
    also = f", less {reserved} for the capture and the recording" if reserved else ""
    group.add_argument("--threads", type=int, default=_STYLE.threads, metavar="N",
                       help="CPU threads for the network and the optical flow (default: OMP_NUM_THREADS if set, else "
                            f"the CPUs that other programs leave free at the start{also}; the plan line says how "
                            "many)")


def add_precision(group: argparse._ArgumentGroup) -> None:
    """--precision, shared with live mode."""
    group.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                       help="auto: VGG19 in bfloat16 on CPUs that have it (AVX512-BF16, AMX), about 1.7x faster, the "
                            "same look but not the same pixels as float32; float16 for Adam on CUDA. float32: full "
                            "precision everywhere (default auto)")


def loss_settings(ns: argparse.Namespace, base: LossSettings = _LOSS) -> LossSettings:
    """The LossSettings the artist controls ask for."""
    layer_weights = ns.style_layer_weights or (1.0,) * len(ns.style_layers)
    return replace(base, content_layers=ns.content_layers, style_layers=ns.style_layers,
                   style_layer_weights=layer_weights, content_weight=ns.content_weight,
                   style_weight=ns.style_weight, tv_weight=ns.tv_weight)


def style_specs(text: str, blend: tuple[float, ...] | None) -> list[tuple[str, float]]:
    """'a.jpg,b.jpg' + (3, 1) -> [(a.jpg, 3.0), (b.jpg, 1.0)]; a name that exists as it is stays whole."""
    if not text.strip():  # "" would be taken as the current folder
        raise UsageError("STYLE is empty: give a style image (several as a.jpg,b.jpg)")
    paths = [text] if os.path.exists(text) or "," not in text else [x for x in text.split(",") if x]
    weights = blend if blend is not None else (1.0,) * len(paths)
    if len(weights) != len(paths):
        raise UsageError(f"--style-blend has {len(weights)} weight{'s' * (len(weights) != 1)} for {len(paths)} style "
                         f"image{'s' * (len(paths) != 1)}: give one weight per image")
    check_blend_weights(list(weights))
    return list(zip(paths, weights))


def style_settings(ns: argparse.Namespace) -> StyleSettings:
    """The StyleSettings the parsed arguments ask for (preset first, explicit options over it), checked."""
    base = with_quality(StyleSettings(), ns.quality)
    loss = loss_settings(ns, base.loss)
    optim = replace(base.optim, optimizer=ns.optimizer, lr=ns.lr, max_scales=ns.scales, amp=ns.precision == "auto",
                    iterations=ns.iterations if ns.iterations is not None else base.optim.iterations)
    settings = replace(base, size=ns.size if ns.size is not None else base.size, style_scale=ns.style_scale,
                       preserve_colors=ns.preserve_colors, init=ns.init, seed=ns.seed, weights=ns.weights,
                       pooling=ns.pooling, loss=loss, optim=optim, threads=ns.threads)
    check_style_settings(settings)
    return settings


# The options of the "video" group, the fast painter's and the Ray group's: a photo ignores them all.
VIDEO_OPTIONS = ("frame_iterations", "temporal_weight", "start", "duration", "frames", "crf", "resume", "keep_frames")
RAY_OPTIONS = ("ray", "workers", "chunk_seconds", "ray_logs")
FAST_OPTIONS = ("fast", "save_model", "model", "fast_steps")
# What --ray ADDRESS may be: host:port (a name, IPv4 or [IPv6]), "auto", or a Ray client URL.
_RAY_ADDRESS = re.compile(r"^(auto|ray://\S+|[\w.-]+:\d+|\[[0-9a-fA-F:]+\]:\d+)$")


def video_options_given(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> list[str]:
    """The video options that `ns` sets away from their defaults, as written: e.g. ["--frames", "--crf"]."""
    return [f"--{dest.replace('_', '-')}" for dest in (*VIDEO_OPTIONS, *FAST_OPTIONS, *RAY_OPTIONS)
            if getattr(ns, dest) != parser.get_default(dest)]


def add_fast_steps(group: argparse._ArgumentGroup, text: str) -> None:
    """The --fast-steps option, for a video's or a live session's fast painter."""
    group.add_argument("--fast-steps", type=int, metavar="STEPS", help=text)


def fast_settings(ns: argparse.Namespace) -> FastSettings | None:
    """The FastSettings a video or live command line asks for with --fast, --model, --save-model and --fast-steps
    (None: not --fast), checked (torch-free, before any file is opened); UsageError for what no run can do."""
    if not (ns.fast or ns.model):
        for given, option in ((ns.save_model, "--save-model keeps"), (ns.fast_steps, "--fast-steps sets")):
            if given is not None:
                raise UsageError(f"{option} the network --fast trains: add --fast")
        return None
    if ns.model is not None and ns.fast_steps is not None:
        raise UsageError("--model paints with a trained network and --fast-steps sets a new one's training: give one "
                         "of them")
    fast = replace(_FAST, model=ns.model, save_model=ns.save_model)
    if ns.fast_steps is not None:
        if ns.fast_steps < 1:
            raise UsageError(f"--fast-steps: expected at least 1 step, got {ns.fast_steps}")
        fast = replace(fast, min_steps=ns.fast_steps, max_steps=ns.fast_steps)
    check_fast_settings(fast)
    return fast


def video_settings(ns: argparse.Namespace) -> VideoSettings:
    """The VideoSettings the parsed arguments ask for, checked."""
    video = replace(_VIDEO, frame_iterations=ns.frame_iterations, temporal_weight=ns.temporal_weight,
                    start=ns.start, duration=ns.duration, max_frames=ns.frames, crf=ns.crf,
                    resume=ns.resume, keep_frames=ns.keep_frames, overwrite=ns.overwrite)
    check_video_settings(video)
    return video


def ray_settings(ns: argparse.Namespace) -> RaySettings | None:
    """The RaySettings the parsed arguments ask for, checked (None without --ray). The extra must be installed:
    UsageError naming it otherwise, before torch is imported."""
    if ns.ray is None:
        return None
    if ns.ray and not _RAY_ADDRESS.match(ns.ray):
        raise UsageError(f"--ray takes a cluster address like host:6379 or auto, got '{ns.ray}': put --ray after the "
                         "files, or write --ray=ADDRESS")
    settings = replace(_RAY, address=ns.ray or None, workers=ns.workers, chunk_seconds=ns.chunk_seconds,
                       verbose=ns.ray_logs)
    check_ray_settings(settings)
    from pipeline.scaleout.cluster import check_ray_installed  # torch-free

    check_ray_installed()
    return settings
