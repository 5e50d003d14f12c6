"""pipeline.scaleout.plan: how a video is split into segments for workers, and what a split costs on paper."""

from __future__ import annotations

from pipeline.scaleout.plan import Segment, network_plan, plan, shots, simulate


def covered(segments: list[Segment]) -> list[int]:
    return sorted(i for s in segments for i in range(s.start, s.stop))


def test_shots_are_the_spans_between_cuts():
    assert shots(10, [4, 7]) == [(0, 4), (4, 7), (7, 10)]
    assert shots(10, [0, 10, 4]) == [(0, 4), (4, 10)]  # a cut at either end is no cut
    assert shots(5, []) == [(0, 5)]


def test_short_shots_are_one_segment_each_and_start_afresh():
    segments = plan(10, [4, 7], chunk=100)
    assert sorted(segments, key=lambda s: s.start) == [Segment(0, 4, 0), Segment(4, 7, 4), Segment(7, 10, 7)]
    assert segments[0] == Segment(0, 4, 0)  # the longest first


def test_a_long_shot_is_split_into_equal_pieces_between_keyframes_stylized_along_the_shot():
    segments = plan(25, [], chunk=10)
    keyframes = [s for s in segments if s.key]
    # The shot's first frame afresh, then each keyframe from the one before: one texture carried through the shot.
    assert keyframes == [Segment(0, 1, 0, key=True), Segment(8, 9, 0, 0, key=True), Segment(17, 18, 0, 8, key=True)]
    assert segments[:3] == keyframes  # keyframes first, in the order they need each other
    pieces = sorted(segments[3:], key=lambda s: s.start)
    assert pieces == [Segment(1, 8, 0, 0, 8), Segment(9, 17, 0, 8, 17), Segment(18, 25, 0, 17, None)]
    assert covered(segments) == list(range(25))  # every frame once


def test_a_resumed_run_stylizes_only_what_is_missing_between_the_frames_it_has():
    done = {0, 1, 2, 3, 10, 11}
    segments = plan(20, [15], chunk=100, done=done)
    assert sorted(segments, key=lambda s: s.start) == [Segment(4, 10, 0, 3, 10), Segment(12, 15, 0, 11, None),
                                                       Segment(15, 20, 15)]
    assert covered(segments) == sorted(set(range(20)) - done)
    assert plan(20, [15], chunk=100, done=range(20)) == []
    # Split too: its keyframes start from the frame it has, not afresh.
    split = plan(30, [], chunk=10, done={0, 1})
    assert [s for s in split if s.key] == [Segment(11, 12, 0, 1, key=True), Segment(21, 22, 0, 11, key=True)]
    assert covered(split) == list(range(2, 30))


def test_the_fast_painter_s_pieces_need_no_keyframe_and_lead_in_from_up_to_30_frames_back():
    segments = network_plan(60, [45], chunk=10, lead=30)
    assert [s for s in segments if s.key] == []
    assert sorted(segments, key=lambda s: s.start) == [
        Segment(0, 9, 0), Segment(9, 18, 0, lead=9), Segment(18, 27, 0, lead=18), Segment(27, 36, 0, lead=27),
        Segment(36, 45, 0, lead=30), Segment(45, 53, 45), Segment(53, 60, 45, lead=8)]
    assert covered(segments) == list(range(60))
    # Resumed: a run of missing frames continues exactly from the painted frame before it.
    resumed = network_plan(20, [], chunk=100, lead=30, done={0, 1, 2})
    assert resumed == [Segment(3, 20, 0, 2)]


def test_a_piece_never_starts_at_a_repeated_picture():
    # A repeat's stylized frame is the one before's: a keyframe there would have no picture of its own.
    segments = plan(20, [], chunk=10, repeats={10, 11})
    assert [s.start for s in segments if s.key] == [0, 12]
    assert covered(segments) == list(range(20))


def test_the_schedule_of_one_worker_is_the_whole_work_and_more_workers_share_it():
    segments = plan(100, [50], chunk=1000)
    one = simulate(segments, 1, first_seconds=4.0, warm_seconds=1.0, unsplit_work=2 * 4.0 + 98 * 1.0)
    assert one.makespan == one.ideal == 106.0 and one.efficiency == 1.0
    two = simulate(segments, 2, 4.0, 1.0, 106.0)
    assert two.makespan == 53.0 and two.efficiency == 1.0
    # Four workers and two shots: two of them idle, unless the shots are split. Each split costs a keyframe and its
    # walk from the keyframe before, one after the other along the shot, so the ideal is far off, but the makespan
    # is a fifth shorter.
    unsplit = simulate(segments, 4, 4.0, 1.0, 106.0)
    assert unsplit.efficiency == 0.5
    split = simulate(plan(100, [50], chunk=13), 4, 4.0, 1.0, 106.0)
    assert split.ideal < split.makespan < 0.82 * unsplit.makespan


def test_a_keyframe_costs_its_walk_from_the_keyframe_before():
    # One shot of 24 frames in two pieces: keyframe 0 afresh, keyframe 12 carried through frames 1-11 first.
    segments = plan(24, [], chunk=12)
    assert [(s.start, s.after) for s in segments if s.key] == [(0, None), (12, 0)]
    free = simulate(segments, 2, 4.0, 1.0, 27.0, key_seconds=2.0, walk_seconds=0.0)
    walked = simulate(segments, 2, 4.0, 1.0, 27.0, key_seconds=2.0, walk_seconds=0.5)
    # Keyframe 12 ends at 4 + 2 (+ 11 x 0.5), then its piece of 11 frames follows on the free worker.
    assert free.makespan == 4.0 + 2.0 + 11.0
    assert walked.makespan == 4.0 + 2.0 + 5.5 + 11.0
