"""The driver of a video stylized across Ray workers: the middle of a video run (video.py), between its checks and
its audio mux, run on many workers instead of in this process.

1. Ray starts (or is joined), and the workers start loading VGG19 while this process decodes the video once at the
   processing size: it finds the scene cuts exactly as a run in one process does, and puts the frames into Ray's
   object store in blocks (what workers on other machines read: BLOCK frames of width x height x 3 bytes each).
2. plan.plan splits the frames still to stylize into segments: shots, and pieces of long shots with keyframes.
3. Each idle worker gets the next segment whose neighbours are ready (keyframes first, then the longest pieces) and
   streams back its frames one by one. Each is checkpointed in the work folder at once, as a run in one process
   does, and encoded in order by the same writer thread, so nothing is lost when the run stops, and `--resume`
   continues here or in one process.
   In a fast run (--fast) the keyframes are painted and the network trained in this process first (fast/run.py),
   and the workers paint pieces of the video with the network (network_worker.py; plan.network_plan).
4. A worker that dies (its process killed, its machine gone) is replaced and its segment continues on the new one
   from the first frame it had not returned; a worker that raises gives its own exception (InputError, out of
   memory...), not Ray's.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import RaySettings
from ..core.temporal import scene_cut
from ..errors import Interrupted, StylizeError
from ..events import FrameDone, ScaleOutPlan, StylizeWarning, WorkerStarted
from ..fast.painter import NetworkSequence
from ..sequence import Stylized, StylizerFactory
from ..threads import Worker, put
from ..video_job import ReadEnd, VideoJob, frames_at_size, write_frames
from .cluster import Workers, chunk_frames, connected, share
from .network_worker import LEAD_FRAMES, NetworkWorker, network_state
from .plan import Segment, network_plan, plan, shots
from .worker import Done, Said, SegmentWorker

BLOCK = 16  # frames per object in Ray's object store
RETRIES = 2  # a segment whose worker dies a third time stops the run: it is the segment, not the machine
WAIT_S = 0.2  # how often the loop looks at `stop` while every worker is busy


@dataclass
class Scan:
    """The decoded video: frame blocks in the object store, where the shots after the first start, the repeated
    pictures, the frame count and how the reader's pass ended."""

    blocks: list = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    repeats: set[int] = field(default_factory=set)
    frames: int = 0
    end: ReadEnd | None = None


def scan(job: VideoJob, ray) -> Scan:
    """Decode the selection once (video_job.frames_at_size), find its cuts as sequence.analyse_frame does, and put
    its frames into the object store in blocks."""
    found, block, previous = Scan(), [], None
    for index, pixels, repeat in frames_at_size(job):
        if repeat and previous is not None:
            found.repeats.add(index)
        elif previous is not None and job.video.detect_cuts and scene_cut(previous, pixels):
            found.cuts.append(index)
        block.append(pixels)
        if len(block) == BLOCK:
            found.blocks.append(ray.put(np.stack(block)))
            block = []
        previous = pixels
        found.frames = index + 1
    if block:
        found.blocks.append(ray.put(np.stack(block)))
    found.end = job.end()
    return found


@dataclass
class _Running:
    """A segment on a worker; `next` is the first of its frames not yet returned."""

    worker: str
    segment: Segment
    next: int


class _Pool:
    """The workers: Ray actors of SegmentWorker, made and replaced here."""

    def __init__(self, ray, shape: Workers, worker: type, arguments: tuple, emit: Callable[[object], None]) -> None:
        self.ray, self.shape, self.arguments, self.emit = ray, shape, arguments, emit
        self.actor_class = ray.remote(worker)
        self.actors: dict[str, object] = {}
        self.made = 0

    def start(self) -> list[str]:
        return [self.add() for _ in range(self.shape.count)]

    def add(self) -> str:
        """A new worker (its VGG19 loads in its own process meanwhile); returns its name."""
        self.made += 1
        name = f"w{self.made}"
        options = {"num_cpus": self.shape.cpus, "num_gpus": self.shape.gpus, "max_restarts": 0}
        self.actors[name] = self.actor_class.options(**options).remote(*self.arguments)
        return name

    def announce(self, names: list[str]) -> None:
        """Wait for the workers to be ready and say where they are (their loading errors come out here)."""
        for name, (host, pid, device) in zip(names, self.ray.get([self.actors[n].describe.remote() for n in names])):
            self.emit(WorkerStarted(name, host, pid, device))

    def stop(self) -> None:
        for actor in self.actors.values():
            self.ray.kill(actor)


def _unwrapped(error: BaseException) -> BaseException:
    """A worker's own exception, without Ray's wrapping: read attributes (StylizeError.kept) from it, not the wrapper."""
    return getattr(error, "cause", None) or error


class _Driver:
    """Hands segments to workers and takes their frames; see the module docstring."""

    def __init__(self, ray, job: VideoJob, found: Scan, segments: list[Segment], pool: _Pool,
                 writer_inbox: queue.Queue, writer: Worker, emit: Callable[[object], None],
                 stop: threading.Event | None) -> None:
        self.ray, self.job, self.found, self.pool = ray, job, found, pool
        self.inbox, self.writer, self.emit, self.stop = writer_inbox, writer, emit, stop
        self.todo = deque(segments)
        self.done = job.checkpoints.done()
        self.encoded = 0  # frames handed to the writer, in order
        self.idle = list(pool.actors)
        self.running: dict[object, _Running] = {}
        self.deaths: dict[tuple[int, int], int] = {}
        self.never = threading.Event()

    def run(self) -> None:
        self._encode_ready()
        while self.todo or self.running:
            if self.stop is not None and self.stop.is_set():
                raise Interrupted("stopped by request")
            self._assign()
            if not self.running:  # a plan always has a segment ready: keyframes need nothing, or frames done
                raise RuntimeError(f"no segment of {len(self.todo)} can start (a bug in the plan)")
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=WAIT_S)
            for stream in ready:
                self._take(stream)

    def _assign(self) -> None:
        while self.idle:
            segment = next((s for s in self.todo if all(n in self.done for n in s.needs)), None)
            if segment is None:
                return
            self.todo.remove(segment)
            self._send(self.idle.pop(0), segment)

    def _send(self, name: str, segment: Segment) -> None:
        found, checkpoints, size = self.found, self.job.checkpoints, self.job.size
        first_needed = segment.start - segment.lead
        if segment.lead:  # and the input frame before the first painted, for the flow of the blend
            first_needed = max(segment.shot, first_needed - 1)
        if segment.after is not None:
            first_needed = min(segment.after, first_needed)
        wanted = {segment.shot, *range(first_needed, segment.stop), *segment.needs}
        first, last = min(wanted) // BLOCK, max(wanted) // BLOCK
        previous = None
        if segment.after is not None:
            previous = Stylized(segment.after, checkpoints.load(segment.after, size), math.nan,
                                checkpoints.load_step_scale(segment.after))
        anchor = None if segment.before is None else checkpoints.load(segment.before, size)
        repeats = frozenset(i for i in found.repeats if segment.start <= i < segment.stop)
        stream = self.pool.actors[name].stylize_blocks.remote(segment, first * BLOCK, sorted(wanted), repeats,
                                                               previous, anchor, *found.blocks[first:last + 1])
        self.running[stream] = _Running(name, segment, segment.start)

    def _take(self, stream) -> None:
        running = self.running[stream]
        try:
            record = self.ray.get(next(stream))
        except StopIteration:
            del self.running[stream]
            self.idle.append(running.worker)
            return
        except self.ray.exceptions.RayActorError:
            del self.running[stream]
            self._replace(running)
            return
        except self.ray.exceptions.RayTaskError as error:
            raise _unwrapped(error) from None
        if isinstance(record, Said):
            self.emit(StylizeWarning(f"worker {running.worker}: {record.message}"))
            return
        assert isinstance(record, Done)
        self._keep(record, running.worker)
        running.next = record.frame.index + 1

    def _keep(self, record: Done, worker: str) -> None:
        frame = record.frame
        self.job.checkpoints.save(frame.index, frame.pixels, frame.step_scale)
        self.done.add(frame.index)
        total = None if self.job.total is None else max(self.job.total, self.found.frames)
        self.emit(FrameDone(frame.index, total, frame.loss, record.seconds, len(self.done), worker))
        self._encode_ready()

    def _encode_ready(self) -> None:
        while self.encoded < self.found.frames and self.encoded in self.done:
            put(self.inbox, (self.encoded, None, None), self.never, self.writer)
            self.encoded += 1

    def _replace(self, running: _Running) -> None:
        """A worker died: a new one takes over its segment from the first frame it had not returned."""
        segment = running.segment
        key = (segment.start, segment.stop)
        self.deaths[key] = self.deaths.get(key, 0) + 1
        if self.deaths[key] > RETRIES:
            raise StylizeError(f"the worker stylizing frames {segment.start}-{segment.stop - 1} died "
                               f"{self.deaths[key]} times; stopped (out of memory on its machine?)")
        self.pool.actors.pop(running.worker, None)
        rest = segment if running.next == segment.start else \
            Segment(running.next, segment.stop, segment.shot, running.next - 1, segment.before)
        self.todo.appendleft(rest)
        replacement = self.pool.add()
        self.pool.announce([replacement])
        self.idle.append(replacement)

    def cancel(self) -> None:
        for stream in self.running:
            self.ray.cancel(stream)


def stylize_on_ray(job: VideoJob, video_path: Path, settings: RaySettings, device: str,
                   stylizer: StylizerFactory | None, emit: Callable[[object], None],
                   stop: threading.Event | None, painter: NetworkSequence | None = None) -> tuple[ReadEnd, int]:
    """Stylize every frame of `job` not yet in its work folder on Ray workers, checkpoint them and encode all of
    them in order into `video_path`. painter: a fast run's (pipeline/fast/, trained in this process): the workers
    paint with its network (network_worker.py), None: they stylize with the optimizer. Returns (how the reading
    ended, frames encoded)."""
    with connected(settings) as (ray, cluster):
        if painter is None:
            shape = share(cluster, replace(settings, threads=job.settings.threads), device)  # what the manifest says
            pool = _Pool(ray, shape, SegmentWorker, (job.styles, job.settings, job.video, settings.seam_frames,
                                                     shape.threads, "auto" if shape.gpus else "cpu", job.init_image,
                                                     stylizer), emit)
        else:  # the manifest's threads are this process's, which painted the keyframes and trained the network
            shape = share(cluster, settings, device)
            pool = _Pool(ray, shape, NetworkWorker, (network_state(painter.network), painter.preserve_colors,
                                                     painter.blend, job.video, shape.threads,
                                                     "auto" if shape.gpus else "cpu"), emit)
        try:
            names = pool.start()
            began = time.monotonic()
            found = scan(job, ray)
            chunk = chunk_frames(settings.chunk_seconds, float(job.reader.info.fps))
            done = job.checkpoints.done()
            segments = (plan(found.frames, found.cuts, chunk, done, found.repeats) if painter is None else
                        network_plan(found.frames, found.cuts, chunk, LEAD_FRAMES, done, found.repeats))
            keyframes = sum(1 for s in segments if s.key)
            emit(ScaleOutPlan(cluster.where, shape.count, shape.count * shape.gpus, shape.threads,
                              sum(s.frames for s in segments), len(shots(found.frames, found.cuts)),
                              len(segments) - keyframes, keyframes, chunk, cluster.started_in,
                              time.monotonic() - began))
            pool.announce(names)
            return _drive(ray, job, found, segments, pool, video_path, emit, stop)
        finally:
            pool.stop()


def _drive(ray, job: VideoJob, found: Scan, segments: list[Segment], pool: _Pool, video_path: Path,
           emit: Callable[[object], None], stop: threading.Event | None) -> tuple[ReadEnd, int]:
    """Run the segments with the writer thread beside; the writer is stopped and joined whatever happens."""
    abort = threading.Event()
    inbox: queue.Queue = queue.Queue(maxsize=job.video.queue_size)
    writer = Worker("writer", lambda: write_frames(job, inbox, abort, video_path))
    writer.start()
    driver = _Driver(ray, job, found, segments, pool, inbox, writer, emit, stop)
    try:
        driver.run()
        put(inbox, None, threading.Event(), writer)
        writer.join()
        if writer.error is not None:
            raise writer.error
        assert found.end is not None
        return found.end, driver.encoded
    finally:
        driver.cancel()
        abort.set()
        writer.join(120.0)
