"""The fast painter: a small image-to-image network trained from scratch on keyframes the optimizer painted, then
run on every frame (after Texler et al. 2020, "Interactive Video Stylization Using Few-Shot Patch-Based Training").

network (the generator), keyframes (which frames the optimizer paints), training (crops, the loss, Adam),
model_file (the weights-only file of --save-model / --model), painter (the per-frame runner with its temporal blend)
run (the phases of a --fast video run, called from video.py) and live (a live session's keyframes, training in a
background thread and painting, called from pipeline/live.py).
"""
