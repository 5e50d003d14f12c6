"""The fast painter's training settings at an equal time budget: which crop size and batch learn most in 5 minutes.

Run as `python bench/fast_budget.py` (one process, alone on the machine), after `python bench/fast.py --frames 100`
(or bench/fast_curve.py), whose work folders it reads: the keyframes the optimizer painted (key-NNNNNN.png in
--keys) and the default path's frames (the yardstick, bench/out/.fast_default.mp4.frames). Each variant is a fresh
network (same seed) trained by the pipeline's Trainer on those keyframes and an even sample of 48 frames of the first
100, for --seconds of training (its step count set from a 3-step probe so that the learning rate's cosine spans the
budget); at 1/4, 1/2 and all of the budget, 20 frames spread over the clip are painted without the blend and their
style terms (float32, as bench/fast.py) set against the default path's mean. bench/out/fast_budget_sheet.png: frame
60 of each variant at the end.

Why: a step scores each crop with VGG19, so its cost grows with the crop's pixels; smaller crops give more steps in
the same time but a noisier Gram matrix per crop. FastSettings.crop and batch are chosen from this.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from fast import STYLE, read_inputs, style_losses
from outputs import OUT

from pipeline.config import FastSettings, OptimSettings, StyleSettings
from pipeline.core.stylizer import Stylizer
from pipeline.fast.training import Example, Trainer, fresh_network
from pipeline.media.frames import bgr_to_tensor, load_image, tensor_to_bgr

VARIANTS = {"crop 128, batch 4": {"crop": 128}, "crop 64, batch 4": {"crop": 64},
            "crop 64, batch 2": {"crop": 64, "batch": 2}, "crop 64, batch 8": {"crop": 64, "batch": 8},
            "crop 48, batch 4": {"crop": 48}, "crop 32, batch 4": {"crop": 32}}
SHEET_FRAME = 60


def trainer(fast: FastSettings, stylizer: Stylizer, keys: list[Example], pool: list[Example],
            settings: StyleSettings) -> Trainer:
    return Trainer(fresh_network(fast, torch.device("cpu")), stylizer, keys, pool, fast, grey=False,
                   loss=settings.loss)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300, help="training seconds each variant gets")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keys", default=str(OUT / ".fast_fast_b0.8.mp4.frames"),
                   help="the work folder of a bench/fast.py run, whose key-*.png are the keyframes")
    p.add_argument("--variants", default=json.dumps(VARIANTS), help="JSON: name -> FastSettings fields")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    cv2.setNumThreads(ns.threads)
    settings = StyleSettings(size=256, threads=ns.threads)
    inputs = read_inputs(256)[:100]
    default = [cv2.imread(str(p)) for p in sorted((OUT / ".fast_default.mp4.frames").glob("[0-9]*.png"))]
    judge = Stylizer([(load_image(STYLE), 1.0)], replace(settings, optim=OptimSettings(amp=False)),
                     torch.device("cpu"))
    base = float(style_losses(judge, default).mean())
    keys = [Example(bgr_to_tensor(inputs[int(path.stem.split("-")[1])]), bgr_to_tensor(cv2.imread(str(path))))
            for path in sorted(Path(ns.keys).glob("key-*.png"))]
    pool = [Example(bgr_to_tensor(inputs[i])) for i in np.linspace(0, len(inputs) - 1, 48).round().astype(int)]
    picks = np.linspace(0, len(inputs) - 1, 20).round().astype(int)
    stylizer = Stylizer([(load_image(STYLE), 1.0)], settings, torch.device("cpu"))
    marks = [ns.seconds / 4, ns.seconds / 2, ns.seconds]
    print(f"default path: style mean {base:.4f} over {len(default)} frames; {len(keys)} keyframes; "
          f"{ns.seconds:.0f} s of training each, {ns.threads} threads", flush=True)
    results, cells = {}, []
    for name, fields in json.loads(ns.variants).items():
        fast = replace(FastSettings(), **fields)
        probe = trainer(fast, stylizer, keys, pool, settings)
        began = time.monotonic()
        for _ in range(3):
            probe.step(0, 10**6)
        per_step = (time.monotonic() - began) / 3
        steps = int(ns.seconds / per_step)
        run = trainer(fast, stylizer, keys, pool, settings)
        trained, points, painted = 0.0, [], None
        run.network.train()
        for step in range(steps):
            began = time.monotonic()
            run.step(step, steps)
            trained += time.monotonic() - began
            if len(points) < len(marks) and (trained >= marks[len(points)] or step + 1 == steps):
                run.network.eval()
                with torch.inference_mode():
                    painted = [tensor_to_bgr(run.network(bgr_to_tensor(inputs[i]))) for i in picks]
                    sheet = tensor_to_bgr(run.network(bgr_to_tensor(inputs[SHEET_FRAME])))
                run.network.train()
                style = style_losses(judge, painted)
                points.append({"step": step + 1, "seconds": round(trained, 1), "ratio": float(style.mean() / base),
                               "worst": float(style.max() / base)})
                print(f"  {name}: step {step + 1}, {trained:.0f} s, style {style.mean() / base:.2f}x the default "
                      f"path's (worst frame {style.max() / base:.2f}x)", flush=True)
        cells.append((name, sheet))
        results[name] = {"seconds_per_step": per_step, "points": points}
    print(f"\nafter {ns.seconds:.0f} s of training (style against the default path's mean):")
    for name, row in results.items():
        last = row["points"][-1]
        print(f"  {name:<18} {row['seconds_per_step']:.2f} s a step, {last['step']} steps: {last['ratio']:.2f}x")
    labelled = []
    for name, cell in [("input", inputs[SHEET_FRAME]), ("default path", default[SHEET_FRAME]), *cells]:
        cell = cell.copy()
        cv2.putText(cell, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        labelled.append(np.pad(cell, ((2, 2), (2, 2), (0, 0))))
    cv2.imwrite(str(OUT / "fast_budget_sheet.png"), cv2.vconcat(labelled))
    (OUT / "fast_budget.json").write_text(json.dumps({"default_style": base, "variants": results}, indent=1))
    print(f"sheet: {OUT / 'fast_budget_sheet.png'}")


if __name__ == "__main__":
    main()
