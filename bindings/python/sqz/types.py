"""Plain-data types of the API: layer descriptions, preprocessing, memory.

These mirror the C structures (sqz_layer_info, sqz_preprocess,
sqz_memory_report) as dataclasses with Python names and enums, and convert
to and from them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Tuple, Union

from . import _capi
from .errors import InvalidArgument


class LayerKind(enum.IntEnum):
    """sqz_layer_kind."""

    CONV = 0
    MAXPOOL = 1
    FIRE = 2
    GLOBAL_AVGPOOL = 3


class Bypass(enum.IntEnum):
    """sqz_bypass: a Fire module's shortcut.

    SIMPLE adds the module's input to its output; COMPLEX (per layer) adds a
    1x1 convolution (bias, no ReLU) of the input. As a metaparameter,
    "complex" means identity shortcuts where channels match and 1x1
    convolutions on the others.
    """

    NONE = 0
    SIMPLE = 1
    COMPLEX = 2

    @classmethod
    def parse(cls, value: Union["Bypass", str, int]) -> "Bypass":
        """Accepts a Bypass, its value, or "none" / "simple" / "complex"."""
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise InvalidArgument(
                    f"unknown bypass {value!r} (expected 'none', 'simple' or 'complex')"
                ) from None
        try:
            return cls(int(value))
        except ValueError:
            raise InvalidArgument(f"unknown bypass {value!r}") from None


@dataclass
class LayerInfo:
    """One layer: what sqz_model_layer reports and sqz_model_create takes.

    For :meth:`sqz.Model.create` only the fields of the layer's kind matter
    (conv: out_channels, kernel, stride, pad, relu; max pool: kernel,
    stride, pad; fire: squeeze, expand1x1, expand3x3, bypass); shapes,
    params and macs are filled in by the model.
    """

    name: str
    kind: LayerKind
    in_channels: int = 0
    in_height: int = 0
    in_width: int = 0
    out_channels: int = 0
    out_height: int = 0
    out_width: int = 0
    kernel: int = 0
    stride: int = 0
    pad: int = 0
    relu: bool = False
    squeeze: int = 0
    expand1x1: int = 0
    expand3x3: int = 0
    bypass: Bypass = Bypass.NONE
    params: int = 0
    macs: int = 0

    @classmethod
    def conv(cls, name: str, out_channels: int, kernel: int, stride: int = 1, pad: int = 0,
             relu: bool = True) -> "LayerInfo":
        """A convolution with bias (and ReLU unless relu=False)."""
        return cls(name, LayerKind.CONV, out_channels=out_channels, kernel=kernel,
                   stride=stride, pad=pad, relu=relu)

    @classmethod
    def maxpool(cls, name: str, kernel: int = 3, stride: int = 2, pad: int = 0) -> "LayerInfo":
        """A max pool in ceil mode."""
        return cls(name, LayerKind.MAXPOOL, kernel=kernel, stride=stride, pad=pad)

    @classmethod
    def fire(cls, name: str, squeeze: int, expand1x1: int, expand3x3: int,
             bypass: Union[Bypass, str] = Bypass.NONE) -> "LayerInfo":
        """A Fire module with its own shortcut kind."""
        return cls(name, LayerKind.FIRE, squeeze=squeeze, expand1x1=expand1x1,
                   expand3x3=expand3x3, bypass=Bypass.parse(bypass))

    @classmethod
    def global_avgpool(cls, name: str = "avgpool") -> "LayerInfo":
        """The global average pool that ends every model."""
        return cls(name, LayerKind.GLOBAL_AVGPOOL)

    @classmethod
    def _from_c(cls, info: _capi.SqzLayerInfo) -> "LayerInfo":
        return cls(
            name=_capi.text(info.name) or "",
            kind=LayerKind(info.kind),
            in_channels=info.in_channels,
            in_height=info.in_height,
            in_width=info.in_width,
            out_channels=info.out_channels,
            out_height=info.out_height,
            out_width=info.out_width,
            kernel=info.kernel,
            stride=info.stride,
            pad=info.pad,
            relu=bool(info.relu),
            squeeze=info.squeeze,
            expand1x1=info.expand1x1,
            expand3x3=info.expand3x3,
            bypass=Bypass(info.bypass),
            params=int(info.params),
            macs=int(info.macs),
        )

    def _to_c(self, name_bytes: bytes) -> _capi.SqzLayerInfo:
        """The C struct; name_bytes must stay alive while the struct is used."""
        c = _capi.SqzLayerInfo()
        c.name = name_bytes
        c.kind = int(LayerKind(self.kind))
        for attr in ("in_channels", "in_height", "in_width", "out_channels", "out_height",
                     "out_width", "kernel", "stride", "pad", "squeeze", "expand1x1",
                     "expand3x3"):
            setattr(c, attr, int(getattr(self, attr)))
        c.relu = 1 if self.relu else 0
        c.bypass = int(Bypass.parse(self.bypass))
        return c


@dataclass
class Preprocess:
    """How an 8-bit RGB image becomes the network input (sqz_preprocess).

    Resize (``resize_mode`` "shorter_side" keeps the aspect ratio, "stretch"
    sets both sides to ``resize_size``), centre crop to the input size, put
    channels in ``channel_order`` ("rgb" or "bgr"), then
    ``value = (pixel - mean[c]) * scale[c]`` with pixel in 0..255 and c in
    the model's channel order.
    """

    resize_mode: str = "shorter_side"
    resize_size: int = 256
    channel_order: str = "rgb"
    mean: Tuple[float, float, float] = (123.675, 116.28, 103.53)
    scale: Tuple[float, float, float] = field(
        default=(1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)))

    _MODES = ("shorter_side", "stretch")
    _ORDERS = ("rgb", "bgr")

    @classmethod
    def torchvision(cls, crop: int = 224) -> "Preprocess":
        """torchvision's ImageNet preprocessing in pixel units (computed in float32
        as libsqz does, so the values are identical to the library's)."""
        import numpy as np

        f = np.float32
        mean = [f(255.0) * f(m) for m in (0.485, 0.456, 0.406)]
        scale = [f(1.0) / (f(255.0) * f(s)) for s in (0.229, 0.224, 0.225)]
        return cls("shorter_side", (crop * 256 + 112) // 224, "rgb",
                   tuple(float(v) for v in mean),  # type: ignore[arg-type]
                   tuple(float(v) for v in scale))  # type: ignore[arg-type]

    @classmethod
    def caffe(cls) -> "Preprocess":
        """Caffe's ImageNet convention (the Deep Compression release)."""
        return cls("stretch", 256, "bgr", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))

    def image_to_input(self, rgb: "object") -> "object":
        """Applies the channel order, mean and scale to uint8 RGB images.

        ``rgb``: a numpy uint8 array (..., H, W, 3), already resized and
        cropped. Returns float32 (..., 3, H, W), the engine's NCHW input.
        """
        import numpy as np

        pixels = np.asarray(rgb)
        if pixels.dtype != np.uint8 or pixels.shape[-1:] != (3,):
            raise InvalidArgument(
                f"expected uint8 RGB images (..., H, W, 3), got {pixels.dtype} {pixels.shape}")
        if self.channel_order == "bgr":
            pixels = pixels[..., ::-1]
        mean = np.asarray(self.mean, dtype=np.float32)
        scale = np.asarray(self.scale, dtype=np.float32)
        values = (pixels.astype(np.float32) - mean) * scale
        return np.ascontiguousarray(np.moveaxis(values, -1, -3), dtype=np.float32)

    @classmethod
    def _from_c(cls, p: _capi.SqzPreprocess) -> "Preprocess":
        return cls(cls._MODES[p.resize_mode], p.resize_size, cls._ORDERS[p.channel_order],
                   tuple(float(v) for v in p.mean),  # type: ignore[arg-type]
                   tuple(float(v) for v in p.scale))  # type: ignore[arg-type]

    def _to_c(self) -> _capi.SqzPreprocess:
        if self.resize_mode not in self._MODES:
            raise InvalidArgument(
                f"resize_mode must be one of {self._MODES}, got {self.resize_mode!r}")
        if self.channel_order not in self._ORDERS:
            raise InvalidArgument(
                f"channel_order must be one of {self._ORDERS}, got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.scale) != 3:
            raise InvalidArgument("mean and scale need three values each")
        c = _capi.SqzPreprocess()
        c.resize_mode = self._MODES.index(self.resize_mode)
        c.resize_size = int(self.resize_size)
        c.channel_order = self._ORDERS.index(self.channel_order)
        for i in range(3):
            c.mean[i] = float(self.mean[i])
            c.scale[i] = float(self.scale[i])
        return c


@dataclass(frozen=True)
class MemoryReport:
    """Memory an engine holds, planned at creation (sqz_memory_report)."""

    weight_bytes: int
    activation_bytes: int
    workspace_bytes: int
    staging_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes + self.workspace_bytes + \
            self.staging_bytes
