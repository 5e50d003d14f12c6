"""One video across many workers, on Ray (`--ray`; the optional extra: pip install "stylize-video[ray]").

plan (torch-free): shots, pieces and keyframes, and a schedule on paper; segment: what a worker does with a segment of
frames; worker: the worker, made a Ray actor by the driver; cluster: starting or joining Ray, quietly, with token
authentication; driver: the middle of a video run (pipeline/video.py) on the workers. Ray is imported only by cluster,
when a run asks for it.
"""
