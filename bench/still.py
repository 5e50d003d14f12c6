"""Still-image benchmark: each preset's time against a yardstick, and how painterly it is on neural-style's terms.

Run as `python bench/still.py [--presets draft,normal,high] [--styles starry_night,the_scream,shipwreck]` on a quiet
machine (torch pinned to 2 threads, float32 everywhere: --precision float32), in one process:

1. Per preset, back to back: the YARDSTICK, 20 L-BFGS iterations on a single scale at the preset's size from the
   photo (tubingen.jpg + starry_night.jpg), then the PRESET as `stylize-video --quality P` paints it. Each line's
   wall time (VGG19 and the painting loaded before the clock starts), its VGG19 forward+backward passes in
   final-size equivalents (a coarse pass counts by its pixels; machine load does not change them), the iterations
   each scale ran, and time and passes against the yardstick. Goal: normal <= 1.7x its yardstick and <= 150 s.
2. neural-style's objective (bench/neural_style.py: 5 x relu4_2 MSE + 100 x Gram MSE over relu1_1..relu5_1, as
   neural_style.lua computes it) of every preset's picture and, for each style, of the normal preset's picture and
   of neural-style's published tubingen picture (docs/images/neural-style/, MIT), at 512 px: the content term, and
   the style term exact and as the issue scored it. Goal: the normal preset's style term on starry_night <= 1.5e7.
3. docs/images/compare_<style>.jpg: neural-style's published picture beside the normal preset's, with their terms.

Images go to bench/out/ (still_<preset>.png, still_normal_<style>.png).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from neural_style import NeuralStyleObjective

from pipeline.config import StyleSettings, with_quality
from pipeline.core.geometry import fit_long_side
from pipeline.core.stylizer import Stylizer, resize
from pipeline.events import ScaleDone
from pipeline.media.frames import load_image, save_image, tensor_to_bgr

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data")
PHOTO = DATA / "content" / "tubingen.jpg"
STYLES = DATA / "styles"
PUBLISHED = ROOT / "docs" / "images" / "neural-style"
OUT = Path(__file__).resolve().parent / "out"
THREADS = 2
RATIO_GOAL, SECONDS_GOAL, STYLE_GOAL = 1.7, 150.0, 1.5e7


class Counting(Stylizer):
    """The stylizer, counting its objective's passes in final-size equivalents (`passes`)."""

    passes = 0.0
    final: tuple[int, int] = (1, 1)

    def objective(self, content: torch.Tensor, extra=None):
        inner = super().objective(content, extra)
        share = content.shape[2] * content.shape[3] / (self.final[0] * self.final[1])

        def counted(image: torch.Tensor) -> torch.Tensor:
            self.passes += share
            return inner(image)
        return counted


def paint(settings: StyleSettings, style: Path, scales: int | None = None) -> dict:
    """One line: (picture, seconds, passes, iterations run per scale) of `settings` (scales: force single scale)."""
    if scales is not None:
        settings = replace(settings, optim=replace(settings.optim, max_scales=scales, plateau_tolerance=0.0))
    photo = load_image(PHOTO)
    content = resize(photo, fit_long_side(photo.shape[2], photo.shape[3], settings.size))
    stylizer = Counting([(load_image(style), 1.0)], settings, torch.device("cpu"))
    stylizer.final = (content.shape[2], content.shape[3])
    stylizer.style_targets(stylizer.final)  # the painting's targets and VGG19's first pass out of the clock
    ran: list[int] = []
    began = time.perf_counter()
    image = stylizer.stylize(content, on_event=lambda e: ran.append(e.iterations_run)
                             if isinstance(e, ScaleDone) else None)
    return {"image": image, "seconds": time.perf_counter() - began, "passes": stylizer.passes, "ran": ran}


def part_presets(presets: list[str]) -> dict[str, dict]:
    print(f"1. presets against their yardstick ({PHOTO.name} + starry_night, float32, {THREADS} threads)")
    print(f"  {'line':<22} {'seconds':>8} {'passes':>7} {'iterations':>12} {'time/yard':>9} {'passes/yard':>11}")
    results = {}
    for name in presets:
        settings = with_quality(StyleSettings(), name)
        settings = replace(settings, optim=replace(settings.optim, amp=False))
        yardstick = paint(replace(settings, optim=replace(settings.optim, iterations=20)), STYLES / "starry_night.jpg",
                          scales=1)
        preset = paint(settings, STYLES / "starry_night.jpg")
        save_image(preset["image"], OUT / f"still_{name}.png")
        for label, line in ((f"yardstick {settings.size} px", yardstick), (f"{name} ({settings.size} px)", preset)):
            print(f"  {label:<22} {line['seconds']:>8.1f} {line['passes']:>7.1f} {'/'.join(map(str, line['ran'])):>12} "
                  f"{line['seconds'] / yardstick['seconds']:>9.2f} {line['passes'] / yardstick['passes']:>11.2f}")
        results[name] = {"preset": preset, "yardstick": yardstick, "settings": settings}
    return results


def part_terms(results: dict[str, dict], styles: list[str]) -> dict[str, dict]:
    print("\n2. neural-style's objective (content; style exact / as the issue scored it), at each picture's size")
    rows = {}
    for name, result in results.items():
        objective = NeuralStyleObjective(PHOTO, STYLES / "starry_night.jpg", result["settings"].size)
        terms = objective.terms(result["preset"]["image"])
        print(f"  {name + ' preset, starry_night':<34} {terms['content']:.3g}; {terms['exact']:.3g} / {terms['issue']:.3g}")
    settings = replace(StyleSettings(), optim=replace(StyleSettings().optim, amp=False))
    for style in styles:
        objective = NeuralStyleObjective(PHOTO, STYLES / f"{style}.jpg", 512)
        ours = results["normal"]["preset"]["image"] if style == "starry_night" and "normal" in results else \
            paint(settings, STYLES / f"{style}.jpg")["image"]
        save_image(ours, OUT / f"still_normal_{style}.png")
        published = load_image(PUBLISHED / f"tubingen_{_short(style)}.png")
        rows[style] = {"ours": (ours, objective.terms(ours)), "published": (published, objective.terms(published))}
        for who, (_, terms) in rows[style].items():
            print(f"  {style + ', ' + who:<34} {terms['content']:.3g}; {terms['exact']:.3g} / {terms['issue']:.3g}")
    return rows


def _short(style: str) -> str:
    return {"starry_night": "starry", "the_scream": "scream"}.get(style, style)


def part_sheets(rows: dict[str, dict]) -> None:
    print("\n3. side by side")
    for style, pair in rows.items():
        tiles = []
        for who, label in (("published", "neural-style (published)"), ("ours", "stylize-video, default")):
            image, terms = pair[who]
            bgr = tensor_to_bgr(image)
            band = np.full((40, bgr.shape[1], 3), 255, np.uint8)
            for row, text in enumerate((label, f"content {terms['content']:.2g}, style {terms['exact']:.2g} "
                                                f"({terms['issue']:.2g} as the issue scored)")):
                cv2.putText(band, text, (6, 16 + 18 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
            tiles.append(np.vstack([band, bgr]))
        path = ROOT / "docs" / "images" / f"compare_{style}.jpg"
        cv2.imwrite(str(path), np.hstack(tiles), [cv2.IMWRITE_JPEG_QUALITY, 90])
        print(f"  {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="draft,normal,high")
    parser.add_argument("--styles", default="starry_night,the_scream,shipwreck")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)
    OUT.mkdir(parents=True, exist_ok=True)
    results = part_presets(args.presets.split(","))
    rows = part_terms(results, args.styles.split(","))
    part_sheets(rows)
    if "normal" in results:
        normal = results["normal"]
        ratio = normal["preset"]["seconds"] / normal["yardstick"]["seconds"]
        style = rows.get("starry_night", {}).get("ours", (None, {"exact": float("nan")}))[1]["exact"]
        print(f"\ngoals: normal {normal['preset']['seconds']:.0f} s (<= {SECONDS_GOAL:.0f}), {ratio:.2f}x its yardstick "
              f"(<= {RATIO_GOAL}); style term on starry_night {style:.3g} (<= {STYLE_GOAL:.2g})")


if __name__ == "__main__":
    main()
