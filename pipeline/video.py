"""A whole video: source -> stylizer -> sink, with temporal coherence, checkpoints and resume.

Three threads, joined by bounded queues so memory stays flat however long the video: a reader decodes ahead, resizes
to the processing size and analyses each frame against the one before (flow, masks, scene cuts; OpenCV releases the
GIL); the caller's thread stylizes one frame at a time through a SequenceStylizer (sequence.py, where the temporal
coherence lives); a writer checkpoints each stylized frame as a PNG and encodes it. Every event is sent from the
caller's thread. Frames are HxWx3 BGR uint8 between threads and 1x3xHxW float RGB in [0, 1] inside the stylizer.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from .checkpoints import Checkpoints, build_manifest, check_free_space, fast_manifest, recorded_threads
from .checks import (
    check_blend_weights,
    check_fast_files,
    check_fast_settings,
    check_files,
    check_network_size,
    check_ray_settings,
    check_style_settings,
    check_video_settings,
    init_path,
    kept_network,
    soft_style_warning,
)
from .config import FastSettings, RaySettings, StyleSettings, VideoSettings
from .core.cpu_threads import use_threads
from .core.devices import device_label, network_arithmetic, pick_device
from .core.geometry import processing_size
from .errors import InputError, Interrupted, StylizeError, UsageError
from .events import StylizeWarning, VideoPlan, VideoResult
from .media.containers import CONTAINERS, GIF_SUFFIX, is_gif
from .media.frames import load_image
from .media.gif import GIF_MAX_FPS, gif_frame_count, gif_rate, write_gif
from .media.images import IMAGE_SUFFIXES
from .media.paths import atomic_output, partial_file, remove_stale_partials
from .media.reader import VideoReader
from .media.writer import audio_plan, mux_audio
from .scaleout.cluster import check_ray_installed
from .sequence import SequenceStylizer, Stylized, StylizerFactory, analyse_frame, make_stylizer
from .threads import Worker, get, put
from .video_job import ReadEnd, VideoJob, frames_at_size, write_frames
from .video_plan import estimate_seconds

JOIN_TIMEOUT_S = 120.0  # the writer may be finishing ffmpeg (see media.writer.CLOSE_TIMEOUT_S)


def _listed(items: tuple[str, ...]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _read(job: VideoJob, out: queue.Queue, abort: threading.Event) -> None:
    """Reader thread: decode at the processing size, analyse (sequence.analyse_frame), queue; then queue the
    reader's End. Frames already checkpointed only need their kind, not their flow."""
    prev = None
    for index, pixels, repeat in frames_at_size(job):
        put(out, analyse_frame(index, pixels, prev, job.video, repeat=repeat, stylized=index < job.resume_from), abort)
        prev = pixels
    put(out, job.end(), abort)


def _total_so_far(job: VideoJob, index: int) -> int | None:
    """The frame total for progress events. The probe's count is an estimate: a variable-rate file can give more
    frames at its average rate than it has pictures, and a total below the frames already seen would read "34/30"."""
    return None if job.total is None else max(job.total, index + 1)


def _stylize_frames(job: VideoJob, frames_in: queue.Queue, reader: Worker, frames_out: queue.Queue, writer: Worker,
                    stop: threading.Event | None) -> tuple[ReadEnd, int]:
    """Main loop: every frame from the reader to the writer. Returns (reader's end record, frames sent)."""
    never = threading.Event()  # the writer stops on its own errors; this loop only waits for room in its queue
    sequence, count = job.sequence, 0
    assert sequence is not None
    while not isinstance(item := get(frames_in, reader), ReadEnd):
        if stop is not None and stop.is_set():
            raise Interrupted("stopped by request")
        if item.index < job.resume_from:
            if item.kind in ("first", "cut"):
                sequence.set_reference(item.pixels)
            if item.index == job.resume_from - 1:
                # Carried through uint8 and the PNG's step scale exactly as in an uninterrupted run, so a resumed run
                # gives the same pixels.
                sequence.continue_from(Stylized(item.index, job.checkpoints.load(item.index, job.size), float("nan"),
                                                job.checkpoints.load_step_scale(item.index)))
            put(frames_out, (item.index, None, None), never, writer)
        else:
            done = sequence.stylize(item, _total_so_far(job, item.index))
            put(frames_out, (done.index, done.pixels, done.step_scale), never, writer)
        count += 1
    return item, count


def _run(job: VideoJob, video_path: Path, stop: threading.Event | None) -> tuple[ReadEnd, int]:
    """Start reader and writer, stylize in this thread; whatever happens, both threads are stopped and joined."""
    abort = threading.Event()
    frames_in: queue.Queue = queue.Queue(maxsize=job.video.queue_size)
    frames_out: queue.Queue = queue.Queue(maxsize=job.video.queue_size)
    reader = Worker("reader", lambda: _read(job, frames_in, abort))
    writer = Worker("writer", lambda: write_frames(job, frames_out, abort, video_path))
    reader.start()
    writer.start()
    try:
        end, count = _stylize_frames(job, frames_in, reader, frames_out, writer, stop)
        put(frames_out, None, threading.Event(), writer)
        writer.join()
        if writer.error is not None:
            raise writer.error
        return end, count
    finally:
        abort.set()  # on success both threads are done already; otherwise this stops them
        reader.join(JOIN_TIMEOUT_S)
        writer.join(JOIN_TIMEOUT_S)


def _prepare(input_path: str | os.PathLike, styles: list[tuple[str | os.PathLike, float]],
             output_path: str | os.PathLike, settings: StyleSettings, video: VideoSettings, device: str,
             stylizer: StylizerFactory | None, emit: Callable[[object], None],
             stop: threading.Event | None, ray: RaySettings | None, paint: bool = True,
             fast: FastSettings | None = None) -> tuple[VideoJob, list]:
    """Every check, in order, before any slow work (loading VGG is the last step; paint=False: no VGG, nothing is
    painted by the optimizer). fast: a fast run's settings, part of its work folder's manifest. Returns the job and
    the audio plan: (stream, "copy"|"aac") per audio stream."""
    check_blend_weights([weight for _, weight in styles])
    check_style_settings(settings)
    check_video_settings(video)
    if ray is not None:
        check_ray_settings(ray)
        check_ray_installed()  # the extra is missing: say so now
    source, style_paths, output = check_files(input_path, styles, output_path, settings, video.overwrite, still=False)
    # The probe first: a file that is neither a picture we read nor a video is named as such, not its output's
    # (image) suffix.
    reader = VideoReader(source, video.start, video.duration, video.max_frames)
    if output.suffix.lower() in IMAGE_SUFFIXES:  # the input's content decided it is a video, not its name
        kind = "an animation" if reader.info.animation else "a video"
        raise UsageError(f"'{input_path}' is {kind}, so OUTPUT '{output_path}' must be a video or a GIF: "
                         f"{', '.join([*CONTAINERS, GIF_SUFFIX])}")
    gif = is_gif(output)
    info = reader.info
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
    # On Ray this process stylizes nothing: the workers choose their devices (scaleout/cluster.py, share); except in
    # a fast run, whose keyframes and training are this process's (fast/run.py) and only its frames the workers'.
    here = ray is None or fast is not None
    torch_device = pick_device(device if here else "cpu")
    # A resumed run paints with the thread count the work folder was started with (it changes the pixels), unless
    # another is asked for, which its manifest then refuses. On Ray it is each worker's (one, unless asked).
    asked = settings.threads if here or ray.threads is None else ray.threads
    if asked is None and video.resume:
        asked = recorded_threads(output)
    settings = replace(settings, threads=use_threads(asked) if here else asked or 1)
    manifest = build_manifest(source, style_paths, settings, video, size,
                              network_arithmetic(torch_device, settings.optim.amp))
    if fast is not None:  # so that a default run never continues a fast run's frames, nor the other way round
        manifest.update(fast_manifest(fast))
    checkpoints = Checkpoints.inspect(output, manifest, video.resume)
    check_free_space(output.parent, None if total is None else max(0, total - checkpoints.finished), *size)
    job = VideoJob(source, output, settings, video, reader, size, sar, total, checkpoints, torch_device)
    for message in _input_warnings(job, gif):
        emit(StylizeWarning(message))
    job.style_paths = style_paths
    _load_styles(job, style_paths, emit)
    if here and paint:
        job.sequence = _sequence(job, stylizer, emit, stop)
    return job, [] if gif else audio_plan(info.audio, output)


def _input_warnings(job: VideoJob, gif: bool) -> Iterator[str]:
    """What the user should know about the input before the first frame."""
    info, settings = job.reader.info, job.settings
    display_w, display_h = round(info.width * info.display_sar), info.height
    if settings.size > max(display_w, display_h):
        yield (f"the video is {display_w}x{display_h}: it is painted at {job.size[0]}x{job.size[1]} (its own size, "
               f"in even numbers), not enlarged to --size {settings.size} (videos are never enlarged)")
    if info.hdr:
        # Tone-mapped by the reader (media/ffmpeg_decoder.py): mid-tones keep their SDR levels, highlights roll off.
        yield (f"the input is HDR ({info.hdr}, {info.bit_depth}-bit); it is tone-mapped to SDR (8-bit BT.709): "
               "mid-tones keep their levels, highlights are compressed")
    elif info.bit_depth > 8:
        yield f"the input is {info.bit_depth}-bit ({info.pix_fmt}); it is processed and written in 8-bit"
    if info.extras:
        yield f"only the picture and the sound are kept; left out: the input's {_listed(info.extras)}"
    if gif and info.audio:
        streams = "audio stream is" if len(info.audio) == 1 else f"{len(info.audio)} audio streams are"
        yield f"a GIF holds no sound: the input's {streams} left out"
    if gif and gif_rate(info.fps) != info.fps:
        yield (f"browsers play GIFs at most at {GIF_MAX_FPS} fps: the GIF plays at {float(gif_rate(info.fps)):.4g} "
               f"fps (the input's {float(info.fps):.4g} fps, frames dropped evenly)")
    if job.video.resume and not job.checkpoints.existed:
        yield f"nothing to resume in '{job.checkpoints.folder}'; starting from the first frame"


def _load_styles(job: VideoJob, style_paths: list[tuple[Path, float]], emit: Callable[[object], None]) -> None:
    """Read the styles (and the --init image) into the job, warning about a style too small for its strokes."""
    settings = job.settings
    job.styles = [(load_image(path, "style image", job.device), weight) for path, weight in style_paths]
    for (path, _), (image, _) in zip(style_paths, job.styles):
        warning = soft_style_warning(str(path), (image.shape[2], image.shape[3]), job.size[::-1], settings.style_scale)
        if warning is not None:
            emit(StylizeWarning(warning))
    init = [load_image(path, "init image", job.device) for path in init_path(settings)]
    job.init_image = init[0] if init else None


def _sequence(job: VideoJob, stylizer: StylizerFactory | None, emit: Callable[[object], None],
              stop: threading.Event | None) -> SequenceStylizer:
    """Make the stylizer (VGG19 loads here: the slow part of the preparation) for a run in this process."""
    engine = make_stylizer(stylizer, job.styles, job.settings, job.device)
    return SequenceStylizer(engine, job.settings, job.video, job.device, init_image=job.init_image, emit=emit,
                            stop=stop)


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
    stylizer: StylizerFactory | None = None,
    ray: RaySettings | None = None,
    fast: FastSettings | None = None,
) -> VideoResult:
    """Stylize the video `input_path` with the blended `styles` (image path, weight > 0) into `output_path`.

    The output has the processing size (see processing_size), the input's frame rate, and the input's audio
    streams for the selected time range (copied, or AAC where the container cannot take them); a .gif output is an
    endlessly looping GIF without sound, at most 50 fps (see media.gif.gif_args). stylizer: what makes the
    stylizer from the loaded styles (sequence.StylizerFactory; None: the optimizer's). ray: spread the frames over
    Ray workers (scaleout/; the `ray` extra), None: stylize them in this process. fast: paint the frames with the
    fast painter (pipeline/fast/: keyframes painted by the optimizer, a small network trained on them), None: every
    frame by the optimizer. Raises UsageError,
    InputError, OutputError... before any slow work for a bad request (an existing `output_path` too, unless
    video.overwrite); Interrupted when `stop` is set. On any failure nothing appears at `output_path` and the finished
    frames stay in the work folder (see checkpoints.py), and in a fast run its painted keyframes and trained network.
    """
    began = time.monotonic()
    warnings: list[str] = []

    def emit(event: object) -> None:
        if isinstance(event, StylizeWarning):
            warnings.append(event.message)
        if on_event is not None:
            on_event(event)

    if fast is not None:
        check_fast_settings(fast)
        check_fast_files(fast, [input_path, *(path for path, _ in styles), *init_path(settings)], output_path,
                         video.overwrite, video.resume)
    reused = None
    if fast is not None and fast.model is not None:  # a bad model file is refused before the plan line
        from .fast.model_file import load_model

        reused = load_model(fast.model)
    # No VGG19 where nothing is painted by the optimizer: a --model run, or a resumed fast run whose network is kept.
    paint = fast is None or (fast.model is None and kept_network(fast, output_path, video.resume) is None)
    job, plan = _prepare(input_path, styles, output_path, settings, video, device, stylizer, emit, stop, ray, paint,
                         fast)
    info = job.reader.info
    estimate = None
    if job.sequence is not None and fast is None:
        estimate = estimate_seconds(job.sequence.stylizer, job.device, job.total, job.resume_from, job.size,
                                    settings.optim, video)
    emit(VideoPlan(job.source, job.output, job.total, (info.width, info.height), job.size, info.fps,
                   tuple((s.index, s.codec, action) for s, action in plan),
                   device_label(job.device, job.settings.optim.amp), job.resume_from, estimate,
                   job.settings.threads))
    if job.video.resume and job.checkpoints.existed:
        # A killed run's, which no cleanup reached.
        remove_stale_partials(job.output, tags=(VIDEO_TEMP_TAG,), suffixes=(GIF_SOURCE_SUFFIX,))
    job.checkpoints.start()
    try:
        with atomic_output(job.output, job.video.overwrite) as final_tmp, \
                _video_temp(job.output, final_tmp, bool(plan)) as video_tmp:
            if fast is not None:
                from .fast.run import prepare  # the fast painter's phases: keyframes, training (or --model)

                job.sequence = prepare(job, fast, [path for path, _ in job.style_paths], emit, stop, reused)
                if fast.blend <= 0:  # no blend: the frames need no flow, only their cuts
                    job.video = replace(job.video, warp=False)
            if ray is None:
                end, count = _run(job, video_tmp, stop)
            else:
                from .scaleout.driver import stylize_on_ray  # imports Ray: only for runs that ask for it

                painter = job.sequence if fast is not None else None  # fast/painter.py's NetworkSequence
                end, count = stylize_on_ray(job, video_tmp, ray, device, stylizer, emit, stop, painter)
            if count == 0:
                raise InputError(f"video '{job.source}': no frame could be decoded in the selection")
            if end.truncated:
                emit(StylizeWarning(f"the input ended early: stopped at frame {end.frames_read} of ~{job.total}",
                                    partial=True))
            if job.reader.repeated or job.reader.dropped:
                repeated, dropped = job.reader.repeated, job.reader.dropped
                emit(StylizeWarning(f"the input has a variable frame rate: converted to a constant "
                                    f"{float(info.fps):.4g} fps ({repeated} frame{'s' * (repeated != 1)} repeated, "
                                    f"{dropped} dropped) so the sound stays in sync"))
            duration = float(count / info.fps)
            if is_gif(job.output):
                write_gif(video_tmp, final_tmp, info.fps)
                count = gif_frame_count(count, info.fps)  # what the GIF holds: at most 50 fps
                duration = float(count / gif_rate(info.fps))
            elif plan:
                mux_audio(video_tmp, job.source, final_tmp, info.audio, end.first_time or 0.0, duration)
    except BaseException as exc:
        kept = job.checkpoints.kept()
        if not job.checkpoints.existed and kept is None:
            job.checkpoints.remove()  # nothing finished: leave no folder that a rerun would have to --resume
        elif kept is not None and isinstance(exc, (StylizeError, KeyboardInterrupt)):
            are = "are" if " and " in kept or kept.split()[0] not in ("1", "the") else "is"
            exc.kept = f"{kept} {are} kept in '{job.checkpoints.folder}': the same command with --resume continues"
        raise
    if not video.keep_frames:
        job.checkpoints.remove()
    return VideoResult(job.output, count, time.monotonic() - began, duration, tuple(warnings), end.truncated)
