"""ONNX SqueezeNet graphs as sqz models (needs the ``onnx`` package).

The graph is read node by node (ONNX keeps nodes in topological order) and
recognised as sqz's layer sequence: Conv [+ Relu], MaxPool, Fire modules
(squeeze Conv+Relu feeding a 1x1 and a 3x3 Conv+Relu, Concat on channels,
optionally Add of the Fire's input or of a 1x1 Conv of it), and a final
GlobalAveragePool (or an AveragePool over the whole map). Dropout,
Identity, Flatten, Reshape, Squeeze and a final Softmax are accepted and
have no effect on the sqz model (its engines give logits or
probabilities on request). Anything else is reported with the node's name.

Convolutions are kept lazy until something consumes them, because only
then is it known whether a Conv is a layer, a Fire's squeeze or a Fire's
shortcut.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Set, Tuple, Union

import numpy as np

from .errors import Error, FormatError, Unsupported
from .model import Model
from .types import Bypass, LayerInfo, Preprocess


@dataclass(eq=False)
class _Chain:
    """The output of the first `count` layers of the model being built."""

    count: int


@dataclass(eq=False)
class _Conv:
    """A convolution not yet placed: a layer, a squeeze, an expand or a shortcut."""

    node: str
    source: Any
    weight: np.ndarray
    bias: np.ndarray
    stride: int
    pad: int
    relu: bool = False
    placed: Optional[_Chain] = None

    @property
    def kernel(self) -> int:
        return int(self.weight.shape[2])


@dataclass(eq=False)
class _Fire:
    node: str
    source: Any
    squeeze: _Conv
    expand1x1: _Conv
    expand3x3: _Conv
    bypass: Bypass = Bypass.NONE
    shortcut: Optional[_Conv] = None
    placed: Optional[_Chain] = None


@dataclass
class _Builder:
    """The layer list, weights and spatial size built so far."""

    height: int
    width: int
    layers: List[LayerInfo] = field(default_factory=list)
    tensors: Dict[str, np.ndarray] = field(default_factory=dict)
    fires: int = 0
    softmax: bool = False
    final: Optional[_Chain] = None

    def _name(self, base: str) -> str:
        taken = {layer.name for layer in self.layers}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        return name

    def _append(self, layer: LayerInfo, source_chain: _Chain, node: str) -> _Chain:
        if source_chain.count != len(self.layers):
            raise Unsupported(f"node '{node}': its input is also used elsewhere; sqz models are "
                              f"a straight chain of layers (plus Fire shortcuts)")
        if self.final is not None:
            raise Unsupported(f"node '{node}' comes after the global average pool")
        self.layers.append(layer)
        return _Chain(len(self.layers))

    def place(self, value: Any, node: str) -> _Chain:
        """Makes `value` a layer of the chain (once) and returns its output."""
        if isinstance(value, _Chain):
            return value
        if value.placed is not None:
            return value.placed
        if isinstance(value, _Conv):
            source = self.place(value.source, node)
            name = self._name("conv1" if not self.layers else f"conv{self.fires + 2}")
            k = value.kernel
            layer = LayerInfo.conv(name, int(value.weight.shape[0]), k, value.stride, value.pad,
                                   value.relu)
            value.placed = self._append(layer, source, value.node)
            self.tensors[f"{name}.weight"] = value.weight
            self.tensors[f"{name}.bias"] = value.bias
            self.height = (self.height + 2 * value.pad - k) // value.stride + 1
            self.width = (self.width + 2 * value.pad - k) // value.stride + 1
            return value.placed
        if isinstance(value, _Fire):
            source = self.place(value.source, node)
            self.fires += 1
            name = self._name(f"fire{self.fires + 1}")
            layer = LayerInfo.fire(name, int(value.squeeze.weight.shape[0]),
                                   int(value.expand1x1.weight.shape[0]),
                                   int(value.expand3x3.weight.shape[0]), value.bypass)
            value.placed = self._append(layer, source, value.node)
            parts = [("squeeze", value.squeeze), ("expand1x1", value.expand1x1),
                     ("expand3x3", value.expand3x3)]
            if value.shortcut is not None:
                parts.append(("shortcut", value.shortcut))
            for part, conv in parts:
                self.tensors[f"{name}.{part}.weight"] = conv.weight
                self.tensors[f"{name}.{part}.bias"] = conv.bias
            return value.placed
        raise FormatError(f"node '{node}': unexpected input {value!r}")


# What a malformed graph (a missing input, an attribute of the wrong type, a
# tensor whose data does not match its shape) raises inside the reader; it
# is reported as a FormatError naming the node.
_MALFORMED = (IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError)


def _malformed(where: str, e: Exception) -> FormatError:
    return FormatError(f"{where}: malformed ONNX: {type(e).__name__}: {e}")


def _attrs(node: Any) -> Dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _square(node: Any, attrs: Dict[str, Any], key: str, default: int) -> int:
    values = list(attrs.get(key, [default, default]))
    if len(values) != 2 or values[0] != values[1]:
        raise Unsupported(f"node '{node.name}': {key} {values} (sqz needs square, 2-D)")
    return int(values[0])


def _symmetric_pad(node: Any, attrs: Dict[str, Any], kernel: int, stride: int) -> int:
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER") and stride == 1 and kernel % 2 == 1:
        return (kernel - 1) // 2
    if auto_pad == "VALID":
        return 0
    if auto_pad != "NOTSET":
        raise Unsupported(f"node '{node.name}': auto_pad {auto_pad} with stride {stride}")
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4 or len(set(pads)) != 1:
        raise Unsupported(f"node '{node.name}': pads {pads} (sqz needs equal padding on all "
                          f"sides)")
    return int(pads[0])


class _Reader:
    """Walks the graph and turns its nodes into layers."""

    def __init__(self, graph: Any, height: int, width: int) -> None:
        from onnx import numpy_helper

        self.constants: Dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.values: Dict[str, Any] = {}
        self.builder = _Builder(height, width)

    def value(self, name: str, node: Any) -> Any:
        if name not in self.values:
            raise FormatError(f"node '{node.name}': input '{name}' is neither the graph input "
                              f"nor produced by an earlier node")
        return self.values[name]

    def constant(self, name: str, node: Any) -> np.ndarray:
        if name not in self.constants:
            raise Unsupported(f"node '{node.name}': '{name}' must be a constant (initializer)")
        return np.asarray(self.constants[name], dtype=np.float32)

    def read(self, node: Any) -> None:
        op = node.op_type
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise Unsupported(f"node '{node.name}': operator {op} is not part of a "
                              f"SqueezeNet-family model sqz can run")
        try:
            handler(node, _attrs(node))
        except Error:
            raise
        except _MALFORMED as e:
            raise _malformed(f"node '{node.name}' ({op})", e) from None

    def _op_Constant(self, node: Any, attrs: Dict[str, Any]) -> None:
        from onnx import numpy_helper

        if "value" in attrs:
            self.constants[node.output[0]] = numpy_helper.to_array(attrs["value"])

    def _op_Conv(self, node: Any, attrs: Dict[str, Any]) -> None:
        if int(attrs.get("group", 1)) != 1:
            raise Unsupported(f"node '{node.name}': grouped convolution")
        if any(int(d) != 1 for d in attrs.get("dilations", [1, 1])):
            raise Unsupported(f"node '{node.name}': dilated convolution")
        weight = self.constant(node.input[1], node)
        if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
            raise Unsupported(f"node '{node.name}': weight shape {weight.shape} (square "
                              f"kernels only)")
        bias = (self.constant(node.input[2], node) if len(node.input) > 2 and node.input[2]
                else np.zeros(weight.shape[0], dtype=np.float32))
        stride = _square(node, attrs, "strides", 1)
        pad = _symmetric_pad(node, attrs, int(weight.shape[2]), stride)
        self.values[node.output[0]] = _Conv(node.name, self.value(node.input[0], node), weight,
                                            bias, stride, pad)

    def _op_Relu(self, node: Any, attrs: Dict[str, Any]) -> None:
        source = self.value(node.input[0], node)
        if not isinstance(source, _Conv) or source.relu:
            raise Unsupported(f"node '{node.name}': sqz has ReLU only right after a "
                              f"convolution")
        self.values[node.output[0]] = replace(source, relu=True, node=node.name)

    def _op_MaxPool(self, node: Any, attrs: Dict[str, Any]) -> None:
        b = self.builder
        chain = b.place(self.value(node.input[0], node), node.name)
        kernel = _square(node, attrs, "kernel_shape", 1)
        stride = _square(node, attrs, "strides", 1)
        pad = _symmetric_pad(node, attrs, kernel, stride)
        layer = LayerInfo.maxpool(b._name(f"pool{b.fires + 1}"), kernel, stride, pad)
        # sqz pools in ceil mode (a last window must start inside the input or
        # its left padding); a floor-mode pool is the same where sizes agree.
        sizes = []
        for size in (b.height, b.width):
            span = size + 2 * pad - kernel
            ceil = -(-span // stride) + 1
            if (ceil - 1) * stride >= size + pad:
                ceil -= 1
            floor = span // stride + 1
            if not int(attrs.get("ceil_mode", 0)) and floor != ceil:
                raise Unsupported(f"node '{node.name}': floor-mode MaxPool gives {floor} where "
                                  f"sqz's ceil mode gives {ceil} at this input size")
            sizes.append(ceil)
        b.height, b.width = sizes
        self.values[node.output[0]] = b._append(layer, chain, node.name)

    def _op_Concat(self, node: Any, attrs: Dict[str, Any]) -> None:
        parts = [self.value(name, node) for name in node.input]
        ok = (int(attrs.get("axis", 1)) in (1, -3) and len(parts) == 2 and
              all(isinstance(p, _Conv) and p.relu for p in parts) and
              parts[0].source is parts[1].source and isinstance(parts[0].source, _Conv) and
              parts[0].source.relu and parts[0].source.kernel == 1)
        if not ok:
            raise Unsupported(f"node '{node.name}': a Concat must join a Fire module's two "
                              f"expand convolutions (each with ReLU) on the channel axis")
        e1, e3 = parts
        if (e1.kernel, e1.pad, e3.kernel, e3.pad) != (1, 0, 3, 1) or e1.stride != 1 or \
                e3.stride != 1:
            raise Unsupported(f"node '{node.name}': a Fire module concatenates a 1x1 expand "
                              f"(pad 0) and then a 3x3 expand (pad 1), stride 1")
        squeeze = e1.source
        self.values[node.output[0]] = _Fire(node.name, squeeze.source, squeeze, e1, e3)

    def _op_Add(self, node: Any, attrs: Dict[str, Any]) -> None:
        a, b = (self.value(name, node) for name in node.input)
        fire, other = (a, b) if isinstance(a, _Fire) else (b, a)
        if not isinstance(fire, _Fire) or fire.bypass != Bypass.NONE:
            raise Unsupported(f"node '{node.name}': an Add must be a Fire module's bypass")
        if other is fire.source:
            self.values[node.output[0]] = replace(fire, bypass=Bypass.SIMPLE, node=node.name)
            return
        if isinstance(other, _Conv) and other.source is fire.source and not other.relu and \
                (other.kernel, other.stride, other.pad) == (1, 1, 0):
            self.values[node.output[0]] = replace(fire, bypass=Bypass.COMPLEX, shortcut=other,
                                                  node=node.name)
            return
        raise Unsupported(f"node '{node.name}': a bypass adds the Fire module's input, or a 1x1 "
                          f"convolution (no ReLU) of it")

    def _global_pool(self, node: Any) -> None:
        b = self.builder
        chain = b.place(self.value(node.input[0], node), node.name)
        b.final = b._append(LayerInfo.global_avgpool(b._name("avgpool")), chain, node.name)
        self.values[node.output[0]] = b.final

    def _op_GlobalAveragePool(self, node: Any, attrs: Dict[str, Any]) -> None:
        self._global_pool(node)

    def _op_AveragePool(self, node: Any, attrs: Dict[str, Any]) -> None:
        b = self.builder
        kernel = list(attrs.get("kernel_shape", []))
        if kernel != [b.height, b.width] or any(attrs.get("pads", [0])):
            raise Unsupported(f"node '{node.name}': an AveragePool must cover the whole "
                              f"{b.height}x{b.width} map (a global average pool)")
        self._global_pool(node)

    def _passthrough(self, node: Any) -> None:
        self.values[node.output[0]] = self.value(node.input[0], node)

    def _after_pool(self, node: Any) -> None:
        if self.value(node.input[0], node) is not self.builder.final:
            raise Unsupported(f"node '{node.name}': {node.op_type} is accepted only after the "
                              f"global average pool")
        self._passthrough(node)

    def _op_Dropout(self, node: Any, attrs: Dict[str, Any]) -> None:
        self._passthrough(node)  # inference: identity (a mask output is unused)

    def _op_Identity(self, node: Any, attrs: Dict[str, Any]) -> None:
        self._passthrough(node)

    def _op_Flatten(self, node: Any, attrs: Dict[str, Any]) -> None:
        self._after_pool(node)

    def _op_Reshape(self, node: Any, attrs: Dict[str, Any]) -> None:
        self._after_pool(node)

    def _op_Squeeze(self, node: Any, attrs: Dict[str, Any]) -> None:
        self._after_pool(node)

    def _op_Softmax(self, node: Any, attrs: Dict[str, Any]) -> None:
        self._after_pool(node)
        self.builder.softmax = True


def _input_size(graph: Any, constants: Set[str],
                default: Optional[int]) -> Tuple[str, int, int]:
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise Unsupported(f"the graph has {len(inputs)} inputs; a SqueezeNet has one image input")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise Unsupported(f"input '{inputs[0].name}' has {len(dims)} dimensions, not NCHW")
    if dims[1].dim_value not in (0, 3):
        raise Unsupported(f"input '{inputs[0].name}' has {dims[1].dim_value} channels, not 3")
    h, w = dims[2].dim_value, dims[3].dim_value
    if default is not None:
        h = w = default
    if not h or not w:
        h = w = 224
    return inputs[0].name, int(h), int(w)


def _apply_metadata(model: Model, meta: Dict[str, str], h: int, w: int) -> None:
    """Preprocessing and labels from sqz's metadata; a malformed entry is a FormatError."""
    try:
        if "sqz.preprocess" in meta:
            fields = json.loads(meta["sqz.preprocess"])
            if not isinstance(fields, dict):
                raise TypeError("not a JSON object")
            model.preprocess = Preprocess(**fields)
        else:
            model.preprocess = Preprocess.torchvision(min(h, w))
        if "sqz.labels" in meta:
            ids = json.loads(meta["sqz.label_ids"]) if "sqz.label_ids" in meta else None
            names = json.loads(meta["sqz.labels"])
            if not isinstance(names, list) or not (ids is None or isinstance(ids, list)):
                raise TypeError("labels are not JSON lists")
            model.set_labels([str(n) for n in names], None if ids is None else [str(i) for i in ids])
    except (ValueError, TypeError, KeyError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"malformed sqz metadata in the ONNX file: {type(e).__name__}: {e}") \
            from None


def onnx_to_model(source: Union[str, "os.PathLike[str]", Any], name: Optional[str] = None,
                  input_size: Optional[int] = None) -> Model:
    """An sqz model from an ONNX SqueezeNet-family graph (a path or an onnx.ModelProto).

    The input size is the graph input's (224 when it is dynamic) unless
    ``input_size`` is given. Preprocessing and labels come from sqz's own
    metadata when the file was exported by sqz, torchvision's otherwise.
    """
    import onnx

    if isinstance(source, (str, os.PathLike)):
        try:
            proto = onnx.load(os.fspath(source))
        except OSError:
            raise
        except Exception as e:  # protobuf's DecodeError and friends: not an ONNX file
            raise FormatError(f"{os.fspath(source)}: not a readable ONNX model: "
                              f"{type(e).__name__}: {e}") from None
    else:
        proto = source
    graph = proto.graph
    try:
        initializers = {t.name for t in graph.initializer}
        input_name, h, w = _input_size(graph, initializers, input_size)
        reader = _Reader(graph, h, w)
        reader.values[input_name] = _Chain(0)
        for node in graph.node:
            reader.read(node)
    except Error:
        raise
    except _MALFORMED as e:
        raise _malformed("the graph", e) from None
    b = reader.builder
    if b.final is None:
        raise Unsupported("the graph has no global average pool: not a SqueezeNet-family model")
    outputs = [reader.values.get(o.name) for o in graph.output]
    if len(outputs) != 1 or outputs[0] is not b.final:
        raise Unsupported("the graph's single output must be the global average pool's "
                          "(optionally flattened or softmaxed)")
    meta = {p.key: p.value for p in proto.metadata_props}
    graph_name = graph.name if isinstance(graph.name, str) else ""
    model = Model.create(name or graph_name or "onnx_model", h, w, b.layers)
    try:
        for tensor, values in b.tensors.items():
            model.set_tensor(tensor, values)
        _apply_metadata(model, meta, h, w)
    except BaseException:
        model.close()
        raise
    return model
