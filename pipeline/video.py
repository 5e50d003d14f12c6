"""A whole video: source -> stylizer -> sink, with temporal coherence, checkpoints and resume.

Three threads, joined by bounded queues so memory stays flat however long the video: a reader decodes ahead, resizes
to the processing size and computes optical flows, occlusion masks and scene cuts (OpenCV releases the GIL); the
caller's thread optimizes one frame at a time; a writer checkpoints each stylized frame as a PNG and encodes it.
Every event is sent from the caller's thread. Frames are HxWx3 BGR uint8 between threads and 1x3xHxW float RGB
in [0, 1] inside the stylizer.

Temporal coherence follows Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016): each frame
after the first of a shot starts from the previous stylized frame warped along the optical flow, and a temporal loss
pulls it towards that warped frame where the flow is reliable. Adaptive effort: a warm frame's iteration budget grows
with the share of pixels the flow cannot carry over and with the motion (see frame_budget); first frames and frames
after a scene cut get the full coarse-to-fine run. A warm frame's L-BFGS takes its first step at the length the
previous frame's first step found (optimize.Optimized.step_scale), not torch's far too short default.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from .checkpoints import Checkpoints, build_manifest, check_free_space
from .config import EXTRA_EVALS_PER_RUN, EXTRA_EVALS_PER_WARM_RUN, OptimSettings, StyleSettings, VideoSettings
from .devices import device_label, network_arithmetic, pick_device
from .errors import InputError, Interrupted, StylizeError, UsageError
from .events import FrameDone, FrameStarted, VideoPlan, VideoResult, VideoWarning
from .frames import bgr_to_tensor, tensor_to_bgr
from .images import IMAGE_SUFFIXES, load_image
from .oom import MemoryFallback
from .paths import atomic_output, check_input, check_output, partial_file, remove_stale_partials
from .sinks import (CONTAINERS, GIF_MAX_FPS, GIF_SUFFIX, VideoWriter, audio_plan, check_animation_name,
                    gif_frame_count, gif_rate, is_gif, mux_audio, write_gif)
from .sources import VideoReader
from .stylize import (ScaleDone, Stylizer, check_blend_weights, check_network_size, check_style_settings,
                      init_path, scale_schedule, soft_style_warning)
from .temporal import (consistency_masks, estimate_flow, fill_new_content, motion_stats, scene_cut, temporal_term,
                       warp)
from .workers import POLL_S, Worker, get, put

JOIN_TIMEOUT_S = 120.0  # the writer may be finishing ffmpeg (see sinks.CLOSE_TIMEOUT_S)
MAX_CRF = 51  # libx264's worst quality for 8-bit video; ffmpeg would quietly clip a larger --crf


def _even(value: float, limit: float) -> int:
    """The even integer nearest `value` (halves up), at most `limit` (never upscaling), at least 2."""
    n = 2 * math.floor(value / 2 + 0.5)
    if n > limit:
        n = math.floor(limit) - math.floor(limit) % 2
    return max(2, n)


def processing_size(width: int, height: int, sar: Fraction, long_side: int) -> tuple[tuple[int, int], Fraction]:
    """((width, height) of the frames to stylize, the sample aspect ratio to write them with).

    width, height: the upright decoded size; sar: its sample aspect ratio (non-square pixels are resampled to square
    ones, so brush strokes are round on screen). The long side becomes `long_side` but never more than the display
    size; each side is rounded to even for yuv420p, which changes the aspect by a hair (e.g. 0.2%). The returned SAR
    (1/(1 + that change), e.g. 135/136) puts the hair back on screen, so the output displays at exactly the input's
    aspect; its terms fit H.264's 16-bit VUI fields.
    """
    display = Fraction(width) * Fraction(sar) / height
    display_w, display_h = float(width * Fraction(sar)), float(height)
    scale = min(long_side, max(display_w, display_h)) / max(display_w, display_h)
    w, h = _even(display_w * scale, display_w), _even(display_h * scale, display_h)
    restoring = display / Fraction(w, h)
    if max(restoring.numerator, restoring.denominator) > 65535:
        restoring = restoring.limit_denominator(32767)  # within a few percent of 1, so the numerator fits too
    return (w, h), restoring


def _listed(items: tuple[str, ...]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


@dataclass
class _Item:
    """One decoded frame for the stylizer: pixels at the processing size; flow (t -> t-1, on frame t's grid) and
    mask (HxW reliable pixels) and carried (HxW, 0 where the content is new) when a warm start needs them, else None;
    iterations: a warm frame's budget."""

    index: int
    pixels: np.ndarray
    kind: str
    flow: np.ndarray | None = None
    mask: np.ndarray | None = None
    iterations: int | None = None
    carried: np.ndarray | None = None


@dataclass
class _End:
    frames_read: int
    truncated: bool
    first_time: float | None


@dataclass
class _Job:
    """Everything decided before the first frame."""

    source: Path
    output: Path
    settings: StyleSettings
    video: VideoSettings
    reader: VideoReader
    size: tuple[int, int]
    sar: Fraction  # of the output: restores the input's display aspect (see processing_size)
    total: int | None
    checkpoints: Checkpoints
    device: torch.device
    stylizer: Stylizer | None = None
    memory: MemoryFallback | None = None  # out of GPU memory: smaller, then the CPU (see oom.py)

    @property
    def resume_from(self) -> int:
        return self.checkpoints.finished


def frame_budget(video: VideoSettings, unreliable: float, motion: float) -> int:
    """Adaptive effort: iterations for a warm frame whose flow leaves `unreliable` (0..1) of its pixels unreliable
    and moves by `motion` (mean flow over the long side), see temporal.motion_stats.

    Linear from min_frame_iterations (a still scene: the warped start is nearly right) up to frame_iterations,
    reached when either cue reaches its effort_* setting: new pixels must be painted from the content, and large
    motion resamples the whole frame (bilinear warping blurs it). The optimizer may still stop sooner on a plateau.
    """
    floor = min(video.min_frame_iterations, video.frame_iterations)
    need = min(1.0, max(unreliable / video.effort_unreliable, motion / video.effort_motion))
    return floor + round((video.frame_iterations - floor) * need)


def _analyse(index: int, pixels: np.ndarray, prev: np.ndarray | None, job: _Job, repeat: bool = False) -> _Item:
    """Kind of frame, and flow, mask and budget when it will be warm-started (not for frames already checkpointed)."""
    video = job.video
    if prev is None:
        return _Item(index, pixels, "first")
    if repeat:  # the same picture again (a variable-rate file): its painting is the frame before's
        return _Item(index, pixels, "repeat")
    if video.detect_cuts and scene_cut(prev, pixels):
        return _Item(index, pixels, "cut")
    if index < job.resume_from:
        return _Item(index, pixels, "warm")
    if not video.warp:  # for comparisons: no flow, so a fixed budget
        return _Item(index, pixels, "warm", iterations=video.frame_iterations)
    flow_back = estimate_flow(pixels, prev)
    mask, carried = consistency_masks(flow_back, estimate_flow(prev, pixels))
    return _Item(index, pixels, "warm", flow_back, mask, frame_budget(video, *motion_stats(flow_back, mask)), carried)


def _read(job: _Job, out: queue.Queue, abort: threading.Event) -> None:
    """Reader thread: decode, resize (area averaging), analyse, queue; then queue an _End."""
    prev = None
    with job.reader as reader:
        for frame in reader:
            pixels = frame.pixels
            if frame.size != job.size:
                pixels = cv2.resize(pixels, job.size, interpolation=cv2.INTER_AREA)
            put(out, _analyse(frame.index, pixels, prev, job, frame.repeat), abort)
            prev = pixels
    put(out, _End(reader.frames_read, reader.truncated, reader.first_time), abort)


def _write(job: _Job, inbox: queue.Queue, abort: threading.Event, video_path: Path) -> None:
    """Writer thread: checkpoint then encode each (index, bgr, step_scale) - bgr None means "already checkpointed,
    load it".

    After an abort it still checkpoints what is queued (finished work is never lost) but stops encoding."""
    width, height = job.size
    encoder = VideoWriter(video_path, width, height, job.reader.info.fps, job.video.crf, job.sar, job.video.preset)
    encoder.open()
    try:
        while True:
            try:
                item = inbox.get(timeout=POLL_S)
            except queue.Empty:
                if abort.is_set():
                    break
                continue
            if item is None:
                break
            index, bgr, step_scale = item
            if bgr is not None:
                job.checkpoints.save(index, bgr, step_scale)
            if not abort.is_set():
                encoder.write(bgr if bgr is not None else job.checkpoints.load(index, job.size))
    except BaseException:
        encoder.abort()
        raise
    if abort.is_set():
        encoder.abort()
    else:
        encoder.close()


def _total_so_far(job: _Job, index: int) -> int | None:
    """The frame total for progress events. The probe's count is an estimate: a variable-rate file can give more
    frames at its average rate than it has pictures, and a total below the frames already seen would read "34/30"."""
    return None if job.total is None else max(job.total, index + 1)


def _stylize_one(job: _Job, item: _Item, prev: torch.Tensor | None, step_scale: float | None,
                 emit: Callable[[object], None],
                 stop: threading.Event | None) -> tuple[np.ndarray, float, float | None]:
    """Stylize one frame, a warm one starting L-BFGS at the previous frame's `step_scale`. Returns the frame as HxWx3
    BGR uint8 (what is checkpointed and encoded), its loss and its own step scale (see optimize.Optimized)."""
    stylizer, video = job.stylizer, job.video
    assert stylizer is not None
    warm = item.kind == "warm" and prev is not None
    iterations = (item.iterations or video.frame_iterations) if warm else job.settings.optim.iterations
    total = _total_so_far(job, item.index)
    emit(FrameStarted(item.index, total, item.kind, iterations))
    began = time.monotonic()
    scales: list[ScaleDone] = []

    def relay(event: object) -> None:
        if isinstance(event, ScaleDone):
            scales.append(event)
        emit(event)

    def paint(device: torch.device, scale: float) -> torch.Tensor:
        return _paint(job, item, None if prev is None else prev.to(device), warm, iterations, relay, stop, scale,
                      step_scale)

    result = job.memory.run(paint) if job.memory is not None else paint(job.device, 1.0)
    bgr = tensor_to_bgr(result)
    loss = scales[-1].loss if scales else math.nan
    emit(FrameDone(item.index, total, loss, time.monotonic() - began))
    return bgr, loss, scales[-1].step_scale if scales else None


def _paint(job: _Job, item: _Item, prev: torch.Tensor | None, warm: bool, iterations: int,
           relay: Callable[[object], None], stop: threading.Event | None, scale: float,
           step_scale: float | None) -> torch.Tensor:
    """One painting attempt on job.device at `scale` of the size (1 unless memory ran out); prev is on job.device.
    A warm frame's first L-BFGS step is `step_scale` (the previous frame's; None: torch's own short first step)."""
    stylizer, video = job.stylizer, job.video
    smaller = {"scale": scale} if scale != 1.0 else {}  # the usual call stays the usual call
    content = bgr_to_tensor(item.pixels, job.device)
    if not warm:
        stylizer.set_color_reference(content)  # one colour transform per scene (a no-op without preserve_colors)
        return stylizer.stylize(content, on_event=relay, stop=stop, **smaller)
    # warp=False: the flow is taken as zero, so both the start and the temporal target are the previous frame.
    target = warp(prev, item.flow) if item.flow is not None else prev
    start = fill_new_content(target, content, item.carried) if item.carried is not None else target
    mask = item.mask if item.mask is not None else torch.ones(target.shape[2:])
    extra = (temporal_term(video.temporal_weight, target, mask, grey=job.settings.preserve_colors)
             if video.temporal_weight > 0 else None)
    return stylizer.stylize(content, init=start, iterations=iterations, coarse_to_fine=False,
                            extra_loss=extra, on_event=relay, stop=stop, first_step=step_scale, **smaller)


def _stylize_frames(job: _Job, frames_in: queue.Queue, reader: Worker, frames_out: queue.Queue, writer: Worker,
                    emit: Callable, stop: threading.Event | None) -> tuple[_End, int]:
    """Main loop: every frame from the reader to the writer. Returns (reader's end record, frames sent)."""
    never = threading.Event()  # the writer stops on its own errors; this loop only waits for room in its queue
    # The last painted frame: BGR uint8, its loss (NaN when read back from a checkpoint) and step scale.
    last: tuple[np.ndarray, float, float | None] | None = None
    prev, count = None, 0  # prev: last[0] as a tensor on job.device, the next warm frame's start
    while not isinstance(item := get(frames_in, reader), _End):
        if stop is not None and stop.is_set():
            raise Interrupted("stopped by request")
        if item.index < job.resume_from:
            if item.kind in ("first", "cut"):
                job.stylizer.set_color_reference(bgr_to_tensor(item.pixels, job.device))
            if item.index == job.resume_from - 1:
                # Carried through uint8 and the PNG's step scale exactly as in an uninterrupted run, so a resumed run
                # gives the same pixels.
                bgr = job.checkpoints.load(item.index, job.size)
                last = (bgr, math.nan, job.checkpoints.load_step_scale(item.index))
                prev = bgr_to_tensor(bgr, job.device)
            put(frames_out, (item.index, None, None), never, writer)
        elif item.kind == "repeat" and last is not None:
            # Painted again it would cost a warm frame and differ a little: a still picture that shimmers.
            total = _total_so_far(job, item.index)
            emit(FrameStarted(item.index, total, "repeat", 0))
            emit(FrameDone(item.index, total, last[1], 0.0))
            put(frames_out, (item.index, last[0], last[2]), never, writer)
        else:
            last = _stylize_one(job, item, prev, None if last is None else last[2], emit, stop)
            prev = bgr_to_tensor(last[0], job.device)
            put(frames_out, (item.index, last[0], last[2]), never, writer)
        count += 1
    return item, count


def _run(job: _Job, video_path: Path, emit: Callable, stop: threading.Event | None) -> tuple[_End, int]:
    """Start reader and writer, stylize in this thread; whatever happens, both threads are stopped and joined."""
    abort = threading.Event()
    frames_in: queue.Queue = queue.Queue(maxsize=job.video.queue_size)
    frames_out: queue.Queue = queue.Queue(maxsize=job.video.queue_size)
    reader = Worker("reader", lambda: _read(job, frames_in, abort))
    writer = Worker("writer", lambda: _write(job, frames_out, abort, video_path))
    reader.start()
    writer.start()
    try:
        end, count = _stylize_frames(job, frames_in, reader, frames_out, writer, emit, stop)
        put(frames_out, None, threading.Event(), writer)
        writer.join()
        if writer.error is not None:
            raise writer.error
        return end, count
    finally:
        abort.set()  # on success both threads are done already; otherwise this stops them
        reader.join(JOIN_TIMEOUT_S)
        writer.join(JOIN_TIMEOUT_S)


def _check_request(styles: list, settings: StyleSettings, video: VideoSettings) -> None:
    check_blend_weights([weight for _, weight in styles])
    check_style_settings(settings)
    if video.frame_iterations < 1:
        raise UsageError(f"--frame-iterations must be at least 1, got {video.frame_iterations}")
    if not (math.isfinite(video.temporal_weight) and video.temporal_weight >= 0):
        raise UsageError(f"--temporal-weight must be a number >= 0, got {video.temporal_weight}")
    if video.queue_size < 1:
        raise UsageError(f"video settings: expected queue_size >= 1, got {video.queue_size}")
    if video.min_frame_iterations < 1 or not (video.effort_unreliable > 0 and video.effort_motion > 0):
        raise UsageError(
            "video settings: expected min_frame_iterations >= 1, effort_unreliable > 0 and effort_motion > 0, got "
            f"{video.min_frame_iterations}, {video.effort_unreliable} and {video.effort_motion}"
        )
    if not 0 <= video.crf <= MAX_CRF:
        raise UsageError(f"--crf must be between 0 and {MAX_CRF}, got {video.crf}")


def _prepare(input_path: str | os.PathLike, styles: list[tuple[str | os.PathLike, float]],
             output_path: str | os.PathLike, settings: StyleSettings, video: VideoSettings, device: str,
             emit: Callable[[object], None]) -> tuple[_Job, list]:
    """Every check, in order, before any slow work (loading VGG is the last step). Returns the job and the audio
    plan: (stream, "copy"|"aac") per audio stream."""
    _check_request(styles, settings, video)
    source = check_input(input_path, "video")
    style_paths = [(check_input(path, "style image"), float(weight)) for path, weight in styles]
    output = check_output(output_path, [source, *(path for path, _ in style_paths), *init_path(settings)],
                          video.overwrite)
    # The probe first: a file that is neither a picture we read nor a video is named as such, not its output's
    # (image) suffix.
    reader = VideoReader(source, video.start, video.duration, video.max_frames)
    if output.suffix.lower() in IMAGE_SUFFIXES:  # the input's content decided it is a video, not its name
        kind = "an animation" if reader.info.animation else "a video"
        raise UsageError(f"'{input_path}' is {kind}, so OUTPUT '{output_path}' must be a video or a GIF: "
                         f"{', '.join([*CONTAINERS, GIF_SUFFIX])}")
    gif = check_animation_name(output) == "gif"  # UsageError for a container that cannot hold H.264, nor a GIF
    info = reader.info
    plan = [] if gif else audio_plan(info.audio, output)
    size, sar = processing_size(info.width, info.height, info.display_sar, settings.size)
    check_network_size((size[1], size[0]), (info.height, float(info.width * info.display_sar)), settings.size,
                       upscales=False)
    total = reader.expected_frames
    if total == 0:
        asked = ", ".join([f"--start {video.start:g} s"] + ([f"--duration {video.duration:g} s"]
                                                             if video.duration is not None else []))
        length = f"{info.duration:g} s, " if info.duration else ""
        raise UsageError(f"the selection ({asked}) holds no frame of the {length}{float(info.fps):.4g} fps video "
                         f"'{source}'")
    torch_device = pick_device(device)
    manifest = build_manifest(source, style_paths, settings, video, size,
                              network_arithmetic(torch_device, settings.optim.amp))
    checkpoints = Checkpoints.inspect(output, manifest, video.resume)
    check_free_space(output.parent, None if total is None else max(0, total - checkpoints.finished), *size)
    job = _Job(source, output, settings, video, reader, size, sar, total, checkpoints, torch_device)
    display_w, display_h = round(info.width * info.display_sar), info.height
    if settings.size > max(display_w, display_h):
        emit(VideoWarning(f"the video is {display_w}x{display_h}: it is painted at {size[0]}x{size[1]} (its own "
                          f"size, in even numbers), not enlarged to --size {settings.size} "
                          "(videos are never enlarged)"))
    if info.hdr:
        # Tone-mapped by the reader (ffmpeg_capture.py): mid-tones keep their SDR levels, highlights are rolled off.
        emit(VideoWarning(f"the input is HDR ({info.hdr}, {info.bit_depth}-bit); it is tone-mapped to SDR (8-bit "
                          "BT.709): mid-tones keep their levels, highlights are compressed"))
    elif info.bit_depth > 8:
        emit(VideoWarning(f"the input is {info.bit_depth}-bit ({info.pix_fmt}); it is processed and written in 8-bit"))
    if info.extras:
        emit(VideoWarning(f"only the picture and the sound are kept; left out: the input's {_listed(info.extras)}"))
    if gif and info.audio:
        streams = "audio stream is" if len(info.audio) == 1 else f"{len(info.audio)} audio streams are"
        emit(VideoWarning(f"a GIF holds no sound: the input's {streams} left out"))
    if gif and gif_rate(info.fps) != info.fps:
        emit(VideoWarning(f"browsers play GIFs at most at {GIF_MAX_FPS} fps: the GIF plays at "
                          f"{float(gif_rate(info.fps)):.4g} fps (the input's {float(info.fps):.4g} fps, frames "
                          "dropped evenly)"))
    if video.resume and not checkpoints.existed:
        emit(VideoWarning(f"nothing to resume in '{checkpoints.folder}'; starting from the first frame"))
    style_images = [(load_image(p, "style image", job.device), w) for p, w in style_paths]
    for (path, _), (image, _) in zip(style_paths, style_images):
        warning = soft_style_warning(str(path), (image.shape[2], image.shape[3]), job.size[::-1], settings.style_scale)
        if warning is not None:
            emit(VideoWarning(warning))
    job.stylizer = Stylizer(style_images, settings, job.device)
    job.memory = MemoryFallback(job.device, lambda: _move_to_cpu(job), lambda message: emit(VideoWarning(message)))
    return job, plan


def _move_to_cpu(job: _Job) -> None:
    job.device = torch.device("cpu")
    job.stylizer.to(job.device)


def _estimate_seconds(job: _Job) -> float | None:
    """Time a forward/backward pass at the processing size and scale it by the evaluations the run will need."""
    if job.total is None or job.stylizer is None:
        return None
    width, height = job.size
    gray = torch.full((1, 3, height, width), 0.5, device=job.device)
    objective = job.stylizer.objective(gray)
    image = gray.clone().requires_grad_(True)
    timings = []
    for _ in range(3):  # the first pass also sets the kernels and the memory up: the best of the other two counts
        began = time.perf_counter()
        objective(image).backward()
        if job.device.type == "cuda":
            torch.cuda.synchronize()  # the kernels run asynchronously: wait, or only their launch is timed
        timings.append(time.perf_counter() - began)
    per_eval = min(timings[1:])
    return planned_evaluations(job.total, job.resume_from, job.size, job.settings.optim, job.video) * per_eval


def planned_evaluations(frames: int, resume_from: int, size: tuple[int, int], optim: OptimSettings,
                        video: VideoSettings) -> float:
    """Forward/backward passes, in passes at `size` = (width, height), that painting frames resume_from..frames-1
    will take: the first frame's coarse-to-fine runs (coarse passes count by their pixels), then one run per warm
    frame. A guess where adaptive effort decides: a warm frame is taken to need the middle of its iteration range."""
    width, height = size
    extra, warm_extra = EXTRA_EVALS_PER_RUN.get(optim.optimizer, 0), EXTRA_EVALS_PER_WARM_RUN.get(optim.optimizer, 0)
    scales = scale_schedule(height, width, optim.max_scales, optim.min_scale_side)
    first = (optim.iterations + extra) * sum(h * w for h, w in scales) / (height * width)  # a run per scale
    warm_frames = max(0, frames - max(1, resume_from))
    # On the bikes sample the warm frames averaged 20.1 iterations of 10-30.
    per_warm = (min(video.min_frame_iterations, video.frame_iterations) + video.frame_iterations) / 2
    return (first if resume_from == 0 else 0) + warm_frames * (per_warm + warm_extra)


# The encoder's own temporary file, when it is not the final one: ".<stem>.video.XXXXXXXX.partial<suffix>", and for
# a GIF an H.264 Matroska file.
VIDEO_TEMP_TAG = "video"
GIF_SOURCE_SUFFIX = ".mkv"


@contextlib.contextmanager
def _video_temp(output: Path, final_tmp: Path, has_audio: bool) -> Iterator[Path]:
    """Where the encoder writes: the final temporary file, or another one beside it when audio is muxed in after or
    the output is a GIF (made from an H.264 Matroska file)."""
    gif = is_gif(output)
    if not has_audio and not gif:
        yield final_tmp
        return
    name = partial_file(output, VIDEO_TEMP_TAG, GIF_SOURCE_SUFFIX if gif else None)
    try:
        yield name
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def stylize_video(
    input_path: str | os.PathLike,
    styles: list[tuple[str | os.PathLike, float]],
    output_path: str | os.PathLike,
    settings: StyleSettings,
    video: VideoSettings,
    device: str = "auto",
    on_event: Callable[[object], None] | None = None,
    stop: threading.Event | None = None,
) -> VideoResult:
    """Stylize the video `input_path` with the blended `styles` (image path, weight > 0) into `output_path`.

    The output has the processing size (see processing_size), the input's frame rate, and the input's audio
    streams for the selected time range (copied, or AAC where the container cannot take them); a .gif output is an
    endlessly looping GIF without sound, at most 50 fps (see sinks.gif_args). Raises UsageError,
    InputError, OutputError... before any slow work for a bad request (an existing `output_path` too, unless
    video.overwrite); Interrupted when `stop` is set. On any failure nothing appears at `output_path` and the finished
    frames stay in the work folder (see checkpoints.py).
    """
    began = time.monotonic()
    warnings: list[str] = []

    def emit(event: object) -> None:
        if isinstance(event, VideoWarning):
            warnings.append(event.message)
        if on_event is not None:
            on_event(event)

    job, plan = _prepare(input_path, styles, output_path, settings, video, device, emit)
    info = job.reader.info
    emit(VideoPlan(job.source, job.output, job.total, (info.width, info.height), job.size, info.fps,
                   tuple((s.index, s.codec, action) for s, action in plan),
                   device_label(job.device, job.settings.optim.amp), job.resume_from,
                   _estimate_seconds(job)))
    if job.video.resume and job.checkpoints.existed:
        # A killed run's, which no cleanup reached.
        remove_stale_partials(job.output, tags=(VIDEO_TEMP_TAG,), suffixes=(GIF_SOURCE_SUFFIX,))
    job.checkpoints.start()
    try:
        with atomic_output(job.output, job.video.overwrite) as final_tmp, \
                _video_temp(job.output, final_tmp, bool(plan)) as video_tmp:
            end, count = _run(job, video_tmp, emit, stop)
            if count == 0:
                raise InputError(f"video '{job.source}': no frame could be decoded in the selection")
            if end.truncated:
                emit(VideoWarning(f"the input ended early: stopped at frame {end.frames_read} of ~{job.total}"))
            if job.reader.repeated or job.reader.dropped:
                emit(VideoWarning(f"the input has a variable frame rate: converted to a constant {float(info.fps):.4g} "
                                  f"fps ({job.reader.repeated} frame{'s' * (job.reader.repeated != 1)} repeated, "
                                  f"{job.reader.dropped} dropped) so the "
                                  "sound stays in sync"))
            duration = float(count / info.fps)
            if is_gif(job.output):
                write_gif(video_tmp, final_tmp, info.fps)
                count = gif_frame_count(count, info.fps)  # what the GIF holds: at most 50 fps
                duration = float(count / gif_rate(info.fps))
            elif plan:
                mux_audio(video_tmp, job.source, final_tmp, info.audio, end.first_time or 0.0, duration)
    except BaseException as exc:
        finished = job.checkpoints.frames_on_disk()
        if not job.checkpoints.existed and finished == 0:
            job.checkpoints.remove()  # nothing finished: leave no folder that a rerun would have to --resume
        elif finished and isinstance(exc, (StylizeError, KeyboardInterrupt)):
            frames = "1 finished frame is" if finished == 1 else f"{finished} finished frames are"
            exc.kept = f"{frames} kept in '{job.checkpoints.folder}': the same command with --resume continues"
        raise
    if not video.keep_frames:
        job.checkpoints.remove()
    return VideoResult(job.output, count, time.monotonic() - began, duration, tuple(warnings))
