"""Weight conversion: torchvision state_dicts (.npz; .pth with torch) and ONNX graphs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest

import sqz
from sqz import torchvision_weights as tw
from sqz.onnx_import import onnx_to_model


def torchvision_state_dict(arch: str, seed: int = 3) -> dict:
    """A state_dict with torchvision's keys and shapes (from an sqz built-in)."""
    with sqz.Model.builtin(arch, seed=seed) as model:
        return {tw.torchvision_key(name, arch): value for name, value in model.tensors().items()}


def convert(python_env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sqz.convert", *map(str, args)],
                          capture_output=True, text=True, env=python_env)


@pytest.mark.parametrize("arch", tw.ARCHS)
def test_npz_state_dict_converts(arch, tmp_path, data, python_env) -> None:
    state = torchvision_state_dict(arch)
    np.savez(tmp_path / "sd.npz", **state)
    out = tmp_path / "out.sqzw"
    result = convert(python_env, tmp_path / "sd.npz", out, "--arch", arch, "--labels",
                     data / "synset_words.txt")
    assert result.returncode == 0, result.stderr
    with sqz.Model.load(out) as model, sqz.Model.builtin(arch, seed=3) as ref:
        assert model.name == arch and model.labels[0] == "tench"
        assert model.preprocess == ref.preprocess
        for name, value in ref.tensors().items():
            np.testing.assert_array_equal(model.tensor(name), value)


def test_wrong_arch_and_bad_keys_are_reported(tmp_path, python_env) -> None:
    state = torchvision_state_dict("squeezenet1_1")
    np.savez(tmp_path / "sd.npz", **state)
    result = convert(python_env, tmp_path / "sd.npz", tmp_path / "o.sqzw", "--arch",
                     "squeezenet1_0")
    assert result.returncode == 1 and "squeezenet1_1" in result.stderr
    assert not (tmp_path / "o.sqzw").exists()

    extra = {**state, "features.13.weight": np.zeros(3)}
    with pytest.raises(sqz.FormatError, match="unknown keys.*features.13.weight"):
        tw.state_dict_to_model(extra)
    wrong = {**state, "features.3.squeeze.bias": np.zeros(17)}
    with pytest.raises(sqz.FormatError, match="features.3.squeeze"):
        tw.state_dict_to_model(wrong)
    with pytest.raises(sqz.FormatError, match="features.0.weight"):
        tw.state_dict_to_model({"features.0.weight": np.zeros((32, 3, 5, 5))})
    missing = convert(python_env, tmp_path / "nothing.pth", tmp_path / "o.sqzw")
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_data_parallel_prefix_and_other_class_count() -> None:
    state = torchvision_state_dict("squeezenet1_1")
    state["classifier.1.weight"] = state["classifier.1.weight"][:10]
    state["classifier.1.bias"] = state["classifier.1.bias"][:10]
    with tw.state_dict_to_model({f"module.{k}": v for k, v in state.items()}) as model:
        assert model.num_classes == 10 and model.name == "squeezenet1_1"


def test_deep_compression_relabel(tmp_path, data, python_env) -> None:
    out = tmp_path / "v10.sqzw"
    result = convert(python_env, data / "squeezenet_v1.0_deep_compression.net", out,
                     "--labels", data / "synset_words.txt")
    assert result.returncode == 0, result.stderr
    with sqz.Model.load(out) as model:
        assert model.input_shape == (3, 227, 227) and model.label_ids[0] == "n01440764"
        assert model.preprocess == sqz.Preprocess.caffe()


def torchvision_style_onnx(arch: str) -> onnx.ModelProto:
    """An sqz export rewritten as torchvision's exporter names things, with a Dropout."""
    with sqz.Model.builtin(arch, seed=9) as model:
        proto = model.to_onnx()
    rename = {name: tw.torchvision_key(name, arch) for name in model_tensor_names(proto)}
    for init in proto.graph.initializer:
        init.name = rename[init.name]
    for node in proto.graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.name = "/" + node.name.replace(".", "/")
    conv10 = next(n for n in proto.graph.node if list(n.input[1:2]) == ["classifier.1.weight"])
    dropout = onnx.helper.make_node("Dropout", [conv10.input[0]], ["dropped"],
                                    name="/classifier/classifier.0/Dropout")
    conv10.input[0] = "dropped"
    nodes = list(proto.graph.node)
    nodes.insert(nodes.index(conv10), dropout)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    del proto.metadata_props[:]
    proto.graph.name = "main_graph"
    return proto


def model_tensor_names(proto: onnx.ModelProto):
    return [init.name for init in proto.graph.initializer]


@pytest.mark.parametrize("arch", tw.ARCHS)
def test_onnx_import_torchvision_style(arch, tmp_path, python_env) -> None:
    proto = torchvision_style_onnx(arch)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp_path / "tv.onnx"))
    result = convert(python_env, tmp_path / "tv.onnx", tmp_path / "tv.sqzw", "--arch", arch)
    assert result.returncode == 0, result.stderr
    with sqz.Model.load(tmp_path / "tv.sqzw") as model, \
            sqz.Model.builtin(arch, seed=9) as ref:
        assert model.name == arch and model.preprocess == sqz.Preprocess.torchvision()
        assert [(layer.name, layer.kind) for layer in model.layers] == \
            [(layer.name, layer.kind) for layer in ref.layers]
        for name, value in ref.tensors().items():
            np.testing.assert_array_equal(model.tensor(name), value)


def test_onnx_round_trip_keeps_everything(deep_compression) -> None:
    with onnx_to_model(deep_compression.to_onnx(softmax=True)) as back:
        assert back.labels == deep_compression.labels
        assert back.preprocess == deep_compression.preprocess
        assert [layer.pad for layer in back.layers] == \
            [layer.pad for layer in deep_compression.layers]  # conv10's padding 1
        for name, value in deep_compression.tensors().items():
            np.testing.assert_array_equal(back.tensor(name), value)


def test_onnx_import_rejects_other_networks() -> None:
    proto = sqz.Model.builtin("squeezenet1_1").to_onnx()
    relu = next(n for n in proto.graph.node if n.op_type == "Relu")
    relu.op_type = "Sigmoid"
    with pytest.raises(sqz.Unsupported, match=f"{relu.name}.*Sigmoid"):
        onnx_to_model(proto)


# ------------------------------------------------------- with PyTorch only

@pytest.mark.parametrize("arch", tw.ARCHS)
def test_pth_from_torchvision_gives_torchvision_logits(arch, tmp_path, python_env) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed")
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval()
    torch.save(net.state_dict(), tmp_path / "w.pth")
    result = convert(python_env, tmp_path / "w.pth", tmp_path / "w.sqzw")
    assert result.returncode == 0, result.stderr
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    with sqz.Model.load(tmp_path / "w.sqzw") as model, \
            model.engine(backend="cpu", max_batch=2) as engine:
        ours = engine.run(x)
    assert np.abs(ours - expected).max() / np.abs(expected).max() < 1e-4
