"""sqz.Model: construction, queries, labels, tensors, files, errors."""

from __future__ import annotations

import numpy as np
import pytest

import sqz
from sqz import LayerInfo, LayerKind


def test_builtin_names_and_sizes() -> None:
    assert sqz.Model.builtin_names() == ["squeezenet1_0", "squeezenet1_1",
                                         "squeezenet1_0_simple_bypass",
                                         "squeezenet1_0_complex_bypass"]
    with sqz.Model.builtin("squeezenet1_0") as v10, sqz.Model.builtin("squeezenet1_1") as v11:
        assert v10.parameters == 1248424 and v11.parameters == 1235496
        assert v10.input_shape == (3, 224, 224) and v10.num_classes == 1000
        assert 800e6 < v10.macs < 840e6 and 340e6 < v11.macs < 360e6
        assert v10.labels is None and v10.label_ids is None
        assert [layer.name for layer in v11.layers][:4] == ["conv1", "pool1", "fire2", "fire3"]


def test_layers_report_shapes_and_bypass() -> None:
    with sqz.Model.builtin("squeezenet1_0_complex_bypass") as model:
        layers = {layer.name: layer for layer in model.layers}
        assert layers["conv1"].kind == LayerKind.CONV and layers["conv1"].out_height == 109
        assert layers["fire2"].bypass == sqz.Bypass.COMPLEX
        assert layers["fire3"].bypass == sqz.Bypass.SIMPLE
        assert layers["avgpool"].out_channels == 1000
        assert sum(layer.params for layer in layers.values()) == model.parameters


def test_set_input_size_changes_shapes_and_macs() -> None:
    with sqz.Model.builtin("squeezenet1_1") as model:
        macs = model.macs
        model.set_input_size(227)
        assert model.input_shape == (3, 227, 227) and model.macs > macs
        model.set_input_size(200, 260)
        assert model.input_shape == (3, 200, 260)
        with pytest.raises(sqz.InvalidArgument, match="too small"):
            model.set_input_size(8)


def test_metaparameters() -> None:
    with sqz.Model.from_metaparameters() as v10, sqz.Model.builtin("squeezenet1_0") as ref:
        assert v10.parameters == ref.parameters
    with sqz.Model.from_metaparameters(squeeze_ratio=1.0, pct_3x3=0.99, bypass="simple",
                                       num_classes=10, input_size=160) as model:
        fire2 = next(layer for layer in model.layers if layer.name == "fire2")
        assert (fire2.squeeze, fire2.expand1x1, fire2.expand3x3) == (128, 1, 127)
        assert model.num_classes == 10 and model.input_shape == (3, 160, 160)
    with pytest.raises(sqz.InvalidArgument, match="pct_3x3"):
        sqz.Model.from_metaparameters(pct_3x3=1.5)
    with pytest.raises(sqz.InvalidArgument, match="bypass"):
        sqz.Model.from_metaparameters(bypass="sideways")


def _v11_layers():
    layers = [LayerInfo.conv("conv1", 64, 3, 2), LayerInfo.maxpool("pool1")]
    sizes = [(16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256),
             (64, 256)]
    for i, (s, e) in enumerate(sizes):
        layers.append(LayerInfo.fire(f"fire{i + 2}", s, e, e))
        if i in (1, 3):
            layers.append(LayerInfo.maxpool(f"pool{i + 2}"))
    return layers + [LayerInfo.conv("conv10", 1000, 1), LayerInfo.global_avgpool()]


def test_create_from_layers_matches_builtin() -> None:
    with sqz.Model.builtin("squeezenet1_1", seed=5) as ref, \
            sqz.Model.create("mine", 224, 224, _v11_layers()) as model:
        assert model.name == "mine" and model.parameters == ref.parameters
        assert not any(np.any(v) for v in model.tensors().values())  # zero weights
        for name, value in ref.tensors().items():
            model.set_tensor(name, value)
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
        with ref.engine(backend="cpu") as a, model.engine(backend="cpu") as b:
            np.testing.assert_array_equal(a.run(x), b.run(x))


def test_create_accepts_dicts_and_reports_bad_layers() -> None:
    layers = [dict(name="conv1", kind=LayerKind.CONV, out_channels=8, kernel=3, stride=1,
                   relu=True), dict(name="gap", kind=LayerKind.GLOBAL_AVGPOOL)]
    with sqz.Model.create("tiny", 16, 16, layers) as model:
        assert model.num_classes == 8
    with pytest.raises(sqz.InvalidArgument, match="first"):
        sqz.Model.create("bad", 16, 16, [LayerInfo.maxpool("p"), LayerInfo.global_avgpool()])


def test_tensors_round_trip_and_validation() -> None:
    with sqz.Model.builtin("squeezenet1_1") as model:
        tensors = model.tensors()
        assert tensors["conv1.weight"].shape == (64, 3, 3, 3)
        assert tensors["fire2.squeeze.bias"].shape == (16,)
        assert sum(v.size for v in tensors.values()) == model.parameters
        new = np.full((64, 3, 3, 3), 0.5, dtype=np.float64)
        model.set_tensor("conv1.weight", new)
        np.testing.assert_array_equal(model.tensor("conv1.weight"), new.astype(np.float32))
        with pytest.raises(sqz.InvalidArgument, match="shape"):
            model.set_tensor("conv1.weight", np.zeros((64, 3, 3)))
        with pytest.raises(sqz.InvalidArgument, match="no tensor"):
            model.set_tensor("conv99.weight", np.zeros(1))
        with pytest.raises(sqz.InvalidArgument, match="finite"):
            model.set_tensor("conv1.bias", np.full(64, np.nan))


def test_save_and_load(tmp_path) -> None:
    path = tmp_path / "m.sqzw"
    with sqz.Model.builtin("squeezenet1_0_simple_bypass", seed=7) as model:
        model.set_labels([f"class {i}" for i in range(1000)], [f"id{i}" for i in range(1000)])
        model.save(path)
        with sqz.Model.load(path) as loaded:
            assert loaded.name == model.name
            assert loaded.labels[3] == "class 3" and loaded.label_ids[3] == "id3"
            assert loaded.find_label_id("id42") == 42
            for name, value in model.tensors().items():
                np.testing.assert_array_equal(loaded.tensor(name), value)


def test_load_errors(tmp_path) -> None:
    with pytest.raises(sqz.IOError) as info:
        sqz.Model.load(tmp_path / "missing.sqzw")
    assert isinstance(info.value, OSError) and "missing.sqzw" in str(info.value)
    bad = tmp_path / "bad.sqzw"
    bad.write_bytes(b"\x89SQZW\r\n\x1a" + b"\0" * 40)
    with pytest.raises(sqz.FormatError, match="bad.sqzw"):
        sqz.Model.load(bad)
    with pytest.raises(sqz.InvalidArgument) as info:
        sqz.Model.builtin("squeezenet2_0")
    assert isinstance(info.value, ValueError) and info.value.status == 1


def test_labels(deep_compression, data) -> None:
    model = deep_compression
    assert model.labels[0] == "tench" and model.label_ids[0] == "n01440764"
    assert model.find_label_id("n01530575") == 10 and model.find_label_id("nope") == -1
    with pytest.raises(sqz.InvalidArgument):
        model.set_labels(["only one"])
    with pytest.raises(sqz.Error):
        model.load_labels(data / "README.md")  # wrong line count


def test_preprocess(deep_compression) -> None:
    p = deep_compression.preprocess
    assert (p.resize_mode, p.resize_size, p.channel_order) == ("stretch", 256, "bgr")
    assert p.mean == (104.0, 117.0, 123.0) and p.scale == (1.0, 1.0, 1.0)
    with sqz.Model.builtin("squeezenet1_1") as model:
        tv = model.preprocess
        assert tv.channel_order == "rgb" and tv.resize_size == 256
        assert tv.mean == pytest.approx(sqz.Preprocess.torchvision().mean)
        model.preprocess = sqz.Preprocess.caffe()
        assert model.preprocess.channel_order == "bgr"
        with pytest.raises(sqz.InvalidArgument):
            model.preprocess = sqz.Preprocess(scale=(0.0, 1.0, 1.0))


def test_closed_model_raises() -> None:
    model = sqz.Model.builtin("squeezenet1_1")
    model.close()
    model.close()  # twice is fine
    assert model.closed and "closed" in repr(model)
    with pytest.raises(sqz.InvalidArgument, match="closed"):
        _ = model.num_classes
    with pytest.raises(sqz.InvalidArgument, match="closed"):
        model.engine(backend="cpu")
    with pytest.raises(TypeError):
        sqz.Model(0)
