"""The fast painter live (`--live SOURCE STYLE --fast`): how soon a trained network is shown, the rate and latency
once trained, and the quality of what is shown against the time since the start.

Run as `python bench/live_fast.py` (one process, alone on the machine). The source is the shared bikes clip looped
into one long file (bench/out/bikes_loop.mp4) and played at its own pace (25 fps), at --size 256 with Starry Night,
FastSettings() (fast.min_steps training steps), torch at --threads.

Measured, from the session's own events (each stamped when it arrived):
- seconds from the start (LiveStarted) to the first network shown and to the end of the training (the "trained"
  notice, emitted at the next frame after it);
- shown fps and mean latency (LiveFrame.latency: capture to shown) over the frames after the training;
- the training loss against seconds (the notices every 50 steps), and the style loss of a shown frame every
  --every seconds (the Stylizer's style term against the painting at the frame's size, float32) against seconds;
- bench/out/live_fast_sheet.png: those frames (camera | shown), to be looked at.
Goals (issue 25): >= 15 fps at 256 px with a mean latency <= 150 ms once trained; the first trained network shown
within 2 minutes of the start.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import torch
from outputs import OUT

from pipeline.config import FastSettings, LiveSettings, OptimSettings, StyleSettings
from pipeline.core.losses import style_loss
from pipeline.core.stylizer import Stylizer
from pipeline.events import LiveFrame, LiveNotice, LiveStarted
from pipeline.live import LiveView, live
from pipeline.media.frames import bgr_to_tensor, load_image

SOURCE = Path("/work/shared/data/video/bikes.mp4")
STYLE = Path(__file__).resolve().parent.parent / "samples" / "styles" / "starry_night.jpg"


def looped(seconds: float) -> Path:
    """bikes.mp4 repeated to at least `seconds` (stream copy)."""
    path = OUT / "bikes_loop.mp4"
    loops = int(seconds // 10) + 1
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", str(loops), "-i",
                    str(SOURCE), "-c", "copy", str(path)], check=True)
    return path


class Sampler:
    """A headless display that keeps (seconds, camera, shown) every `every` seconds."""

    def __init__(self, every: float) -> None:
        self.every, self.began, self.samples = every, time.monotonic(), []

    def show(self, view: LiveView) -> str | None:
        now = time.monotonic() - self.began
        if not self.samples or now - self.samples[-1][0] >= self.every:
            self.samples.append((now, view.camera.copy(), view.stylized.copy()))
        return None


@torch.no_grad()
def style_term(judge: Stylizer, bgr: np.ndarray) -> float:
    image = bgr_to_tensor(bgr)
    targets = judge.style_targets((image.shape[2], image.shape[3]))
    feats = judge.vgg(image)
    layers = judge.settings.loss.style_layers
    return float(sum(judge.layer_weights[k] * style_loss(feats[k], targets[k]) for k in layers))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=300.0, help="session length")
    p.add_argument("--every", type=float, default=15.0, help="seconds between sampled frames")
    ns = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    source = looped(ns.seconds + 5)
    stamped: list[tuple[float, object]] = []
    sampler = Sampler(ns.every)
    settings = StyleSettings(threads=ns.threads)
    result = live(str(source), [str(STYLE)], settings, LiveSettings(size=ns.size, max_seconds=ns.seconds),
                  device="cpu", display=sampler, fast=FastSettings(),
                  on_event=lambda event: stamped.append((time.monotonic(), event)))
    start = next(t for t, e in stamped if isinstance(e, LiveStarted))
    notices = [(t - start, e.message) for t, e in stamped if isinstance(e, LiveNotice)]
    for t, message in notices:
        print(f"  {t:7.1f} s  {message}")
    trained = next((t for t, m in notices if m.startswith("fast painter: trained")), None)
    first_net = next((t for t, m in notices if "step 50/" in m), None)
    print(f"\n{result.shown} frames shown in {result.seconds:.1f} s, {result.dropped} dropped")
    if trained is None:
        print("the training did not end within the session: give more --seconds")
        return
    after = [e for t, e in stamped if isinstance(e, LiveFrame) and t - start > trained]
    span = max(1e-9, (stamped[-1][0] - start) - trained)
    fps, latency = len(after) / span, float(np.mean([e.latency for e in after])) if after else float("nan")
    judge = Stylizer([(load_image(STYLE), 1.0)], replace(settings, optim=OptimSettings(amp=False)),
                     torch.device("cpu"))
    print("\nquality of what was shown (s since start: style term; the camera frame's own for comparison):")
    for t, camera, shown in sampler.samples:
        since = t - (start - sampler.began)
        print(f"  {since:7.1f} s: {style_term(judge, shown):.4f} (camera {style_term(judge, camera):.4f})")
    rows = [cv2.hconcat([camera, shown]) for _, camera, shown in sampler.samples[::max(1, len(sampler.samples) // 6)]]
    cv2.imwrite(str(OUT / "live_fast_sheet.png"), cv2.vconcat(rows))
    goals = [("first trained network shown within 120 s", trained <= 120, f"{trained:.0f} s (the first loss "
              f"notice, step 50, at {first_net:.0f} s)" if first_net else f"{trained:.0f} s"),
             (">= 15 fps shown once trained", fps >= 15, f"{fps:.1f} fps over {span:.0f} s"),
             ("mean latency <= 150 ms once trained", latency <= 0.15, f"{latency * 1000:.0f} ms")]
    print("\ngoals:")
    for text, ok, value in goals:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}: {value}")
    print(f"\ncontact sheet: {OUT / 'live_fast_sheet.png'}")


if __name__ == "__main__":
    main()
