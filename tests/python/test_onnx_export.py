"""ONNX export: a valid, standard, documented graph with sqz's exact structure.

onnx is required (scripts/test.sh installs it): a missing package fails.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import onnx
import pytest

import sqz
from sqz.export_onnx import main as export_main
from sqz.onnx_export import input_shape, pool_attributes

STANDARD_OPS = {"Conv", "Relu", "MaxPool", "Concat", "Add", "GlobalAveragePool", "Flatten",
                "Softmax"}


@pytest.mark.parametrize("name", sqz.Model.builtin_names())
def test_builtins_pass_the_checker(name) -> None:
    with sqz.Model.builtin(name) as model:
        proto = model.to_onnx()
        onnx.checker.check_model(proto, full_check=True)
        ops = Counter(node.op_type for node in proto.graph.node)
        assert set(ops) <= STANDARD_OPS
        assert ops["GlobalAveragePool"] == 1 and ops["Softmax"] == 0
        assert input_shape(proto) == ("batch", 3, 224, 224)
        assert {i.name for i in proto.graph.initializer} == set(model.tensors())
        assert proto.graph.input[0].name == "input" and proto.graph.input[0].doc_string
        assert proto.graph.output[0].name == "logits"
        pools = [n for n in proto.graph.node if n.op_type == "MaxPool"]
        assert len(pools) == 3
        assert all(onnx.helper.get_attribute_value(a) == 1
                   for n in pools for a in n.attribute if a.name == "ceil_mode")
        assert proto.opset_import[0].version >= 10


def test_bypass_structure() -> None:
    with sqz.Model.builtin("squeezenet1_0_complex_bypass") as model:
        proto = model.to_onnx()
    nodes = {n.name: n for n in proto.graph.node}
    adds = [n for n in proto.graph.node if n.op_type == "Add"]
    assert len(adds) == 8
    # fire3: identity shortcut (the Fire input is fire2's output).
    assert list(nodes["fire3"].input) == ["fire3.concat", "fire2"]
    # fire4: 1x1 conv with bias on fire3's output, no ReLU, added after the concat.
    assert list(nodes["fire4"].input) == ["fire4.concat", "fire4.shortcut"]
    shortcut = nodes["fire4.shortcut"]
    assert shortcut.op_type == "Conv"
    assert list(shortcut.input) == ["fire3", "fire4.shortcut.weight", "fire4.shortcut.bias"]
    consumers = [n.op_type for n in proto.graph.node if "fire4.shortcut" in n.input]
    assert consumers == ["Add"]  # no ReLU on the shortcut

def test_deep_compression_conv10_has_padding_one(deep_compression) -> None:
    proto = deep_compression.to_onnx(softmax=True)
    onnx.checker.check_model(proto, full_check=True)
    conv10 = next(n for n in proto.graph.node if n.name == "conv10.conv")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in conv10.attribute}
    assert attrs["kernel_shape"] == [1, 1] and attrs["pads"] == [1, 1, 1, 1]
    assert proto.graph.output[0].name == "probs"
    assert input_shape(proto) == ("batch", 3, 227, 227)
    assert "BGR" in proto.graph.input[0].doc_string
    meta = {p.key for p in proto.metadata_props}
    assert {"sqz.preprocess", "sqz.labels", "sqz.label_ids"} <= meta


def test_pool_fallback_when_ceil_modes_differ() -> None:
    # 5 wide, kernel 2, stride 2, pad 1: ONNX ceil gives 4, sqz drops the
    # window that would start in the right padding and gives 3.
    layer = sqz.LayerInfo.maxpool("p", 2, 2, 1)
    layer.in_height = layer.in_width = 5
    layer.out_height = layer.out_width = 3
    attrs = pool_attributes(layer)
    assert attrs["ceil_mode"] == 0 and attrs["pads"] == [1, 1, 0, 0]
    layer.in_height = layer.in_width = 6
    layer.out_height = layer.out_width = 4
    assert pool_attributes(layer)["ceil_mode"] == 1


def test_export_cli(tmp_path, python_env) -> None:
    out = tmp_path / "v11.onnx"
    assert export_main(["builtin:squeezenet1_1", str(out), "--input-size", "227"]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert input_shape(proto) == ("batch", 3, 227, 227)
    result = subprocess.run([sys.executable, "-m", "sqz.export_onnx", "builtin:nope",
                             str(tmp_path / "x.onnx")], capture_output=True, text=True,
                            env=python_env)
    assert result.returncode == 1 and "nope" in result.stderr
    assert not (tmp_path / "x.onnx").exists()
