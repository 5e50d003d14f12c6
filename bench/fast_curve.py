"""How the fast painter's quality grows with its training: the style loss of its frames against training seconds.

Run as `python bench/fast_curve.py` (one process, alone on the machine; torch and OpenCV at --threads). On the first
--frames frames of the shared bikes clip at --size 256 with Starry Night, one run of the default path and one
`--fast` run trained for --steps steps (FastSettings' min_steps = max_steps = --steps; everything else default).
At each step of --at, the training is paused and its network paints --samples frames spread evenly over the clip,
each on its own (no blend with the frame before, which bench/fast.py measures); their style terms (the Stylizer's,
float32, against the painting at the frame's size, as bench/fast.py) are set against the default path's mean.
The seconds are the training's alone (the pauses are not counted). The learning rate follows the cosine of the
whole --steps, so an early point is a little behind a run planned that long.

Answers "what would it take": the training time at which the frames come within 1.5x of the default path's style
(issue 25's goal), or how far they are at the end. bench/out/fast_curve_sheet.png: one frame at each point.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import cv2
import numpy as np
import torch
from fast import STYLE, read_inputs, run, style_losses
from outputs import OUT

import pipeline.fast.run as fast_run
from pipeline.config import FastSettings, OptimSettings, StyleSettings
from pipeline.core.stylizer import Stylizer
from pipeline.fast.training import Trainer
from pipeline.media.frames import bgr_to_tensor, load_image, tensor_to_bgr

SHEET_FRAME = 60


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--at", default="100,200,400,800,1200,1600,2000,2400", help="steps at which to measure")
    p.add_argument("--samples", type=int, default=20, help="frames painted at each point, spread over the clip")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    cv2.setNumThreads(ns.threads)
    settings = StyleSettings(size=ns.size, threads=ns.threads)
    inputs = read_inputs(ns.size)[:ns.frames]
    picks = np.linspace(0, len(inputs) - 1, ns.samples).round().astype(int)
    sheet_frame = min(SHEET_FRAME, len(inputs) - 1)
    judge = Stylizer([(load_image(STYLE), 1.0)], replace(settings, optim=OptimSettings(amp=False)),
                     torch.device("cpu"))
    at = {int(s) for s in ns.at.split(",")}
    print(f"{len(inputs)} frames at {inputs[0].shape[1]}x{inputs[0].shape[0]}, {ns.threads} threads; "
          f"{ns.steps} steps, measured at {sorted(at)}", flush=True)

    default = run("default", settings, None, ns.frames)
    base = float(style_losses(judge, default.frames).mean())
    print(f"default path: style mean {base:.4f}", flush=True)

    points: list[dict] = []
    cells: list[np.ndarray] = []

    class Measured(Trainer):
        """The pipeline's Trainer, paused at the steps of --at to paint the sample frames."""

        trained = 0.0

        def step(self, step: int, steps: int) -> float:
            began = time.monotonic()
            loss = super().step(step, steps)
            Measured.trained += time.monotonic() - began
            if step + 1 in at:
                self.network.eval()
                with torch.inference_mode():
                    painted = {int(i): tensor_to_bgr(self.network(bgr_to_tensor(inputs[i]))) for i in
                               sorted({*picks.tolist(), sheet_frame})}
                self.network.train()
                style = style_losses(judge, [painted[int(i)] for i in picks])
                points.append({"step": step + 1, "seconds": round(Measured.trained, 1), "loss": loss,
                               "style_mean": float(style.mean()), "style_max": float(style.max()),
                               "ratio": float(style.mean() / base), "worst_ratio": float(style.max() / base)})
                cells.append(painted[sheet_frame])
                print(f"  step {step + 1:>5}: {Measured.trained:7.1f} s training, loss {loss:.3f}, style mean "
                      f"{style.mean():.4f} ({style.mean() / base:.2f}x default), worst {style.max() / base:.2f}x",
                      flush=True)
            return loss

    fast_run.Trainer = Measured  # the run's own keyframes and training, measured as it goes
    fast = run("fast", settings, FastSettings(min_steps=ns.steps, max_steps=ns.steps), ns.frames)
    final = style_losses(judge, fast.frames)
    print(f"fast run ({ns.steps} steps, blend {FastSettings().blend:g}): style mean {final.mean():.4f} "
          f"({final.mean() / base:.2f}x default), worst {final.max() / base:.2f}x; wall {fast.wall:.0f} s against "
          f"the default path's {default.wall:.0f} s")
    reached = next((q for q in points if q["worst_ratio"] <= 1.5), None)
    print("every sampled frame within 1.5x of the default path's mean: " +
          (f"at step {reached['step']} ({reached['seconds']:.0f} s of training)" if reached else
           f"not within {ns.steps} steps"))
    labelled = []
    names = ["input", "default path"] + [f"{q['step']} steps" for q in points]
    for cell, text in zip([inputs[sheet_frame], default.frames[sheet_frame], *cells], names):
        cell = cell.copy()
        cv2.putText(cell, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        labelled.append(np.pad(cell, ((2, 2), (2, 2), (0, 0))))
    rows = [cv2.hconcat(labelled[i:i + 2] + [np.zeros_like(labelled[0])] * (2 - len(labelled[i:i + 2])))
            for i in range(0, len(labelled), 2)]
    cv2.imwrite(str(OUT / "fast_curve_sheet.png"), cv2.vconcat(rows))
    (OUT / "fast_curve.json").write_text(json.dumps({"default_style": base, "default_wall": default.wall,
                                                     "fast_wall": fast.wall, "points": points,
                                                     "final_style": float(final.mean())}, indent=1))
    print(f"sheet: {OUT / 'fast_curve_sheet.png'}")


if __name__ == "__main__":
    main()
