"""Test doubles shared by the test modules: stand-in stylizers passed to the runs' `stylizer` seam, and an event
filter."""

from __future__ import annotations


def of(events: list[object], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


class IdentityStylizer:
    """Stands in for the Stylizer where a test checks which frames arrive, not how they are painted."""

    def __init__(self, styles, settings, device) -> None:
        self.device = device

    def set_color_reference(self, content) -> None:
        pass

    def objective(self, content):
        return lambda image: (image**2).mean()

    def stylize(self, content, **kwargs):
        return content
