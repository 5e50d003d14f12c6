"""Files, ffmpeg and cameras: the ffmpeg binary (ffmpeg_exe), probing (probe), the file reader (reader) and its ffmpeg
decoder (ffmpeg_decoder), the video writer and the audio mux (writer), GIFs (gif), the live recorder (recorder), live
sources (live_sources), still images (images), the only BGR <-> tensor conversions (frames) and paths (paths). It
imports the core at most, never the runs."""
