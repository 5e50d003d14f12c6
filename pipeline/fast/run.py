"""The phases of a --fast video run before its frames: find the keyframes, paint them with the optimizer, train the
network on them (or load one: --model, or the one a resumed run's work folder keeps), and hand back the sequence
that paints every frame (painter.py). video.py calls `prepare` and then runs its reader, the sequence and its writer
as for any run: same frames, timing and sound.

Frames are HxWx3 BGR uint8 at the processing size; images 1x3xHxW float32 RGB in [0, 1] on the job's device.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Callable

from ..config import FastSettings
from ..errors import InputError, Interrupted, ModelError, OutputError
from ..events import FastPlan, FrameDone, FrameStarted, KeyframeDone, ScanProgress, StylizeWarning, TrainingDone
from ..media.frames import bgr_to_tensor
from ..media.paths import same_bytes
from ..sequence import Item, Stylized, analyse_frame
from ..video_job import VideoJob, frames_at_size
from .keyframes import Keyframe, KeyframeChooser
from .model_file import Model, copy_model, load_model, mismatch_warnings, save_model
from .painter import NetworkSequence
from .training import Example, Trainer, fresh_network, planned_steps

# A keyframe carried from the one before gets this many times a warm frame's largest budget (video.frame_iterations):
# the budget adaptive effort gives a default run's frame where half of it is new. Already 30 iterations at full size
# cost about what a shot's first frame costs coarse to fine; scaleout/segment.py's keyframes get 2, after a walk.
KEY_ITERATIONS = 1


SCAN_REPORT_EVERY = 25  # frames between ScanProgress events


def scan(job: VideoJob, fast: FastSettings, emit: Callable[[object], None] = lambda event: None,
         stop: threading.Event | None = None) -> KeyframeChooser:
    """One pass over the selection: every frame analysed as a default run does (cuts, motion), keyframes chosen."""
    gap = max(1, round(fast.key_gap * float(job.reader.info.fps)))
    chooser = KeyframeChooser(fast.new_content, gap, fast.pool_frames)
    previous = None
    for index, pixels, repeat in frames_at_size(job):
        if stop is not None and stop.is_set():
            raise Interrupted("stopped by request")
        chooser.add(analyse_frame(index, pixels, previous, job.video, repeat=repeat))
        previous = pixels
        if (index + 1) % SCAN_REPORT_EVERY == 0:
            emit(ScanProgress(index + 1, job.total))
    emit(ScanProgress(chooser.frames, chooser.frames))
    return chooser


def paint_keyframes(job: VideoJob, keyframes: list[Keyframe], emit: Callable[[object], None]) -> list[Example]:
    """Each keyframe painted by the optimizer (job.sequence), in order: a shot's first from the photo, a later one
    from the keyframe before moved along the motion between them. Their events become KeyframeDone. Each painting
    is kept in the work folder as it is done; a resumed run (--resume) reads back those it finds instead, and
    carries on from them exactly as the interrupted run would have."""
    sequence = job.sequence
    assert sequence is not None
    examples = []
    for number, key in enumerate(keyframes):
        kept = job.checkpoints.load_keyframe(key.index, job.size) if job.video.resume else None
        if kept is not None:
            if key.kind in ("first", "cut"):
                sequence.set_reference(key.pixels)
            sequence.continue_from(Stylized(key.index, kept[0], math.nan, kept[1]))
            examples.append(Example(bgr_to_tensor(key.pixels, job.device), bgr_to_tensor(kept[0], job.device)))
            continue

        def relay(event: object, number: int = number) -> None:
            if isinstance(event, FrameDone):
                emit(KeyframeDone(number, len(keyframes), event.index, event.seconds, event.loss))
            elif not isinstance(event, FrameStarted):  # the frames bar counts the video's frames, not these
                emit(event)

        sequence.emit = relay
        iterations = KEY_ITERATIONS * job.video.frame_iterations if key.kind == "key" else None
        done = sequence.stylize(Item(key.index, key.pixels, key.kind, key.motion, iterations))
        job.checkpoints.save_keyframe(key.index, done.pixels, done.step_scale)
        examples.append(Example(bgr_to_tensor(key.pixels, job.device), bgr_to_tensor(done.pixels, job.device)))
    sequence.emit = emit
    return examples


def train_model(job: VideoJob, fast: FastSettings, style_paths: list[Path], emit: Callable[[object], None],
                stop: threading.Event | None) -> Model:
    """Scan, paint the keyframes, train: the network for this clip, kept in the work folder (and saved if
    fast.save_model)."""
    chooser = scan(job, fast, emit, stop)
    if not chooser.keyframes:
        raise InputError(f"video '{job.source}': no frame could be decoded in the selection")
    steps = planned_steps(chooser.frames, fast)
    kept = sum(1 for k in chooser.keyframes if job.video.resume and job.checkpoints.has_keyframe(k.index))
    emit(FastPlan(chooser.frames, chooser.shots, tuple((k.index, k.why) for k in chooser.keyframes), steps,
                  len(chooser.pool), kept=kept))
    keys = paint_keyframes(job, chooser.keyframes, emit)
    pool = [Example(bgr_to_tensor(pixels, job.device)) for pixels in chooser.pool]
    network = fresh_network(fast, job.device)
    assert job.sequence is not None
    trainer = Trainer(network, job.sequence.stylizer, keys, pool, fast, grey=job.settings.preserve_colors,
                      loss=job.settings.loss)
    reports = trainer.train(steps, emit, stop)
    model = Model(network, job.settings.preserve_colors, job.size, tuple(p.name for p in style_paths), steps)
    network_file = save_model(model, job.checkpoints.network, overwrite=True)  # first: --resume starts from it
    saved = None if fast.save_model is None else copy_model(network_file, fast.save_model, job.video.overwrite)
    emit(TrainingDone(steps, reports[-1].seconds if reports else 0.0, reports[-1].loss if reports else math.nan,
                      saved))
    return model


def kept_model(job: VideoJob, fast: FastSettings, emit: Callable[[object], None]) -> Model:
    """The network a resumed run's work folder holds (the interrupted run trained it), also written to
    fast.save_model where the interrupted run did not get to it."""
    path = job.checkpoints.network
    try:
        model = load_model(path)
    except ModelError as error:
        raise OutputError(f"{error}; remove the work folder '{job.checkpoints.folder}' to start again") from None
    saved = None
    if fast.save_model is not None:
        saved = Path(fast.save_model) if same_bytes(fast.save_model, path) else copy_model(path, fast.save_model,
                                                                                           job.video.overwrite)
    emit(FastPlan(job.total or 0, 0, (), model.steps, 0, path, trained_before=True, saved=saved))
    return model


def reused_model(job: VideoJob, fast: FastSettings, style_paths: list[Path], emit: Callable[[object], None],
                 model: Model | None = None) -> Model:
    """The network of --model (`model`: loaded already), with a warning where it was trained for other frames or
    styles."""
    assert fast.model is not None
    model = model or load_model(fast.model)
    emit(FastPlan(job.total or 0, 0, (), 0, 0, Path(fast.model)))
    for warning in mismatch_warnings(model, job.size, tuple(p.name for p in style_paths)):
        emit(StylizeWarning(warning))
    return model


def prepare(job: VideoJob, fast: FastSettings, style_paths: list[Path], emit: Callable[[object], None],
            stop: threading.Event | None, reused: Model | None = None) -> NetworkSequence:
    """The sequence that paints this run's frames with the fast painter: trained now, or --model's (`reused`: its
    file loaded already)."""
    if fast.model is not None:
        model = reused_model(job, fast, style_paths, emit, reused)
    elif job.video.resume and job.checkpoints.network.is_file():
        model = kept_model(job, fast, emit)
    else:
        model = train_model(job, fast, style_paths, emit, stop)
    return NetworkSequence(model.network, job.device, preserve_colors=model.preserve_colors or
                           job.settings.preserve_colors, blend=fast.blend, emit=emit)
