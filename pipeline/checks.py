"""Every refusal of a request before slow work, once, for the command line and library callers alike.

Torch-free and OpenCV-free, so the command line answers a bad request before the seconds `import torch` takes. Each
check raises UsageError naming the option as the command line spells it (--size, not size), with what was expected
and what came. The runs (still, video, live) call them first; the core trusts what it is given.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

from .config import (
    MAX_CRF,
    MAX_SIZE,
    MIN_SIZE,
    OPTIMIZER_NAMES,
    VGG_LAYER_NAMES,
    FastSettings,
    LiveSettings,
    LossSettings,
    RaySettings,
    StyleSettings,
    VideoSettings,
)
from .core.geometry import min_long_side
from .errors import InputError, OutputError, UsageError
from .media.containers import check_animation_name
from .media.images import IMAGE_SUFFIXES, READABLE_SUFFIXES, check_image, image_format
from .media.paths import NETWORK, check_input, check_output, same_bytes, same_file, work_folder
from .media.source_spec import SourceSpec, parse_source


def _non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def check_blend_weights(weights: Sequence[float]) -> None:
    """UsageError unless there is at least one style weight and each is a finite number > 0."""
    if not weights:
        raise UsageError("give at least one style image")
    if not all(_positive(w) for w in weights):
        raise UsageError(f"--style-blend weights must be positive numbers, got {list(weights)}")


def check_layer_names(layers: Sequence[str], option: str = "") -> None:
    """UsageError naming the first of `layers` that VGG19 lacks; `option` ("--style-layers") prefixes the message."""
    unknown = [name for name in layers if name not in VGG_LAYER_NAMES]
    if unknown:
        prefix = f"{option}: " if option else ""
        raise UsageError(f"{prefix}unknown VGG19 layer {unknown[0]!r}; layers are named like relu4_2, conv1_1, pool3")


def check_layer_weights(loss: LossSettings) -> None:
    """UsageError unless there is one style layer weight per style layer, each >= 0 and not all 0."""
    weights, layers = len(loss.style_layer_weights), len(loss.style_layers)
    if weights != layers:
        raise UsageError(f"--style-layer-weights has {weights} weight{'s' * (weights != 1)} for the {layers} "
                         f"--style-layers ({','.join(loss.style_layers)}): give one weight per layer")
    if not all(_non_negative(w) for w in loss.style_layer_weights) or not sum(loss.style_layer_weights) > 0:
        raise UsageError(f"--style-layer-weights must be numbers >= 0, not all 0, got {list(loss.style_layer_weights)}")


def check_optimizer(name: str) -> None:
    """UsageError unless `name` is one of the optimizers (core.optimize.OPTIMIZERS answers to the same names)."""
    if name not in OPTIMIZER_NAMES:
        raise UsageError(f"optimizer '{name}' is not one of {', '.join(OPTIMIZER_NAMES)}")


def check_size(size: int | None) -> None:
    """UsageError unless --size (None: the default) is within MIN_SIZE..MAX_SIZE pixels."""
    if size is not None and not MIN_SIZE <= size <= MAX_SIZE:
        raise UsageError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")


def check_threads(threads: int | None) -> None:
    """UsageError unless --threads (None: automatic) is at least 1."""
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")


def check_temporal_weight(weight: float) -> None:
    if not _non_negative(weight):
        raise UsageError(f"--temporal-weight must be a number >= 0, got {weight}")


def init_path(settings: StyleSettings) -> list[str]:
    """The init image file, if `settings.init` names one: an input the output must not replace."""
    return [] if settings.init in ("content", "noise") else [settings.init]


def check_style_settings(settings: StyleSettings) -> None:
    """UsageError for settings no image can be painted with (NaN included); an --init file is opened to see that it
    is an image (InputError otherwise), now rather than after the network is loaded."""
    loss, optim = settings.loss, settings.optim
    check_size(settings.size)
    if optim.iterations < 1:
        raise UsageError(f"--iterations must be at least 1, got {optim.iterations}")
    if not all(cap >= 1 for cap in optim.coarse_iterations) or not optim.settle_below >= 0:
        raise UsageError(f"optimizer settings: expected coarse_iterations of at least 1 and settle_below >= 0, got "
                         f"{list(optim.coarse_iterations)} and {optim.settle_below}")
    if optim.max_scales < 1:
        raise UsageError(f"--scales must be at least 1, got {optim.max_scales}")
    if not 0.05 <= settings.style_scale <= 4:
        raise UsageError(f"--style-scale must be between 0.05 and 4, got {settings.style_scale}")
    for name, value in (("--content-weight", loss.content_weight), ("--style-weight", loss.style_weight),
                        ("--tv-weight", loss.tv_weight)):
        if not _non_negative(value):
            raise UsageError(f"{name} must be a number >= 0, got {value}")
    for name, layers in (("--style-layers", loss.style_layers), ("--content-layers", loss.content_layers)):
        if not layers:
            raise UsageError(f"{name} needs at least one VGG19 layer, e.g. relu4_2")
        check_layer_names(layers, name)
    check_layer_weights(loss)
    if settings.pooling not in ("max", "avg"):  # the CLI offers only these; VGGFeatures takes anything else as avg
        raise UsageError(f"--pooling must be max or avg, got {settings.pooling!r}")
    if not 0 <= settings.seed < 2**64:  # torch.manual_seed's range
        raise UsageError(f"--seed must be between 0 and 2**64 - 1, got {settings.seed}")
    check_threads(settings.threads)
    if not _positive(optim.lr):
        raise UsageError(f"--lr must be a number > 0, got {optim.lr}")
    check_optimizer(optim.optimizer)
    for path in init_path(settings):
        # A typo of a keyword ("Noise") reads as a missing file: name the keywords too. "~" is the user's home, as for
        # every input path (media.paths.check_input).
        if not os.path.lexists(os.path.expanduser(path)):
            raise UsageError(f"--init '{path}' is not content, noise or an existing image file")
        check_image(path, "init image")


def check_files(input_path: str | os.PathLike, styles: Sequence[tuple[str | os.PathLike, float]],
                output_path: str | os.PathLike, settings: StyleSettings, overwrite: bool,
                still: bool) -> tuple[Path, list[tuple[Path, float]], Path]:
    """The files of a still (`still`) or a video run, checked from their names and headers only: the input and each
    style image readable (a style an image), the output a new file (or `overwrite`) that is none of the inputs, named
    as an image for a still and as a video or a GIF for a video. Returns the absolute input, styles (with their
    weights) and output. InputError / UsageError / OutputError otherwise.

    A video OUTPUT named like an image is left to the run: whether the input is a video at all (rather than a file
    nothing reads) takes the probe to say."""
    source = check_input(input_path, "photo" if still else "video")
    style_paths = [(check_input(path, "style image"), float(weight)) for path, weight in styles]
    for path, _ in style_paths:
        check_image(path, "style image")
    output = check_output(output_path, [source, *(path for path, _ in style_paths), *init_path(settings)], overwrite)
    if still:
        image_format(output_path)  # named as the user wrote it
    elif output.suffix.lower() not in IMAGE_SUFFIXES:
        check_animation_name(output_path)
    return source, style_paths, output


def expand_styles(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Style image paths, a folder standing for its images (sorted by name); each checked to be a readable file."""
    if any(not os.fspath(text) for text in paths):  # Path("") is the current folder: every image in it
        raise InputError("style image name is empty")
    found: list[Path] = []
    for text in paths:
        path = Path(text).expanduser()
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in READABLE_SUFFIXES and p.is_file())
            if not images:
                raise InputError(f"style folder '{text}' holds no image ({', '.join(READABLE_SUFFIXES)})")
            found += images
        else:
            found.append(check_input(path, "style image"))
    return found


def check_live_files(source: str | SourceSpec, styles: Sequence[str | os.PathLike], record: str | os.PathLike | None,
                     snapshots: str | os.PathLike,
                     overwrite: bool) -> tuple[SourceSpec, list[Path], Path | None, Path]:
    """The files of a live session, from their names and headers only: the SOURCE (a missing device or file), the
    styles (see expand_styles), the --record file (a new one, or `overwrite`, named as a video or a GIF) and the
    snapshot folder, found out now rather than when the s key is pressed. Returns them checked: (source, style
    images, recording or None, snapshot folder)."""
    spec = source if isinstance(source, SourceSpec) else parse_source(source)
    style_paths = expand_styles(styles)
    for path in style_paths:
        check_image(path, "style image")
    record_path = None
    if record is not None:
        inputs = [*style_paths, *([spec.target] if spec.kind == "file" else [])]
        record_path = check_output(record, inputs, overwrite)
        check_animation_name(record)  # named as the user wrote it
    snapshot_dir = Path(snapshots).expanduser()
    if not snapshot_dir.is_dir():
        raise OutputError(f"snapshot folder '{snapshots}' does not exist")
    return spec, style_paths, record_path, snapshot_dir


def check_video_settings(video: VideoSettings) -> None:
    """UsageError for video settings no run can use."""
    if video.frame_iterations < 1:
        raise UsageError(f"--frame-iterations must be at least 1, got {video.frame_iterations}")
    check_temporal_weight(video.temporal_weight)
    if video.max_frames is not None and video.max_frames < 1:
        raise UsageError(f"--frames must be at least 1, got {video.max_frames}")
    if not video.start >= 0 or (video.duration is not None and not video.duration > 0):  # "not" catches NaN
        raise UsageError("--start must be >= 0 and --duration > 0 seconds")
    if not 0 <= video.crf <= MAX_CRF:
        raise UsageError(f"--crf must be between 0 and {MAX_CRF}, got {video.crf}")
    if video.queue_size < 1:
        raise UsageError(f"video settings: expected queue_size >= 1, got {video.queue_size}")
    if video.min_frame_iterations < 1 or not (video.effort_unreliable > 0 and video.effort_motion > 0):
        raise UsageError(
            "video settings: expected min_frame_iterations >= 1, effort_unreliable > 0 and effort_motion > 0, got "
            f"{video.min_frame_iterations}, {video.effort_unreliable} and {video.effort_motion}"
        )


def check_ray_settings(settings: RaySettings) -> None:
    """UsageError for scale-out settings no run can use."""
    if settings.workers is not None and settings.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {settings.workers}")
    if settings.threads is not None and settings.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {settings.threads}")
    if not _positive(settings.chunk_seconds):
        raise UsageError(f"--chunk-seconds must be a number > 0, got {settings.chunk_seconds}")
    if settings.seam_frames < 0:
        raise UsageError(f"seam_frames must be >= 0, got {settings.seam_frames}")


def check_live_settings(settings: LiveSettings) -> None:
    """UsageError for live settings no session can use."""
    if not _positive(settings.fps):
        raise UsageError(f"--fps must be a number > 0, got {settings.fps}")
    if settings.max_seconds is not None and not _positive(settings.max_seconds):
        raise UsageError(f"--max-seconds must be a number > 0, got {settings.max_seconds}")
    check_size(settings.size)
    check_temporal_weight(settings.temporal_weight)


def check_network_size(size: tuple[int, int], source: tuple[float, float], long_side: int,
                       upscales: bool = True) -> None:
    """UsageError unless both sides of `size` (height, width: the picture to paint, made from a `source` of
    (height, width) at --size `long_side`) are at least MIN_SIZE px. upscales: whether a --size above the source's
    long side enlarges it (stills) or not (videos), which decides what the message advises."""
    if min(size) >= MIN_SIZE:
        return
    need = min_long_side(*source)
    if not upscales and need > max(source):
        raise UsageError(f"the picture is {round(source[1])}x{round(source[0])} px, too small for VGG19 "
                         f"(at least {MIN_SIZE} px a side)")
    raise UsageError(f"--size {long_side} makes the picture {size[1]}x{size[0]} px, too thin for VGG19 "
                     f"(at least {MIN_SIZE} px a side): use --size {need} or more")


# A style image enlarged more than this for its Gram targets has soft strokes: the painting's brushwork is then
# finer than its pixels, and the result shows the blur of the enlargement instead.
SOFT_STYLE_ENLARGEMENT = 2.0


def soft_style_warning(name: str, style_hw: tuple[int, int], content_hw: tuple[int, int],
                       style_scale: float) -> str | None:
    """A one-line warning when the style image `name` of (height, width) px is enlarged more than
    SOFT_STYLE_ENLARGEMENT times for a result of `content_hw` at `style_scale` (as Stylizer.style_targets does);
    None otherwise."""
    target = max(1, round(max(content_hw) * style_scale), min_long_side(*style_hw))
    factor = target / max(style_hw)
    if factor <= SOFT_STYLE_ENLARGEMENT:
        return None
    return (f"the style image '{name}' is only {style_hw[1]}x{style_hw[0]} px: it is enlarged {factor:.1f}x to "
            f"{target} px, so its strokes come out soft; give a larger copy or a smaller --style-scale")



def check_fast_settings(fast: FastSettings) -> None:
    """UsageError for a fast-painter request (--fast, --model, --save-model) that no run can do: both reusing and
    saving a network, or settings out of their ranges."""
    if fast.model is not None and fast.save_model is not None:
        raise UsageError("--model reuses a trained network and --save-model keeps a newly trained one: give one of "
                         "them")
    if not 0 <= fast.blend < 1:
        raise UsageError(f"fast settings: expected a blend of at least 0 and below 1, got {fast.blend}")
    if not (0 < fast.new_content <= 1 and fast.key_gap >= 0):
        raise UsageError(f"fast settings: expected new_content in (0, 1] and key_gap >= 0, got {fast.new_content} "
                         f"and {fast.key_gap}")
    if not (1 <= fast.min_steps <= fast.max_steps and fast.steps_per_frame >= 0):
        raise UsageError(f"fast settings: expected 1 <= min_steps <= max_steps and steps_per_frame >= 0, got "
                         f"{fast.min_steps}, {fast.max_steps} and {fast.steps_per_frame}")
    if fast.batch < 1 or fast.crop < MIN_SIZE or fast.pool_frames < 0:
        raise UsageError(f"fast settings: expected batch >= 1, crop >= {MIN_SIZE} and pool_frames >= 0, got "
                         f"{fast.batch}, {fast.crop} and {fast.pool_frames}")
    if not (_positive(fast.learning_rate) and _non_negative(fast.l1_weight) and _non_negative(fast.style_boost)):
        raise UsageError(f"fast settings: expected learning_rate > 0, l1_weight >= 0 and style_boost >= 0, got "
                         f"{fast.learning_rate}, {fast.l1_weight} and {fast.style_boost}")
    if len(fast.channels) != 3 or min(fast.channels) < 1 or fast.res_blocks < 0:
        raise UsageError(f"fast settings: expected 3 channel counts >= 1 and res_blocks >= 0, got "
                         f"{list(fast.channels)} and {fast.res_blocks}")


def kept_network(fast: FastSettings, output: str | os.PathLike, resume: bool) -> Path | None:
    """The trained network a resumed fast run finds in its work folder (pipeline/fast/run.py), or None."""
    network = work_folder(output) / NETWORK
    return network if resume and fast.model is None and network.is_file() else None


def check_fast_files(fast: FastSettings, inputs: Sequence[str | os.PathLike], output: str | os.PathLike,
                     overwrite: bool, resume: bool = False) -> None:
    """The model files of a fast run, from their names: --model an existing file (InputError), --save-model a new
    file (or `overwrite`) that is neither OUTPUT nor one of the `inputs` the run reads. With `resume`, a --save-model
    file with the same bytes as the network kept in the work folder is the one the interrupted run wrote, not the
    user's: the resumed run takes it as saved."""
    if fast.model is not None:
        check_input(fast.model, "model file")
    if fast.save_model is not None:
        if same_file(fast.save_model, output):
            raise UsageError(f"--save-model '{fast.save_model}' is OUTPUT too: give the model file another name")
        network = kept_network(fast, output, resume)
        saved = network is not None and same_bytes(fast.save_model, network)
        check_output(fast.save_model, list(inputs), overwrite or saved)
