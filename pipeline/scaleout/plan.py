"""Splitting a video into segments that workers stylize side by side, and what that costs on paper. Torch-free.
(A video painted by the fast painter's network is split more simply: network_plan.)

Shots (between scene cuts) are independent: a shot stylized by a worker on its own gives the same frames as in one
process. A shot longer than a chunk is split into pieces of about equal length, with a keyframe where each piece
starts. The keyframes are stylized first, one after the other along the shot: the shot's first frame afresh, each
later one warm-started from the keyframe before, moved along the motion between them (segment.py), so that they
carry one texture through the shot. Then every piece, side by side, continues from its keyframe and its last frames
are pulled towards the next one: the pieces meet without a jump. Frames already in the work folder (a resumed run)
are not stylized again: a segment continues from the stylized frame before it and is pulled towards the one after
it, whoever made them.

Frame indices are 0-based positions in the video's selection.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Segment:
    """Frames start..stop-1 of the shot that starts at `shot`, stylized in order by one worker.

    after: a frame stylized already that the segment continues from: the one before `start`, or for a keyframe the
    keyframe before it, further back (None: `start` is stylized afresh, as a shot's first frame). before: the frame
    at `stop`, stylized already (or first, as a keyframe), that the segment's last frames are pulled towards (None:
    the shot ends, or nothing waits there). key: a keyframe, a one-frame segment the pieces of its shot wait for.
    lead: frames before `start` that the worker paints first and does not return (the fast painter's: network_plan)."""

    start: int
    stop: int
    shot: int
    after: int | None = None
    before: int | None = None
    key: bool = False
    lead: int = 0

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def needs(self) -> tuple[int, ...]:
        """The stylized frames it cannot start without."""
        return tuple(index for index in (self.after, self.before) if index is not None)


def shots(frames: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """(start, stop) of each shot of a `frames`-frame video whose shots after the first start at `cuts`."""
    starts = sorted({0, *(cut for cut in cuts if 0 < cut < frames)})
    return [(start, stop) for start, stop in zip(starts, [*starts[1:], frames])]


def _missing_runs(start: int, stop: int, done: set[int]) -> list[tuple[int, int]]:
    """The maximal runs of frames in start..stop-1 that are not in `done`."""
    runs, run = [], None
    for index in range(start, stop):
        if index in done:
            if run is not None:
                runs.append((run, index))
                run = None
        elif run is None:
            run = index
    if run is not None:
        runs.append((run, stop))
    return runs


def _boundaries(start: int, stop: int, chunk: int, repeats: set[int]) -> list[int]:
    """Where a run of frames is split into pieces of at most about `chunk` frames, of equal length: never at a
    repeated picture (its stylized frame is the one before's), nor at the run's own ends."""
    pieces = math.ceil((stop - start) / chunk)
    found = []
    for k in range(1, pieces):
        at = start + round(k * (stop - start) / pieces)
        while at < stop and at in repeats:
            at += 1
        if start < at < stop and (not found or at > found[-1]):
            found.append(at)
    return found


def _split(start: int, stop: int, shot: int, after: int | None, before: int | None,
           edges: list[int]) -> tuple[list[Segment], list[Segment]]:
    """(keyframes in the order they are stylized, pieces) of the run start..stop-1 split at `edges` (inner ones)."""
    keyframes, pieces = [], []
    if after is None:  # the shot's first frame, afresh: the first keyframe
        keyframes.append(Segment(start, start + 1, shot, key=True))
        after, start = start, start + 1
    previous = after
    for edge in edges:
        keyframes.append(Segment(edge, edge + 1, shot, previous, key=True))
        previous = edge
    for first, end, before_it in zip([start, *(e + 1 for e in edges)], [*edges, stop], [*edges, before]):
        if end > first:
            pieces.append(Segment(first, end, shot, first - 1, before_it))
    return keyframes, pieces


def plan(frames: int, cuts: Iterable[int], chunk: int, done: Iterable[int] = (),
         repeats: Iterable[int] = ()) -> list[Segment]:
    """The segments that stylize every frame of a `frames`-frame video not in `done`: keyframes first (in the order
    they depend on each other), then the pieces, longest first (so unequal shots balance across workers). chunk:
    the most frames of one shot a piece gets (>= 1)."""
    done_set, repeat_set = set(done), set(repeats)
    keyframes, pieces = [], []
    for shot_start, shot_stop in shots(frames, cuts):
        for start, stop in _missing_runs(shot_start, shot_stop, done_set):
            after = start - 1 if start > shot_start else None
            before = stop if stop < shot_stop else None
            edges = _boundaries(start, stop, max(1, chunk), repeat_set)
            if not edges:
                pieces.append(Segment(start, stop, shot_start, after, before))
                continue
            run_keys, run_pieces = _split(start, stop, shot_start, after, before, edges)
            keyframes += run_keys
            pieces += run_pieces
    pieces.sort(key=lambda segment: (-segment.frames, segment.start))
    return keyframes + pieces


def network_plan(frames: int, cuts: Iterable[int], chunk: int, lead: int, done: Iterable[int] = (),
                 repeats: Iterable[int] = ()) -> list[Segment]:
    """The segments of a video painted by the fast painter's network (pipeline/fast/): each frame is one forward
    pass, blended with the painted frame before (fast/painter.py), so a piece needs no keyframe. A piece that
    continues after a painted frame (a resumed run's) starts from it (`after`), exactly; one that starts in the
    middle of a shot first paints the `lead` frames before it (or as many as the shot has), so that the blend's
    memory, which fades geometrically, has nearly the same past as in one process. Longest first, as plan()."""
    done_set, repeat_set = set(done), set(repeats)
    pieces = []
    for shot_start, shot_stop in shots(frames, cuts):
        for start, stop in _missing_runs(shot_start, shot_stop, done_set):
            edges = _boundaries(start, stop, max(1, chunk), repeat_set)
            for first, end in zip([start, *edges], [*edges, stop]):
                if first == start and first > shot_start:  # after a painted frame
                    pieces.append(Segment(first, end, shot_start, first - 1))
                else:
                    pieces.append(Segment(first, end, shot_start, lead=min(lead, first - shot_start)))
    pieces.sort(key=lambda segment: (-segment.frames, segment.start))
    return pieces


@dataclass(frozen=True)
class Schedule:
    """Seconds a plan takes on `workers` identical workers (longest first, each piece on the first free worker, after
    its keyframes), against the ideal: all the work shared out evenly, with no keyframes."""

    workers: int
    makespan: float
    ideal: float

    @property
    def efficiency(self) -> float:
        return self.ideal / self.makespan if self.makespan > 0 else 1.0


def simulate(segments: Sequence[Segment], workers: int, first_seconds: float, warm_seconds: float,
             unsplit_work: float, key_seconds: float | None = None, walk_seconds: float | None = None) -> Schedule:
    """Schedule `segments` on `workers`: a frame stylized afresh costs first_seconds, a warm one warm_seconds, a
    keyframe warm-started from the keyframe before key_seconds (default 2 warm frames: it gets twice the
    iterations) plus walk_seconds for each frame between the two it is carried through (default 0.15 warm frames:
    3 iterations where a warm frame averages about 20). unsplit_work: the seconds of the same video in one process
    (its ideal is that over `workers`)."""
    key_seconds = 2 * warm_seconds if key_seconds is None else key_seconds
    walk_seconds = 0.15 * warm_seconds if walk_seconds is None else walk_seconds
    finish: dict[int, float] = {}  # when each keyframe is stylized
    free = [(0.0, worker) for worker in range(workers)]
    heapq.heapify(free)
    end = 0.0
    for segment in segments:  # keyframes come first, each after the one it needs, so waiting is scheduled right
        at, worker = heapq.heappop(free)
        ready = max([at, *(finish.get(index, 0.0) for index in segment.needs)])
        if segment.after is None:
            cost = first_seconds + warm_seconds * (segment.frames - 1)
        else:
            cost = (key_seconds + walk_seconds * (segment.start - segment.after - 1) if segment.key else
                    warm_seconds) + warm_seconds * (segment.frames - 1)
        done = ready + cost
        if segment.key:
            finish[segment.start] = done
        heapq.heappush(free, (done, worker))
        end = max(end, done)
    return Schedule(workers, end, unsplit_work / workers)
