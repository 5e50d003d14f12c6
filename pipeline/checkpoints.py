"""The work folder of a video run: stylized frames kept as lossless PNGs so that no finished frame is ever lost.

Layout, next to the output: `<output folder>/.<output name>.frames/` holding `manifest.json` (what made the frames:
input identity, styles, every pixel-relevant setting, processing size, frame range) and `000000.png`, `000001.png`...
(HxWx3 BGR uint8 at the processing size, written atomically as they finish, so they always form a prefix of the
video). A frame's PNG also carries, in a text chunk, its optimizer's step scale, where the next frame's first
step starts (see optimize.Optimized). A fast run (--fast) also keeps its keyframes' paintings, `key-000000.png`...
(with their step scales), and its trained network, `network.pt` (a --save-model file). A run with resume continues
after the last finished frame if the manifest matches; any other existing folder is refused rather than silently
mixed with or deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

from .config import VIDEO_OUTPUT_ONLY_FIELDS, FastSettings, StyleSettings, VideoSettings
from .errors import OutputError, UsageError
from .media.paths import NETWORK, work_folder

MANIFEST = "manifest.json"
# 2: the network's arithmetic instead of settings.optim.amp; 3: warm starts fill new content; 4: warm frames start
# L-BFGS at the previous frame's step scale, kept in the frames' PNGs; 5: the CPU thread count (settings.threads)
MANIFEST_VERSION = 5
HASH_BYTES = 1 << 20  # the input is identified by the hashes of its first and last MiB (plus size and mtime)
PNG_RATIO = 0.6  # PNG size / raw BGR size of a stylized frame (painterly frames compress poorly)
_FRAME_NAME = re.compile(r"^(\d{6,})\.png$")
_KEYFRAME_NAME = re.compile(r"^key-(\d{6,})\.png$")
# Manifest keys and how a refusal names them ("... was made with another style").
_DESCRIBE = {
    "version": "an older version of stylize-video",
    "input": "another input video (or the input file changed)",
    "styles": "another style",
    "settings": "other settings",
    "video": "other video settings",
    "size": "another processing size",
    "painter": "another painter (--fast, or not)",
    "fast": "other fast-painter settings",
}


STEP_SCALE_KEY = b"stylize-video step scale"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_text(png: bytes, key: bytes, text: str) -> bytes:
    """`png` (a whole PNG file) with a tEXt chunk key=text inserted before its closing IEND chunk."""
    iend = len(png) - 12  # IEND is always last and empty: length, type, CRC
    if png[iend + 4:iend + 8] != b"IEND":
        raise ValueError("not a complete PNG: it does not end with IEND")
    return png[:iend] + _png_chunk(b"tEXt", key + b"\0" + text.encode("latin-1")) + png[iend:]


def _png_text(png: bytes, key: bytes) -> str | None:
    """The text of the first tEXt chunk named `key` in `png`, or None (none, or not a well-formed PNG)."""
    if not png.startswith(_PNG_SIGNATURE):
        return None
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        data = png[at + 8:at + 8 + length]
        if kind == b"tEXt" and data.startswith(key + b"\0"):
            return data[len(key) + 1:].decode("latin-1")
        if kind == b"IEND":
            return None
        at += 12 + length
    return None


def frame_name(index: int) -> str:
    return f"{index:06d}.png"


def keyframe_name(index: int) -> str:
    return f"key-{index:06d}.png"


def _sha256(path: Path, offset: int | None = None, length: int | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        if offset is not None:
            file.seek(offset)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = file.read(1 << 16 if remaining is None else min(1 << 16, remaining))
            if not chunk:
                break
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return digest.hexdigest()


def input_identity(path: str | os.PathLike) -> dict:
    """Absolute path, size, mtime_ns and the sha256 of the first and last MiB: cheap even for hour-long files."""
    p = Path(path).resolve()
    stat = p.stat()
    return {
        "path": str(p),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256_head": _sha256(p, 0, HASH_BYTES),
        "sha256_tail": _sha256(p, max(0, stat.st_size - HASH_BYTES), HASH_BYTES),
    }


def _settings_dict(settings: StyleSettings) -> dict:
    """StyleSettings as plain data; an init image or weights given as a path is named by its content's hash."""
    data = dataclasses.asdict(settings)
    del data["optim"]["amp"]  # a request: the manifest's "arithmetic" records what it gave on this machine
    for key in ("init", "weights"):
        value = data[key]
        if key == "init" and value in ("content", "noise"):
            continue
        if Path(value).expanduser().is_file():
            data[key] = {"file": value, "sha256": _sha256(Path(value).expanduser())}
    return data


def build_manifest(
    input_path: str | os.PathLike,
    styles: list[tuple[str | os.PathLike, float]],
    settings: StyleSettings,
    video: VideoSettings,
    size: tuple[int, int],
    arithmetic: str,
) -> dict:
    """Everything that decides the stylized frames, as JSON-ready data. size: processing (width, height);
    arithmetic: the network's, "float32" or "bfloat16" (devices.network_arithmetic).

    The frame range (start, duration, max_frames) is part of the video settings. Fields of VideoSettings listed in
    config.VIDEO_OUTPUT_ONLY_FIELDS (encoding, resume...) are left out: they never change a stylized frame.
    """
    video_fields = {k: v for k, v in dataclasses.asdict(video).items() if k not in VIDEO_OUTPUT_ONLY_FIELDS}
    manifest = {
        "version": MANIFEST_VERSION,
        "input": input_identity(input_path),
        "styles": [{"sha256": _sha256(Path(p)), "weight": float(w)} for p, w in styles],
        "settings": _settings_dict(settings),
        "video": video_fields,
        "size": list(size),
        "arithmetic": arithmetic,
    }
    return json.loads(json.dumps(manifest))  # tuples -> lists, so it compares equal to what is read back


def fast_manifest(fast: FastSettings) -> dict:
    """What a fast run adds to its manifest: every FastSettings field but save_model (where the network is also
    written changes no frame), a --model file named by its content's hash."""
    data = dataclasses.asdict(fast)
    del data["save_model"]
    if fast.model is not None:
        data["model"] = {"file": fast.model, "sha256": _sha256(Path(fast.model).expanduser())}
    return json.loads(json.dumps({"painter": "fast", "fast": data}))


_INPUT_PARTS = {"path": "its path", "size": "its size", "mtime_ns": "its modification time",
                "sha256_head": "its first MiB", "sha256_tail": "its last MiB"}
# Manifest leaves that are a command-line option under another name, or under none.
_OPTIONS = {"max_frames": "--frames", "max_scales": "--scales", "init": "--init", "weights": "--weights"}
_CLI_FIELDS = {"iterations", "lr", "optimizer", "size", "style_scale", "preserve_colors", "seed", "pooling", "threads",
               "content_layers", "style_layers", "style_layer_weights", "content_weight", "style_weight", "tv_weight",
               "frame_iterations", "temporal_weight", "start", "duration"}


def _option_name(dotted: str) -> str:
    """A differing manifest leaf as the user knows it: "video.max_frames" -> "--frames", "styles.1.sha256" ->
    "style image 2", "settings.optim.min_fraction" -> "min fraction"."""
    parts = dotted.split(".")
    if parts[0] == "styles":
        if len(parts) == 1:
            return "the number of style images"
        return "--style-blend" if parts[-1] == "weight" else f"style image {int(parts[1]) + 1}"
    if parts[0] == "input":
        return _INPUT_PARTS.get(parts[-1], "the input video")
    if parts[0] == "size":
        return "the frames' size"
    if parts[0] == "fast" and len(parts) > 1:
        return "--model" if parts[1] == "model" else f"fast setting {parts[1]}"
    if parts[0] in ("settings", "video") and len(parts) > 1:
        field = parts[1] if parts[1] in ("init", "weights") else parts[-1]  # init.sha256: the --init file
        if field in _OPTIONS:
            return _OPTIONS[field]
        return f"--{field.replace('_', '-')}" if field in _CLI_FIELDS else field.replace("_", " ")
    return dotted.replace("_", " ")


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted names of the leaves that differ between two manifests ("settings.optim.iterations", "styles.0.weight")."""
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        old, new = dict(enumerate(old)), dict(enumerate(new))
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [prefix or "manifest"]
    found = []
    for key in sorted(set(old) | set(new), key=str):
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in old or key not in new:
            found.append(name)
        else:
            found += _differences(old[key], new[key], name)
    return found


def recorded_threads(output: str | os.PathLike) -> int | None:
    """The thread count the work folder of `output` was painted with (None: no folder, or no count in it)."""
    try:
        threads = json.loads((work_folder(output) / MANIFEST).read_text(encoding="utf-8"))["settings"]["threads"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return threads if isinstance(threads, int) and threads >= 1 else None


def _bytes(count: int) -> str:
    """'12 MB', '340 kB' (a small clip's checkpoints read "0 MB needed, 0 MB free")."""
    return f"{count / 1e6:.0f} MB" if count >= 10**7 else f"{count / 1e3:.0f} kB"


def check_free_space(folder: Path, frames: int | None, width: int, height: int) -> None:
    """Refuse (OutputError) if `folder`'s disk clearly cannot hold `frames` PNG checkpoints of width x height."""
    if not frames:
        return
    needed = int(frames * width * height * 3 * PNG_RATIO)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OutputError(
            f"not enough free disk space in '{folder}' for the frame checkpoints: about {_bytes(needed)} "
            f"needed for {frames} frames of {width}x{height}, {_bytes(free)} free; free space, lower --size "
            "or choose an output on another disk"
        )


class Checkpoints:
    """The work folder of one output. Create with `Checkpoints.inspect(...)` (checks only, writes nothing), then
    `start()` just before processing. Frames are HxWx3 BGR uint8 arrays."""

    def __init__(self, folder: Path, manifest: dict) -> None:
        self.folder, self.manifest = folder, manifest
        self.existed = folder.exists()
        self.finished = self._finished_prefix() if self.existed else 0

    @classmethod
    def inspect(cls, output: str | os.PathLike, manifest: dict, resume: bool) -> Checkpoints:
        """Check the work folder of `output` against `manifest`; raise UsageError if it cannot be used.

        Without resume an existing folder is refused (suggesting --resume); with resume its manifest must match.
        """
        folder = work_folder(output)
        if folder.exists() or folder.is_symlink():
            if not resume:
                raise UsageError(
                    f"the work folder '{folder}' of an earlier run exists: add --resume to continue it, "
                    "or remove it to start again"
                )
            if not folder.is_dir():
                raise UsageError(f"the work folder '{folder}' is not a folder: remove it to start again")
            cls._check_manifest(folder, manifest)
        return cls(folder, manifest)

    @staticmethod
    def _check_manifest(folder: Path, manifest: dict) -> None:
        try:
            old = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UsageError(
                f"the work folder '{folder}' has no readable {MANIFEST}: remove it to start again"
            ) from None
        differences = _differences(old, manifest)
        if not differences:
            return
        arithmetic = old.get("version") == manifest["version"] and "arithmetic" in differences
        others = [name for name in differences if name != "arithmetic"] if arithmetic else differences
        groups = dict.fromkeys(_DESCRIBE.get(name.split(".")[0], "other settings") for name in others)
        named = list(dict.fromkeys(_option_name(name) for name in others))
        detail = ", ".join(named[:4]) + (" ..." if len(named) > 4 else "")
        made_with = f"{' and '.join(groups)} ({detail} differ{'s' * (len(named) == 1)})" if others else ""
        if arithmetic:
            # Named by what the user can change: --precision (or the machine, if it moved or PyTorch changed).
            also = f", and made with {made_with}" if others else ""
            raise UsageError(
                f"the work folder '{folder}' was painted with VGG19 in {old['arithmetic']}, but this run would use "
                f"{manifest['arithmetic']} (--precision, or another CPU or PyTorch){also}: resume with the "
                f"--precision {'and the settings ' if others else ''}it was made with, or remove it to start again"
            )
        raise UsageError(
            f"the work folder '{folder}' was made with {made_with}: resume with the settings it was made with, or "
            "remove it to start again"
        )

    def _finished_prefix(self) -> int:
        """Number of frames 0, 1, 2... present without a gap (a run in one process writes them in order, atomically,
        so this is its finished set)."""
        indices = self.done()
        count = 0
        while count in indices:
            count += 1
        return count

    def done(self) -> set[int]:
        """The indices of every frame present (a run across workers finishes them out of order)."""
        if not self.folder.is_dir():
            return set()
        return {int(match.group(1)) for entry in os.scandir(self.folder) if (match := _FRAME_NAME.match(entry.name))}

    def start(self) -> None:
        """Create the folder and write the manifest (atomically) if this is a new run."""
        if self.existed:
            return
        try:
            self.folder.mkdir()
            self._write_atomic(MANIFEST, json.dumps(self.manifest, indent=1).encode("utf-8"))
        except OSError as error:
            raise OutputError(f"could not create the work folder '{self.folder}': {error.strerror or error}") from None

    def _write_atomic(self, name: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def save(self, index: int, bgr: np.ndarray, step_scale: float | None = None) -> None:
        """Write frame `index` as a lossless PNG, with its optimizer's step scale (if any); it appears under its
        name only when complete."""
        self._save_png(frame_name(index), bgr, step_scale, f"frame {index}")

    def load(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """Frame `index` as HxWx3 BGR uint8; OutputError if it is missing, damaged or not `size` (width, height)."""
        return self._load_png(frame_name(index), size)

    def load_step_scale(self, index: int) -> float | None:
        """The step scale saved with frame `index`, or None if it has none (or it cannot be read)."""
        return self._step_scale(frame_name(index))

    # A fast run (pipeline/fast/) also keeps its keyframes' paintings and its trained network here, so that --resume
    # neither paints nor trains again what an interrupted run finished.
    def save_keyframe(self, index: int, bgr: np.ndarray, step_scale: float | None) -> None:
        """Keep the optimizer's painting of keyframe `index` (frame `index` of the clip), as save() keeps a frame."""
        self._save_png(keyframe_name(index), bgr, step_scale, f"keyframe {index}")

    def load_keyframe(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, float | None] | None:
        """The kept painting of keyframe `index` and its step scale, or None if there is none; OutputError if it is
        damaged or not `size` (width, height)."""
        if not self.has_keyframe(index):
            return None
        return self._load_png(keyframe_name(index), size), self._step_scale(keyframe_name(index))

    def has_keyframe(self, index: int) -> bool:
        return (self.folder / keyframe_name(index)).is_file()

    def keyframes_on_disk(self) -> int:
        if not self.folder.is_dir():
            return 0
        return sum(1 for entry in os.scandir(self.folder) if _KEYFRAME_NAME.match(entry.name))

    @property
    def network(self) -> Path:
        """Where a fast run keeps its trained network (written by pipeline/fast/ with its model file's format)."""
        return self.folder / NETWORK

    def kept(self) -> str | None:
        """What the folder holds that a --resume would not redo, in words ("3 finished frames", "2 painted
        keyframes and the trained network"), or None if nothing."""
        frames, keys, network = self.frames_on_disk(), self.keyframes_on_disk(), self.network.is_file()
        parts = ([f"{frames} finished frame{'s' * (frames != 1)}"] * bool(frames)
                 + [f"{keys} painted keyframe{'s' * (keys != 1)}"] * bool(keys) + ["the trained network"] * network)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"

    def _save_png(self, name: str, bgr: np.ndarray, step_scale: float | None, what: str) -> None:
        ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise OutputError(f"could not encode {what} as PNG for '{self.folder}'")
        png = encoded.tobytes()
        if step_scale is not None:
            png = _png_with_text(png, STEP_SCALE_KEY, repr(step_scale))  # repr: the exact float comes back
        try:
            self._write_atomic(name, png)
        except OSError as error:
            raise OutputError(f"could not write {what} to '{self.folder}': {error.strerror or error}") from None

    def _load_png(self, name: str, size: tuple[int, int]) -> np.ndarray:
        path = self.folder / name
        try:  # read by Python, decoded by OpenCV: cv2.imread crashes on a folder name that is not UTF-8
            data = np.fromfile(path, np.uint8)
        except OSError:
            data = np.empty(0, np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None or bgr.shape != (size[1], size[0], 3):
            got = "unreadable" if bgr is None else f"{bgr.shape[1]}x{bgr.shape[0]}"
            raise OutputError(
                f"checkpoint '{path}' is {got}, expected a {size[0]}x{size[1]} PNG: remove the work folder and rerun"
            )
        return bgr

    def _step_scale(self, name: str) -> float | None:
        try:
            text = _png_text((self.folder / name).read_bytes(), STEP_SCALE_KEY)
            return None if text is None else float(text)
        except (OSError, ValueError):
            return None

    def frames_on_disk(self) -> int:
        """How many finished frames the folder holds."""
        return len(self.done())

    def remove(self) -> None:
        """Delete what this module wrote (frames, manifest, temporaries), then the folder if nothing else is left."""
        if not self.folder.is_dir():
            return
        for entry in os.scandir(self.folder):
            ours = (_FRAME_NAME.match(entry.name) or _KEYFRAME_NAME.match(entry.name)
                    or entry.name in (MANIFEST, NETWORK) or entry.name.endswith(".tmp"))
            if ours and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # left in place if the user put something else there
