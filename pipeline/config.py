"""Every setting and its default, in one place. The CLI reads its defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# The names the registries in core/devices.py, core/optimize.py and core/vgg.py answer to, here so that the command
# line and checks.py can offer and check them without importing torch (tests/test_checks.py checks that they agree).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "float32")
OPTIMIZER_NAMES = ("lbfgs", "adam")
WEIGHT_NAMES = ("caffe", "torchvision")

# VGG19's blocks as (block, convolutions in it). A convolution is named convB_N, its ReLU reluB_N; blocks 1-4 end
# in poolB. core/vgg.py builds the network from the same table.
VGG_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
VGG_LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for block, convs in VGG_BLOCKS
    for name in (*(f"{kind}{block}_{n}" for n in range(1, convs + 1) for kind in ("conv", "relu")),
                 *((f"pool{block}",) if block < 5 else ()))
)

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
    # 12: as painterly as neural-style's published pictures on Starry Night, houses readable (docs/design.md).
    style_weight: float = 12.0
    tv_weight: float = 2.0


@dataclass(frozen=True)
class OptimSettings:
    """How the pixels are optimized.

    iterations: optimizer iterations at the final scale (where the detail is painted: fixed, it sharpens until
    about 20). coarse_iterations: the most each coarser scale gets, the coarsest first (a scale beyond them gets the
    last); a coarse scale sets the composition and stops once the picture settles: when its pixels moved on
    average less than settle_below (in 0-255 levels, mean over pixels and channels) over the last 5 iterations
    (checked every 5), from the settle_from-th on (settle_below 0: never). report_every: iterations between progress events; it is
    also where the loss is read back to the host (one sync per report, and one per settle check on coarse scales).
    Early stop on a loss plateau too: when the loss improved by less than plateau_tolerance (relative) over one
    report interval, after at least min_fraction of the iterations (a safety: with L-BFGS it hardly ever fires).
    amp: lower precision where it was measured to be safe: VGG19 in bfloat16 on a CPU that computes it natively
    (AVX512-BF16 or AMX; 1.6-1.9x faster, see devices.native_bfloat16), and float16 autocast for Adam on CUDA.
    False: float32 everywhere (--precision float32).
    """

    optimizer: str = "lbfgs"
    iterations: int = 20
    coarse_iterations: tuple[int, ...] = (60, 30)
    settle_below: float = 2.0
    settle_from: int = 10
    lr: float = 0.02  # Adam only; pixels are in [0, 1]
    max_scales: int = 3
    min_scale_side: int = 128
    report_every: int = 10
    plateau_tolerance: float = 1e-3
    min_fraction: float = 0.4
    # Not float16 for L-BFGS on CUDA; bfloat16 on the CPU keeps float32's range (docs/design.md, "The optimizer").
    amp: bool = True


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
    # CPU threads of the network and OpenCV; None: OMP_NUM_THREADS if set, else the CPUs this process may use that
    # other programs leave free at the start (core/cpu_threads.py). The count changes the pixels in their last bits
    # (the sums are split differently), which the optimizer carries further: a video's work folder records it.
    threads: int | None = None


MIN_SIZE = 16  # px a side: VGG19's four poolings before relu5_1 shrink a thinner side to nothing
MAX_SIZE = 8192
MAX_CRF = 51  # libx264's worst quality for 8-bit video; ffmpeg would quietly clip a larger --crf

# Presets trade time for quality: size, the final scale's iterations and the coarse scales' caps. Each costs at
# most 1.6-1.7x 20 iterations at its size on one scale (docs/design.md, "Stills").
QUALITY: dict[str, dict] = {
    "draft": {"size": 256, "iterations": 20, "coarse_iterations": (50,)},
    "normal": {"size": 512, "iterations": 20, "coarse_iterations": (60, 30)},
    "high": {"size": 768, "iterations": 20, "coarse_iterations": (60, 30)},
}
DEFAULT_QUALITY = "normal"


def with_quality(settings: StyleSettings, quality: str) -> StyleSettings:
    """Apply a QUALITY preset's size and iterations to `settings`."""
    preset = QUALITY[quality]
    optim = replace(settings.optim, iterations=preset["iterations"], coarse_iterations=preset["coarse_iterations"])
    return replace(settings, size=preset["size"], optim=optim)


@dataclass(frozen=True)
class VideoSettings:
    """What a video run does besides painting each frame (see video.py).

    frame_iterations: the most iterations a frame after the first gets (warm-started from the warped previous
    frame); the first frame and frames after a scene cut are painted as a still is, coarse to fine, with
    first_frame_factor times the still's iterations at the final scale (the warm frames after it then start from a
    settled painting instead of finishing it, visibly, over the next frames).
    Adaptive effort (core.coherence.frame_budget): a warm frame gets between min_frame_iterations (a still scene) and
    frame_iterations, reached when the fraction of pixels the flow cannot carry over reaches effort_unreliable or
    the mean motion reaches effort_motion (a fraction of the long side per frame); min_frame_iterations =
    frame_iterations turns it off. temporal_weight: weight of Ruder et al.'s temporal loss (0 turns it off).
    warp: start each frame from the previous stylized frame moved along the optical flow (False: unwarped warm
    start and a fixed budget, for comparisons).
    """

    # Steadiness against style, and about 19 iterations a warm frame on real footage (docs/design.md, "Videos").
    frame_iterations: int = 30
    min_frame_iterations: int = 10
    # 2: with the still's 20 final iterations, the two warm frames after a first frame changed it more than the
    # motion explains (warping error 2-3x the rest of the shot's); 40 ends that, 60 adds nothing (docs/design.md).
    first_frame_factor: float = 2.0
    effort_unreliable: float = 0.5
    effort_motion: float = 0.03
    # 480 keeps the temporal term's balance with the style term (200 at style weight 5, 40 a unit), docs/design.md.
    temporal_weight: float = 480.0
    warp: bool = True
    detect_cuts: bool = True
    start: float = 0.0  # seconds into the input
    duration: float | None = None  # seconds; None = to the end
    max_frames: int | None = None
    crf: int = 18
    preset: str = "medium"
    resume: bool = False
    keep_frames: bool = False
    overwrite: bool = False  # replace an existing output file (else refused)
    queue_size: int = 4  # frames decoded ahead / waiting to be encoded: memory stays flat

# VideoSettings fields that never change a stylized frame (only the encoding or the bookkeeping): left out of the
# work folder's manifest, so e.g. a resumed run may use another --crf. A field added later counts as pixel-relevant
# until listed here, which refuses a resume rather than mixing frames made two ways.
VIDEO_OUTPUT_ONLY_FIELDS = ("crf", "preset", "resume", "keep_frames", "overwrite", "queue_size")
# Evaluations of the objective an optimizer run costs beyond one per iteration, for the time estimate of a video
# run: L-BFGS's first line search from a tiny step needs about 3 more; a warm frame that starts at the previous
# frame's step scale (core.optimize's first_step), 1 more (docs/design.md, "The optimizer").
EXTRA_EVALS_PER_RUN = {"lbfgs": 3, "adam": 0}
EXTRA_EVALS_PER_WARM_RUN = {"lbfgs": 1, "adam": 0}




@dataclass(frozen=True)
class FastSettings:
    """The fast painter (pipeline/fast/, --fast): after Texler et al. 2020 ("Interactive Video Stylization Using
    Few-Shot Patch-Based Training"), the optimizer paints a few keyframes, a small network is trained from scratch on
    them and then paints every frame, each in one forward pass.

    model: reuse the network in this file (--model): no keyframes, no training. save_model: keep the trained network
    in this file (--save-model). Keyframes: the first frame of each shot, and a frame where more than `new_content`
    (a fraction of its pixels) was not in view in the keyframe before, followed along the optical flow; at least
    `key_gap` seconds apart within a shot. Training: steps_per_frame steps per frame of the clip, between min_steps
    and max_steps; each step takes `batch` random crops of at most `crop` px a side, half from the keyframes (L1
    towards their paintings, weight l1_weight) and half from about `pool_frames` frames of the whole clip, all under
    the optimizer's own objective (content, style and smoothness, as StyleSettings.loss weighs them, the style
    weight times style_boost); Adam at learning_rate, decayed to a tenth. crop 64: at an equal 5 minutes of
    training on a CPU, 64 px crops (0.44 s a step at 256 px) left 4.6x the optimizer's style loss, 128 px (1.27 s a
    step) 7.0x, 48 px 6.4x (bench/fast_budget.py; 32 px: 11.5x; Texler et al. use 32x32 patches, with no Gram
    loss). blend: how much of the previous painted frame, moved along the flow, each frame keeps where the flow is
    reliable (0: none; every frame painted on its own). channels, res_blocks, residual: the network's width at full,
    1/2 and 1/4 resolution, its residual blocks at 1/4, and whether it paints a change of the frame
    (fast/network.py's Shape).
    """

    model: str | None = None
    save_model: str | None = None
    new_content: float = 0.5
    key_gap: float = 1.0
    steps_per_frame: float = 1.0
    min_steps: int = 200
    max_steps: int = 1500
    batch: int = 4
    crop: int = 64
    pool_frames: int = 48
    l1_weight: float = 10.0
    style_boost: float = 1.0
    learning_rate: float = 2e-3
    blend: float = 0.8
    channels: tuple[int, int, int] = (16, 32, 64)
    res_blocks: int = 2
    residual: bool = False
    seed: int = 0

@dataclass(frozen=True)
class RaySettings:
    """One video across many workers on Ray (see pipeline/scaleout/). None of these changes a stylized frame's
    pixels except chunk_seconds and seam_frames, where a shot is split.

    address: a cluster to join ("host:port", or "auto"); None: RAY_ADDRESS if it is set, else a Ray instance started
    for the run on this machine and stopped after it. workers: at most this many (None: one per GPU, or else as many
    as the CPU cores allow at `threads` each). threads: torch and OpenCV threads per CPU worker (None: the cores
    shared out evenly). chunk_seconds: the longest piece of one shot a worker gets; a longer shot is split, and the
    first frame of each piece is stylized first (a keyframe, carried from the one before; scaleout/plan.py).
    seam_frames: the frames before a split that are pulled towards the next piece's keyframe, so the boundary does
    not show. verbose: let Ray's own log lines (and the workers' output) reach the terminal.
    """

    address: str | None = None
    workers: int | None = None
    threads: int | None = None
    chunk_seconds: float = 10.0
    seam_frames: int = 12
    verbose: bool = False


# CPUs an automatic thread count leaves to a live session's other work: the capture thread that decodes the camera
# or the file, the recorder's encoder and the window, which run beside the network (see README, "Speed").
LIVE_RESERVED_CPUS = 1

# Long side of live frames when --size is not given, per device type: a GPU paints 256-384 px in real time, a CPU
# only about 64-128 px at a few frames per second (see README, "Live").
LIVE_DEFAULT_SIZE = {"cuda": 256, "mps": 256, "cpu": 128}
# URL schemes OpenCV's FFmpeg backend reads as live streams; anything else with :// is refused (they make the message).
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtp", "srt", "udp", "tcp", "http", "https")


@dataclass(frozen=True)
class LiveSettings:
    """A live session (see live.py and media/live_sources.py). Times are in seconds.

    fps: target rate; a frame's time budget is 1/fps, and warm frames get the Adam iterations that fit it (between
    min_iterations and max_iterations). The first frame and the first after a scene cut get first_budget_factor
    times the budget, at most first_iterations. size: long side of the processing size (None: LIVE_DEFAULT_SIZE of
    the device). The optimizer is always Adam with `lr`: unlike L-BFGS's line search it never reads the loss back
    to the host inside a frame. Recordings are encoded at a constant `fps` (see live.Recorder).
    Sources: opening a stream waits at most open_timeout; a read that waits longer than read_timeout means a stall.
    A lost source is reopened after reconnect_delay, doubling up to reconnect_max_delay, until reconnect_give_up
    seconds have passed without a frame.
    """

    size: int | None = None
    fps: float = 15.0
    min_iterations: int = 1
    max_iterations: int = 20
    first_iterations: int = 40
    first_budget_factor: float = 4.0
    lr: float = 0.03
    temporal_weight: float = VideoSettings.temporal_weight
    detect_cuts: bool = VideoSettings.detect_cuts
    crf: int = VideoSettings.crf
    record_preset: str = "veryfast"  # x264 must keep up in real time without taking the stylizer's CPU
    overwrite: bool = False  # replace an existing recording file (else refused)
    open_timeout: float = 10.0
    read_timeout: float = 5.0
    reconnect_delay: float = 0.5
    reconnect_max_delay: float = 5.0
    reconnect_give_up: float = 30.0
    max_seconds: float | None = None
