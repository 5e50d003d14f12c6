"""The fast painter's model file (--save-model / --model): a weights-only torch file, never pickled code.

Layout, a plain dict that torch.load(weights_only=True) reads: {"format": FORMAT, "version": VERSION, "shape":
{"channels": [c0, c1, c2], "res_blocks": n, "residual": bool}, "state": the network's state dict, "meta":
{"preserve_colors": bool, "size": [width, height] it was trained at, "styles": [style file names], "steps": training
steps}}. A file that would unpickle code, that is no such dict, or whose tensors do not have the shapes its network
needs, is refused with one line (ModelError).
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import ModelError, OutputError
from ..media.paths import atomic_output
from .network import Painter, Shape

FORMAT = "stylize-video fast painter"
VERSION = 1
MAX_CHANNELS = 512  # a file asking for more is not one of ours: refused before any memory is allocated for it
MAX_RES_BLOCKS = 32


@dataclass(frozen=True)
class Model:
    """A trained painter and what it was trained for: preserve_colors (its colours are the frame's; only its
    luminance is painted), size (width, height) of the frames it learnt on, the styles' file names, its steps."""

    network: Painter
    preserve_colors: bool
    size: tuple[int, int]
    styles: tuple[str, ...]
    steps: int


def mismatch_warnings(model: Model, size: tuple[int, int], styles: tuple[str, ...]) -> list[str]:
    """What a user should know before `model` paints frames of `size` (width, height) for the style files named
    `styles`: that its strokes keep the size it learnt, that it paints its own style, not theirs."""
    warnings = []
    if model.size != (0, 0) and max(model.size) != max(size):
        warnings.append(f"the model was trained on {model.size[0]}x{model.size[1]} frames and these are "
                        f"{size[0]}x{size[1]}: its strokes keep their size in pixels")
    if model.styles and styles != model.styles:
        warnings.append(f"--model paints the style it learnt ({', '.join(model.styles)}); STYLE "
                        f"({', '.join(styles)}) is not used")
    return warnings


def save_model(model: Model, path: str | os.PathLike, overwrite: bool) -> Path:
    """Write `model` to `path` atomically (nothing at `path` if it fails); returns the path."""
    shape = model.network.shape
    data = {"format": FORMAT, "version": VERSION,
            "shape": {"channels": list(shape.channels), "res_blocks": shape.res_blocks, "residual": shape.residual},
            "state": {name: tensor.detach().cpu().clone() for name, tensor in model.network.state_dict().items()},
            "meta": {"preserve_colors": model.preserve_colors, "size": list(model.size), "styles": list(model.styles),
                     "steps": model.steps}}
    return _write(path, overwrite, lambda tmp: torch.save(data, tmp))


def copy_model(source: Path, path: str | os.PathLike, overwrite: bool) -> Path:
    """Copy the model file `source` to `path` atomically, byte for byte (a resumed run recognizes its own copy by
    its bytes: checks.check_fast_files); returns the path."""
    return _write(path, overwrite, lambda tmp: shutil.copyfile(source, tmp))


def _write(path: str | os.PathLike, overwrite: bool, write: Callable[[Path], object]) -> Path:
    """Run `write` on a temporary file beside `path` and move it there (nothing at `path` if it fails); a failure
    is one OutputError line. Returns the path."""
    target = Path(path).expanduser()
    try:
        with atomic_output(target, overwrite) as tmp:
            write(tmp)
    except OSError as error:
        raise OutputError(f"could not write the model file '{path}': {error.strerror or error}") from None
    return target


def _read(path: str | os.PathLike) -> dict:
    """torch.load with weights_only=True, every failure one ModelError line."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            data = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"model file '{path}' does not exist") from None
    except IsADirectoryError:
        raise ModelError(f"model file '{path}' is a folder, expected a file --save-model wrote") from None
    except Exception as exc:  # the unpickler raises many types for foreign or hostile files
        if re.search(r"GLOBAL|Unsupported (class|global)", str(exc)):  # what the unpickler refused
            raise ModelError(f"model file '{path}' is not weights-only: it holds code or objects, which are never "
                             "loaded") from None
        raise ModelError(f"model file '{path}' is not a PyTorch file, or it is damaged") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"model file '{path}' is not a fast painter's model (made with --save-model)")
    if data.get("version") != VERSION:
        raise ModelError(f"model file '{path}' is of version {data.get('version')!r}, expected {VERSION}: made by "
                         "another version of stylize-video")
    return data


def _shape(data: dict, path: str | os.PathLike) -> Shape:
    shape = data.get("shape")
    try:
        channels = tuple(int(c) for c in shape["channels"])
        blocks, residual = int(shape["res_blocks"]), shape.get("residual", False)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise ModelError(f"model file '{path}' does not say its network's shape") from None
    if (len(channels) != 3 or not all(1 <= c <= MAX_CHANNELS for c in channels) or not 0 <= blocks <= MAX_RES_BLOCKS
            or not isinstance(residual, bool)):
        raise ModelError(f"model file '{path}' describes another network (channels {list(channels)}, {blocks} "
                         f"residual blocks, residual {residual!r})")
    return Shape(channels, blocks, residual)  # type: ignore[arg-type]


def load_model(path: str | os.PathLike) -> Model:
    """The model in `path`, its network in eval mode on the CPU; ModelError (one line) for anything else."""
    data = _read(path)
    network = Painter(_shape(data, path))
    state, expected = data.get("state"), network.state_dict()
    if not isinstance(state, dict) or set(state) != set(expected):
        missing = sorted(set(expected) - set(state)) if isinstance(state, dict) else ["all"]
        extra = sorted(set(state) - set(expected)) if isinstance(state, dict) else []
        detail = f"missing {', '.join(missing[:3])}" if missing else f"unknown {', '.join(extra[:3])}"
        raise ModelError(f"model file '{path}' holds another network's weights ({detail})")
    for name, tensor in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(tensor.shape):
            got_shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ModelError(f"model file '{path}': {name} has shape {got_shape}, expected {tuple(tensor.shape)}")
    network.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    size, steps, styles = meta.get("size"), meta.get("steps"), meta.get("styles")
    sized = isinstance(size, list) and len(size) == 2 and all(isinstance(side, int) for side in size)
    return Model(network.eval(), meta.get("preserve_colors") is True, (size[0], size[1]) if sized else (0, 0),
                 tuple(s for s in styles if isinstance(s, str)) if isinstance(styles, list) else (),
                 steps if isinstance(steps, int) else 0)
