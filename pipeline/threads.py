"""Threads joined by bounded queues: a worker that keeps its exception for the caller's thread, and put/get that
notice when the thread on the other end has died or the run was aborted, instead of blocking forever."""

from __future__ import annotations

import queue
import threading
from typing import Callable

POLL_S = 0.1  # how often a thread blocked on a queue looks whether the others failed or stopped


class Aborted(Exception):
    """Another thread failed or the run stopped: leave quietly (the real cause is raised elsewhere)."""


class Worker(threading.Thread):
    """A daemon thread that keeps its exception for the caller's thread to raise."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._work, self.error = target, None

    def run(self) -> None:
        try:
            self._work()
        except Aborted:
            pass
        except BaseException as error:  # handed to the caller's thread, which raises it
            self.error = error


def put(q: queue.Queue, item: object, abort: threading.Event, consumer: Worker | None = None) -> None:
    """Put into a bounded queue, giving up if the run aborts or the consumer died (raising its error)."""
    while True:
        if consumer is not None and not consumer.is_alive():
            raise consumer.error or RuntimeError(f"the {consumer.name} thread stopped unexpectedly")
        if abort.is_set():
            raise Aborted()
        try:
            q.put(item, timeout=POLL_S)
            return
        except queue.Full:
            continue


def get(q: queue.Queue, producer: Worker) -> object:
    """Get from a queue; if it stays empty and the producer died, raise the producer's error."""
    while True:
        try:
            return q.get(timeout=POLL_S)
        except queue.Empty:
            if not producer.is_alive() and q.empty():
                raise producer.error or RuntimeError(f"the {producer.name} thread stopped unexpectedly")
