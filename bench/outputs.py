"""Where the benches write: bench/out/, and a fresh output path in it for a video run."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.checkpoints import work_folder

OUT = Path(__file__).resolve().parent / "out"


def fresh_output(name: str) -> Path:
    """bench/out/<name>, with any earlier file and work folder removed (stylize_video refuses an interrupted run's
    work folder without resume)."""
    OUT.mkdir(parents=True, exist_ok=True)
    output = OUT / name
    output.unlink(missing_ok=True)
    shutil.rmtree(work_folder(output), ignore_errors=True)
    return output
