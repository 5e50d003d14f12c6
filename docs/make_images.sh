#!/usr/bin/env bash
# Paint the README's pictures again with the current defaults (about 10 minutes on a 2-core CPU with bfloat16).
# Run from the repository root inside its virtualenv: bash docs/make_images.sh
set -euo pipefail
S=samples/styles
out=docs/images
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

still() {  # still NAME PHOTO STYLE [OPTIONS...]: the default quality, written as a JPEG for the README
  local name=$1 photo=$2 style=$3
  shift 3
  stylize-video "$photo" "$style" "$tmp/$name.png" --quiet "$@"
  python -c "import cv2, sys; cv2.imwrite(sys.argv[2], cv2.imread(sys.argv[1]), [cv2.IMWRITE_JPEG_QUALITY, 90])" \
    "$tmp/$name.png" "$out/$name.jpg"
}

still tubingen_starry samples/tubingen.jpg $S/starry_night.jpg
still golden_gate_scream samples/golden_gate.jpg $S/the_scream.jpg
still tubingen_starry_colors samples/tubingen.jpg $S/starry_night.jpg --preserve-colors
still golden_gate_blend samples/golden_gate.jpg $S/starry_night.jpg,$S/the_scream.jpg --style-blend 1,1
still tubingen_shipwreck samples/tubingen.jpg $S/shipwreck.jpg

# The video quick start, beside its input, as a GIF at half the frame rate with 128 colours.
stylize-video samples/bikes.mp4 $S/starry_night.jpg "$tmp/bikes_starry.mp4" --quality draft --quiet
ffmpeg=$(python -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")
"$ffmpeg" -v error -y -i samples/bikes.mp4 -i "$tmp/bikes_starry.mp4" -filter_complex \
  "[0:v]scale=256:-2[a];[1:v]scale=256:-2[b];[a][b]hstack,fps=12.5,split[x][y];[x]palettegen=max_colors=128[p];[y][p]paletteuse" \
  "$out/bikes_starry.gif"
