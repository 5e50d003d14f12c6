"""Every setting and its default, in one place. The CLI reads its defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)


@dataclass(frozen=True)
class LossSettings:
    """Weights of the objective; every term is size-normalized (see losses.py), so these are dimensionless."""

    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    # Per-layer weights, in the order of style_layers; normalized to sum 1.
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 2.0


@dataclass(frozen=True)
class OptimSettings:
    """How the pixels are optimized.

    iterations: optimizer iterations at the final scale; each coarser scale gets the same number (it costs 1/4 as
    much per halving). report_every: iterations between progress events; it is also the only point where the loss
    is read back to the host (one sync per report). Early stop: when the loss improved by less than
    plateau_tolerance (relative) over one report interval, after at least min_fraction of the iterations.
    """

    optimizer: str = "lbfgs"
    iterations: int = 200
    lr: float = 0.02  # Adam only; pixels are in [0, 1]
    max_scales: int = 3
    min_scale_side: int = 128
    report_every: int = 10
    plateau_tolerance: float = 1e-3
    min_fraction: float = 0.4
    amp: bool = True  # Adam on CUDA only: L-BFGS's line search is not robust to float16 gradient noise


@dataclass(frozen=True)
class StyleSettings:
    """Everything that decides the pixels of a stylized image (besides the photo and the styles)."""

    size: int = 512  # long side of the result in pixels
    style_scale: float = 1.0  # style image long side, relative to the content's
    preserve_colors: bool = False
    init: str = "content"  # content | noise | a path to an image
    seed: int = 0
    weights: str = "caffe"
    pooling: str = "max"
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)


MIN_SIZE = 16
MAX_SIZE = 8192

# Presets trade time for quality; "draft" gives a CPU user a 256 px result in about a minute.
QUALITY: dict[str, dict] = {
    "draft": {"size": 256, "iterations": 80},
    "normal": {"size": 512, "iterations": 200},
    "high": {"size": 768, "iterations": 400},
}
DEFAULT_QUALITY = "normal"


def with_quality(settings: StyleSettings, quality: str) -> StyleSettings:
    """Apply a QUALITY preset's size and iterations to `settings`."""
    preset = QUALITY[quality]
    return replace(settings, size=preset["size"], optim=replace(settings.optim, iterations=preset["iterations"]))


@dataclass(frozen=True)
class VideoSettings:
    """What a video run does besides painting each frame (see video.py).

    frame_iterations: iterations for frames after the first (warm-started from the warped previous frame);
    the first frame and frames after a scene cut get StyleSettings.optim.iterations, coarse to fine.
    temporal_weight: weight of Ruder et al.'s temporal loss (0 turns it off). warp: start each frame from the
    previous stylized frame moved along the optical flow (False: unwarped warm start, for comparisons).
    """

    frame_iterations: int = 30
    temporal_weight: float = 50.0
    warp: bool = True
    detect_cuts: bool = True
    start: float = 0.0  # seconds into the input
    duration: float | None = None  # seconds; None = to the end
    max_frames: int | None = None
    crf: int = 18
    preset: str = "medium"
    resume: bool = False
    keep_frames: bool = False
    queue_size: int = 4  # frames decoded ahead / waiting to be encoded: memory stays flat

# VideoSettings fields that never change a stylized frame (only the encoding or the bookkeeping): left out of the
# work folder's manifest, so e.g. a resumed run may use another --crf. A field added later counts as pixel-relevant
# until listed here, which refuses a resume rather than mixing frames made two ways.
VIDEO_OUTPUT_ONLY_FIELDS = ("crf", "preset", "resume", "keep_frames", "queue_size")
# Evaluations of the objective per optimizer iteration (L-BFGS's line search sometimes evaluates twice), for the
# time estimate of a video run.
EVALS_PER_ITERATION = {"lbfgs": 1.25, "adam": 1.0}
