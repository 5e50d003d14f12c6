"""Test doubles shared by the test modules: stand-in stylizers passed to the runs' `stylizer` seam, and an event
filter."""

from __future__ import annotations

import time


def of(events: list[object], kind: type) -> list:
    """The events of one kind, in order."""
    return [e for e in events if isinstance(e, kind)]


class IdentityStylizer:
    """Stands in for the Stylizer where a test checks which frames arrive, not how they are painted."""

    def __init__(self, styles, settings, device) -> None:
        self.device = device

    def set_color_reference(self, content) -> None:
        pass

    def objective(self, content, extra=None, targets_size=None, weights=None):
        return lambda image: (image**2).mean()

    def stylize(self, content, **kwargs):
        return content


class MixingStylizer(IdentityStylizer):
    """Stylizes in no time, yet each frame depends on the one before, as a warm start does: the content mirrored,
    mixed half and half with the start it is given. delay: seconds a frame takes; a frame brighter than
    `fail_above` (mean in [0, 1]) raises InputError, as a frame that cannot be stylized would. Picklable by reference
    (with functools.partial for its options), so Ray workers can make it."""

    def __init__(self, styles, settings, device, delay: float = 0.0, fail_above: float | None = None) -> None:
        super().__init__(styles, settings, device)
        self.delay, self.fail_above = delay, fail_above

    def stylize(self, content, init=None, **kwargs):
        if self.fail_above is not None and float(content.mean()) > self.fail_above:
            from pipeline.errors import InputError

            raise InputError("this frame is too bright for the test's stylizer")
        if self.delay:
            time.sleep(self.delay)
        return content.flip(3) if init is None else 0.5 * content.flip(3) + 0.5 * init
