"""Animated GIFs made from an H.264 file: one palette for the whole clip, ordered dithering, at most 50 fps."""

from __future__ import annotations

import os
from fractions import Fraction

import ffmpeg

from ..errors import OutputError
from .ffmpeg_exe import FileUrls, ffmpeg_reason, run_ffmpeg, stderr_lines

# Browsers show a GIF frame delay under 2/100 s as 1/10 s, so a faster clip would stutter: it is halved until at most
# this rate (every other frame dropped).
GIF_MAX_FPS = 50


def gif_rate(fps: Fraction) -> Fraction:
    """The frame rate of a GIF made from a `fps` video: halved until at most GIF_MAX_FPS."""
    rate = Fraction(fps)
    while rate > GIF_MAX_FPS:
        rate /= 2
    return rate


def gif_frame_count(frames: int, fps: Fraction) -> int:
    """Frames in the GIF that write_gif makes from `frames` frames at `fps`: every `fps / gif_rate(fps)`-th one,
    the first included."""
    step = int(Fraction(fps) / gif_rate(fps))
    return -(-frames // step)


def gif_args(video_path: str | os.PathLike, output_path: str | os.PathLike, fps: Fraction) -> list[str]:
    """ffmpeg argv of write_gif.

    One palette of 256 colours for the whole clip (palettegen sees every frame before paletteuse starts), and ordered
    (Bayer) dithering: error diffusion would scatter its noise differently in each frame, a shimmer over the whole
    picture, where ordered dithering leaves still areas identical from frame to frame. Loops forever (the gif muxer's
    default). The pixel aspect ratio is dropped: GIF viewers ignore it, and ours is within 1% of square.
    """
    step, urls = int(Fraction(fps) / gif_rate(fps)), FileUrls()
    stream = ffmpeg.input(urls(video_path), protocol_whitelist="file").video
    if step > 1:
        # By frame number, not with the fps filter: the Matroska file's millisecond timestamps make that pick unevenly.
        stream = stream.filter("select", f"not(mod(n,{step}))")
    split = stream.filter_multi_output("split")
    palette = split[0].filter("palettegen", stats_mode="full")
    stream = ffmpeg.filter([split[1], palette], "paletteuse", dither="bayer", bayer_scale=3, diff_mode="rectangle")
    # The output rate gives every frame, the last one included, its full delay (the gif muxer takes the last
    # frame's from its duration, which select leaves at one input frame: 10 ms, not 40, from 120 fps).
    rate = gif_rate(fps)
    output = stream.output(urls(output_path), format="gif", map_metadata=-1,
                           r=f"{rate.numerator}/{rate.denominator}")
    output = output.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+error")
    return urls.compile(output.overwrite_output())


def write_gif(video_path: str | os.PathLike, output_path: str | os.PathLike, fps: Fraction) -> None:
    """Write `output_path` as an animated GIF of the video-only file `video_path` (at `fps`, see gif_args).

    Raises OutputError with ffmpeg's reason."""
    completed = run_ffmpeg(gif_args(video_path, output_path, fps))
    if completed.returncode != 0:
        raise OutputError(f"ffmpeg could not write the GIF '{output_path}': {ffmpeg_reason(stderr_lines(completed))}")
