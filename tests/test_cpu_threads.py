"""The thread count of the network and OpenCV: the CPUs other programs leave free, OMP_NUM_THREADS, --threads."""

from __future__ import annotations

import cv2
import pytest
import torch

from pipeline.core import cpu_threads
from pipeline.core.cpu_threads import automatic_threads, busy_cpus, default_threads, use_threads


@pytest.mark.parametrize("usable, machine, load, ceiling, reserved, expected", [
    (2, 2, 0.1, 2, 0, 2),  # an idle 2-core laptop: both
    (2, 2, 0.5, 2, 0, 1),  # a core half busy: to the side of fewer threads
    (2, 2, 1.2, 2, 0, 1),  # a browser or an IDE holding a core: the other one
    (2, 2, 5.5, 2, 0, 1),  # however busy, at least one
    (8, 8, 3.0, 8, 0, 5),
    (8, 8, 0.0, 4, 0, 4),  # never more than torch's own choice (physical cores)
    (2, 64, 32.0, 2, 0, 1),  # a container's 2 CPUs on a half-busy 64-CPU host: the load is the host's, spread
    (2, 64, 10.0, 2, 0, 2),
    (4, 4, 0.0, 4, 1, 3),  # live mode keeps one for its capture thread, its encoder and its window
    (2, 2, 0.0, 2, 1, 1),
    (1, 1, 0.0, 1, 1, 1),
])
def test_the_automatic_count_is_the_cpus_left_free(usable, machine, load, ceiling, reserved, expected):
    assert automatic_threads(usable, machine, load, ceiling, reserved) == expected


def test_busy_cpus_rounds_the_load_share_half_up():
    assert [busy_cpus(load, 2, 2) for load in (0.0, 0.49, 0.5, 1.49, 1.5)] == [0, 0, 1, 1, 2]


def test_omp_num_threads_is_the_users_choice(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == default_threads(reserved=1) == 3
    monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    monkeypatch.setattr(cpu_threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(cpu_threads.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(cpu_threads, "TORCH_DEFAULT", 4)
    for unset in ("", "0", "many"):  # not a count: the machine decides
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert default_threads() == 3 and default_threads(reserved=1) == 2


def test_use_threads_sets_torch_and_opencv_and_says_what_it_set(monkeypatch):
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        assert use_threads(2) == 2 and torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert use_threads(None) == 1 and torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
