"""An sqz model as a standard ONNX graph (needs the ``onnx`` package).

The graph computes exactly what sqz's engines compute, with standard
operators only:

- convolution: Conv (bias as its third input) and Relu when the layer has one;
  padding as the layer says, e.g. the padding 1 of the pretrained v1.0's
  1x1 conv10;
- max pool: MaxPool with ceil_mode=1. sqz's ceil mode also drops a last
  window that would start in the right padding; where that makes the sizes
  differ, the layer is written instead as ceil_mode=0 with the extra end
  padding that gives sqz's size (max pool padding never wins a max);
- Fire: squeeze Conv+Relu, expand1x1 Conv+Relu and expand3x3 Conv(pad 1)+Relu,
  Concat on channels (1x1 first); a simple bypass adds the Fire's input
  (Add), a complex one adds a 1x1 Conv (bias, no ReLU) of the input;
- global average pool: GlobalAveragePool, then Flatten to (batch, classes),
  then Softmax when asked.

Weights are initializers named as sqz names its tensors. The batch
dimension is dynamic; height and width are the model's current input size.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from .types import Bypass, LayerInfo, LayerKind

if TYPE_CHECKING:
    import onnx

    from .model import Model

DEFAULT_OPSET = 13
INPUT_NAME = "input"


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("exporting to ONNX needs the 'onnx' package: pip install onnx") \
            from exc
    return onnx


def _ceil_pool_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """The ONNX MaxPool output size with ceil_mode=1 (the specification's formula)."""
    return -(-(size + 2 * pad - kernel) // stride) + 1


def pool_attributes(layer: LayerInfo) -> Dict[str, object]:
    """MaxPool attributes that give sqz's output size for this layer's input."""
    k, s, p = layer.kernel, layer.stride, layer.pad
    same = (_ceil_pool_size(layer.in_height, k, s, p) == layer.out_height and
            _ceil_pool_size(layer.in_width, k, s, p) == layer.out_width)
    if same:
        return {"kernel_shape": [k, k], "strides": [s, s], "pads": [p, p, p, p], "ceil_mode": 1}
    # Floor mode with end padding chosen so that the last window is sqz's last.
    end_h = (layer.out_height - 1) * s + k - layer.in_height - p
    end_w = (layer.out_width - 1) * s + k - layer.in_width - p
    return {"kernel_shape": [k, k], "strides": [s, s], "pads": [p, p, max(end_h, 0),
                                                                  max(end_w, 0)],
            "ceil_mode": 0}


class _GraphBuilder:
    """Collects nodes and initializers with readable, unique value names."""

    def __init__(self, onnx_module: Any, tensors: Dict[str, np.ndarray]) -> None:
        self.onnx = onnx_module
        self.tensors = tensors
        self.nodes: List["onnx.NodeProto"] = []
        self.initializers: List["onnx.TensorProto"] = []

    def node(self, op: str, inputs: Sequence[str], output: str, **attrs: object) -> str:
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output],
                                                     name=output, **attrs))
        return output

    def conv(self, x: str, prefix: str, output: str, pad: int, stride: int = 1,
             relu: bool = True) -> str:
        """Conv with the tensors "<prefix>.weight" / "<prefix>.bias", then Relu."""
        weight = self.tensors[f"{prefix}.weight"]
        for suffix in ("weight", "bias"):
            name = f"{prefix}.{suffix}"
            self.initializers.append(
                self.onnx.numpy_helper.from_array(self.tensors[name].astype(np.float32), name))
        k = int(weight.shape[2])
        conv_out = f"{output}.conv" if relu else output
        self.node("Conv", [x, f"{prefix}.weight", f"{prefix}.bias"], conv_out,
                  kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
        return self.node("Relu", [conv_out], output) if relu else conv_out

    def fire(self, x: str, layer: LayerInfo) -> str:
        n = layer.name
        squeeze = self.conv(x, f"{n}.squeeze", f"{n}.squeeze", pad=0)
        e1 = self.conv(squeeze, f"{n}.expand1x1", f"{n}.expand1x1", pad=0)
        e3 = self.conv(squeeze, f"{n}.expand3x3", f"{n}.expand3x3", pad=1)
        if layer.bypass == Bypass.NONE:
            return self.node("Concat", [e1, e3], n, axis=1)
        concat = self.node("Concat", [e1, e3], f"{n}.concat", axis=1)
        if layer.bypass == Bypass.SIMPLE:
            shortcut = x
        else:
            shortcut = self.conv(x, f"{n}.shortcut", f"{n}.shortcut", pad=0, relu=False)
        return self.node("Add", [concat, shortcut], n)


def _preprocess_doc(model: "Model") -> str:
    p = model.preprocess
    _, h, w = model.input_shape
    mean = ", ".join(f"{v:g}" for v in p.mean)
    scale = ", ".join(f"{v:.7g}" for v in p.scale)
    resize = (f"resize the shorter side to {p.resize_size}" if p.resize_mode == "shorter_side"
              else f"resize to {p.resize_size}x{p.resize_size}")
    return (f"Images, float32 NCHW (batch, 3, {h}, {w}), channels in {p.channel_order.upper()} "
            f"order. From 8-bit RGB: {resize}, centre crop {h}x{w}, then value = "
            f"(pixel - mean[c]) * scale[c] with pixel in 0..255, mean ({mean}), "
            f"scale ({scale}).")


def model_to_onnx(model: "Model", softmax: bool = False,
                  opset: int = DEFAULT_OPSET) -> "onnx.ModelProto":
    """The model as an ``onnx.ModelProto`` (see the module docstring)."""
    onnx = _require_onnx()
    helper = onnx.helper
    if opset < 10:
        raise ValueError(f"MaxPool's ceil_mode needs opset 10 or later, got {opset}")
    c, h, w = model.input_shape
    builder = _GraphBuilder(onnx, model.tensors())
    x = INPUT_NAME
    for layer in model.layers:
        if layer.kind == LayerKind.CONV:
            x = builder.conv(x, layer.name, layer.name, pad=layer.pad, stride=layer.stride,
                             relu=layer.relu)
        elif layer.kind == LayerKind.MAXPOOL:
            x = builder.node("MaxPool", [x], layer.name, **pool_attributes(layer))
        elif layer.kind == LayerKind.FIRE:
            x = builder.fire(x, layer)
        else:
            x = builder.node("GlobalAveragePool", [x], layer.name)
    output = builder.node("Flatten", [x], "logits", axis=1)
    if softmax:
        output = builder.node("Softmax", [output], "probs", axis=1)

    graph_input = helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT,
                                                ["batch", c, h, w])
    graph_input.doc_string = _preprocess_doc(model)
    graph_output = helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT,
                                                 ["batch", model.num_classes])
    graph_output.doc_string = ("class probabilities (softmax of the logits)" if softmax else
                               "class scores before softmax (logits)")
    graph = helper.make_graph(builder.nodes, model.name, [graph_input], [graph_output],
                              initializer=builder.initializers)
    graph.doc_string = (f"{model.name}: a SqueezeNet-family network exported by sqz "
                        f"({model.parameters} parameters). " + graph_input.doc_string)
    opset_ids = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opset_ids, producer_name="sqz",
                              producer_version=_sqz_version())
    proto.ir_version = _ir_version(onnx, opset_ids)
    proto.doc_string = graph.doc_string
    _add_metadata(onnx, proto, model)
    return proto


def _sqz_version() -> str:
    from . import __version__

    return __version__


def _ir_version(onnx: Any, opset_ids: list) -> int:
    """The oldest IR version that holds the opset, so older runtimes load the file."""
    try:
        return int(onnx.helper.find_min_ir_version_for(opset_ids))
    except Exception:
        return 7


def _add_metadata(onnx: Any, proto: "onnx.ModelProto", model: "Model") -> None:
    """Preprocessing and labels, so that importing the file back restores them."""
    p = model.preprocess
    meta = {
        "sqz.preprocess": json.dumps({"resize_mode": p.resize_mode,
                                      "resize_size": p.resize_size,
                                      "channel_order": p.channel_order,
                                      "mean": list(p.mean), "scale": list(p.scale)}),
    }
    if model.labels is not None:
        meta["sqz.labels"] = json.dumps(model.labels)
    if model.label_ids is not None:
        meta["sqz.label_ids"] = json.dumps(model.label_ids)
    onnx.helper.set_model_props(proto, meta)


def save_atomically(proto: "onnx.ModelProto", path: Union[str, "os.PathLike[str]"]) -> None:
    """Writes the model to a temporary file beside `path`, then renames it over `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".sqz-onnx-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(proto.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def input_shape(proto: "onnx.ModelProto") -> Tuple[Union[int, str], ...]:
    """The graph input's shape, with the dynamic batch as its name."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_param or d.dim_value for d in dims)
