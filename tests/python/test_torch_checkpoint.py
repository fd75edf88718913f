"""torch.save checkpoints read without PyTorch (sqz.torch_checkpoint): both
containers, every element type and layout a state_dict uses, refusal of
pickled code and of damage; and, where PyTorch is installed, agreement with
torch.save and torch.load in both directions."""

from __future__ import annotations

import io
import os
import pickle
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import sqz
import torch_files
from sqz import torch_checkpoint as tc
from sqz import torchvision_weights as tw
from test_convert import convert, torchvision_state_dict


def write(tmp_path, data: bytes, name: str = "w.pth"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_converts_like_npz(legacy, tmp_path, python_env) -> None:
    state = torchvision_state_dict("squeezenet1_1")
    state["features.3.squeeze.weight"] = state["features.3.squeeze.weight"].astype(np.float16)
    pth = write(tmp_path, torch_files.save(state, legacy=legacy))
    np.savez(tmp_path / "w.npz", **state)
    for source in (pth, tmp_path / "w.npz"):
        result = convert(python_env, source, tmp_path / f"{source.suffix[1:]}.sqzw")
        assert result.returncode == 0, result.stderr
    with sqz.Model.load(tmp_path / "pth.sqzw") as a, sqz.Model.load(tmp_path / "npz.sqzw") as b:
        assert a.name == "squeezenet1_1" and a.preprocess == sqz.Preprocess.torchvision()
        for name, value in b.tensors().items():
            np.testing.assert_array_equal(a.tensor(name), value)


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_files_pytorch_wrote(container) -> None:
    """Fixtures written by torch.save itself (tests/python/make_torch_fixtures.py,
    PyTorch 2.15), read without PyTorch."""
    path = Path(__file__).resolve().parent / "fixtures" / f"torch_saved_{container}.pth"
    obj = tc.read(path)
    assert obj["epoch"] == 3
    got = obj["state_dict"]
    w = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8
    expected = {"w": w, "row": w[1], "t": (np.arange(12, dtype=np.float32).reshape(3, 4) - 5).T,
                "h": (np.arange(5, dtype=np.float32) / 4).astype(np.float16),
                "b": np.array([1.5, -2.0, 3.0], np.float32), "n": np.array(7, np.int64),
                "p": np.full((2, 2), 0.5, np.float32)}
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value)
    assert sorted(tc.state_dict(obj)) == sorted(expected)


def test_element_types_byte_order_and_layouts(tmp_path) -> None:
    rng = np.random.default_rng(1)
    values = {np.float32: rng.standard_normal(6).astype(np.float32),
              np.float64: rng.standard_normal(6), np.float16: np.arange(6, dtype=np.float16),
              np.int64: np.arange(6, dtype=np.int64) - 3}
    for dtype, value in values.items():
        tensors, storages = torch_files.layout({"t": value.reshape(2, 3)})
        got = tc.read(write(tmp_path, torch_files.zip_bytes(
            torch_files.object_pickle(tensors, False), storages)))["t"]
        assert got.dtype == np.dtype(dtype) and got.shape == (2, 3)
        np.testing.assert_array_equal(got, value.reshape(2, 3))

    # Big-endian storages, a transposed view with an offset, two tensors on one storage.
    base = np.arange(12, dtype=np.float32)
    tensors = {"whole": torch_files.Tensor("0", np.float32, 12, 0, (12,), (1,)),
               "t": torch_files.Tensor("0", np.float32, 12, 2, (3, 2), (1, 3)),
               "p": torch_files.Tensor("0", np.float32, 12, 0, (), (), parameter=True)}
    data = torch_files.zip_bytes(torch_files.object_pickle(tensors, False),
                                 {"0": base.astype(">f4").tobytes()}, prefix="w",
                                 byteorder=b"big")
    got = tc.read(write(tmp_path, data))
    np.testing.assert_array_equal(got["whole"], base)
    np.testing.assert_array_equal(got["t"], base[2:8].reshape(2, 3).T)
    assert got["p"].shape == () and got["p"] == 0
    got["t"][0, 0] = -1  # arrays own their memory
    assert got["whole"][2] == 2

    # bfloat16: the upper 16 bits of a float32.
    bits = (np.array([1.5, -2.0, 3.0], np.float32).view(np.uint32) >> 16).astype("<u2")
    tensors = {"b": torch_files.Tensor("0", np.float32, 3, 0, (3,), (1,))}
    pkl = torch_files.object_pickle(tensors, False).replace(b"FloatStorage", b"BFloat16Storage")
    got = tc.read(write(tmp_path, torch_files.zip_bytes(pkl, {"0": bits.tobytes()})))
    np.testing.assert_array_equal(got["b"], [1.5, -2.0, 3.0])


def test_wrapped_and_prefixed_state_dicts(tmp_path) -> None:
    state = torchvision_state_dict("squeezenet1_0")
    prefixed = {f"module.{k}": v for k, v in state.items()}
    for legacy in (False, True):
        path = write(tmp_path, torch_files.save(prefixed, legacy=legacy, wrap="state_dict"))
        with tw.state_dict_to_model(tw.load_torch_state_dict(path)) as model:
            assert model.name == "squeezenet1_0"
            np.testing.assert_array_equal(model.tensor("conv10.bias"),
                                          state["classifier.1.bias"])


def test_pickled_code_is_refused_not_run(tmp_path) -> None:
    marker = tmp_path / "ran"
    evil = (b"\x80\x02" + torch_files._global("os", "system")
            + torch_files._text(f"touch {marker}") + b"\x85R.")
    path = write(tmp_path, torch_files.zip_bytes(evil, {}))
    with pytest.raises(sqz.FormatError, match="os.system|posix.system") as info:
        tc.read(path)
    assert not isinstance(info.value, tc.Unsupported)  # never handed to torch.load
    legacy = write(tmp_path, torch_files.legacy_bytes(evil, {}, {}), "legacy.pth")
    with pytest.raises(sqz.FormatError, match="system"):
        tw.load_torch_state_dict(legacy)
    assert not marker.exists()


def test_damage_is_a_format_error_naming_the_file(tmp_path) -> None:
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    cases = {}
    tensors, storages = torch_files.layout(state)
    past = {"w": torch_files.Tensor("0", np.float32, 6, 4, (2, 3), (3, 1))}
    cases["past its storage"] = torch_files.zip_bytes(torch_files.object_pickle(past, False),
                                                      storages)
    cases["has no entry"] = torch_files.zip_bytes(torch_files.object_pickle(tensors, False), {})
    cases["fewer than"] = torch_files.zip_bytes(torch_files.object_pickle(tensors, False),
                                                {"0": b"\0" * 8})
    cases["data.pkl entries"] = torch_files.zip_bytes(b"", {}).replace(b"data.pkl", b"data.xyz")
    cases["damaged pickle"] = torch_files.zip_bytes(b"\x80\x02}(", {})
    cases["magic number"] = b"\x80\x02K\x07."
    negative = {"w": torch_files.Tensor("0", np.float32, 6, 0, (2, 3), (-3, 1))}
    cases["negative"] = torch_files.zip_bytes(torch_files.object_pickle(negative, False),
                                              storages)
    for expected, data in cases.items():
        path = write(tmp_path, data, "bad.pth")
        with pytest.raises(sqz.FormatError, match=expected) as info:
            tw.load_torch_state_dict(path)
        assert str(path) in str(info.value)


def test_big_endian_legacy_and_a_wrong_key_list(tmp_path) -> None:
    state = {"a": np.arange(5, dtype=np.float32), "b": np.arange(3, dtype=np.int64)}
    tensors, storages = torch_files.layout(state)
    pkl = torch_files.object_pickle(tensors, True)
    got = tc.read(write(tmp_path, torch_files.legacy_bytes(pkl, tensors, storages, little=False)))
    np.testing.assert_array_equal(got["a"], state["a"])
    np.testing.assert_array_equal(got["b"], state["b"])
    wrong = torch_files.legacy_bytes(pkl, tensors, storages).replace(
        pickle.dumps(["0", "1"], protocol=2), pickle.dumps(["0", "7"], protocol=2))
    with pytest.raises(sqz.FormatError, match="storage list"):
        tc.read(write(tmp_path, wrong, "wrong.pth"))


def test_scalar_bfloat16_is_kept(tmp_path) -> None:
    tensors = {"s": torch_files.Tensor("0", np.float32, 1, 0, (), ())}
    pkl = torch_files.object_pickle(tensors, False).replace(b"FloatStorage", b"BFloat16Storage")
    bits = (np.array([2.5], np.float32).view(np.uint32) >> 16).astype("<u2")
    got = tw.load_torch_state_dict(write(tmp_path, torch_files.zip_bytes(pkl, {"0": bits.tobytes()})))
    assert got["s"].shape == () and got["s"] == 2.5


def _memo(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)  # LONG_BINPUT


def _get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)  # LONG_BINGET


def test_small_files_cannot_ask_for_much_memory_or_time(tmp_path) -> None:
    # One 4 KB storage rebuilt 5,000 times by repeating a memoized call (5
    # bytes each): 20 MB of arrays from a 30 KB file.
    tensor = torch_files.Tensor("0", np.float32, 1000, 0, (1000,), (1,))
    call = tensor.pickle(False)
    head, args = call.split(b"(", 1)  # GLOBAL rebuild, then MARK args... TUPLE REDUCE
    assert args.endswith(b"tR")
    body = (b"\x80\x02(" + head + _memo(0) + b"(" + args[:-1] + _memo(1) + b"R"
            + (_get(0) + _get(1) + b"R") * 5000 + b"l.")
    amplified = torch_files.zip_bytes(body, {"0": bytes(4000)})
    with pytest.raises(sqz.FormatError, match="rebuilt come to"):
        tc.read(write(tmp_path, amplified))

    # A storage compressed 1000:1 is refused: torch.save stores entries.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", torch_files.object_pickle({"t": tensor}, False))
        z.writestr("archive/data/0", bytes(4000))
    with pytest.raises(sqz.FormatError, match="compressed"):
        tc.read(write(tmp_path, out.getvalue(), "deflated.pth"))

    # Tuples nested 60 deep, each holding the one below twice (memo gets):
    # their repr would double per level, so no message may print them.
    chain = b"\x80\x02)" + _memo(0)
    for i in range(60):
        chain += _get(i) + _get(i) + b"\x86" + _memo(i + 1)
    as_protocol = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + chain + b".")
    as_reference = (b"\x80\x02(" + torch_files._text("storage") + chain[2:]
                    + torch_files._text("0") + torch_files._text("cpu") + torch_files._int(1)
                    + b"tQ.")
    start = time.monotonic()
    for name, data in (("protocol", as_protocol), ("reference", as_reference)):
        with pytest.raises(sqz.FormatError):
            tc.read(write(tmp_path, data if name == "protocol" else
                          torch_files.zip_bytes(data, {}), f"{name}.pth"))
    assert time.monotonic() - start < 10


def test_a_pickle_cannot_change_the_readers_types(tmp_path) -> None:
    # BUILD on torch.FloatStorage with a new dtype, then a 3000-digit protocol.
    build = (b"\x80\x02" + torch_files._global("torch", "FloatStorage") + b"}"
             + torch_files._text("dtype") + torch_files._text("float64") + b"sb.")
    for data in (torch_files.zip_bytes(build, {}),
                 pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
                 + pickle.dumps(10 ** 3000, protocol=2)):
        with pytest.raises(sqz.FormatError):
            tc.read(write(tmp_path, data))
    state = {"w": np.arange(4, dtype=np.float32)}
    np.testing.assert_array_equal(tc.read(write(tmp_path, torch_files.save(state)))["w"],
                                  state["w"])


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_every_truncation_is_a_format_error(legacy, tmp_path) -> None:
    data = torch_files.save({"a": np.arange(4, dtype=np.float32),
                             "b": np.ones((2, 2), np.float16)}, legacy=legacy)
    path = tmp_path / "cut.pth"
    for length in range(len(data)):
        path.write_bytes(data[:length])
        with pytest.raises(sqz.FormatError):
            tc.read(path)
    path.write_bytes(data)
    assert sorted(tc.read(path)) == ["a", "b"]


def test_convert_without_torch_needs_no_torch(tmp_path, python_env) -> None:
    """python -m sqz.convert reads .pth with torch's import made impossible."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is blocked in this test')\n")
    env = {**python_env, "PYTHONPATH": f"{blocker}{os.pathsep}{python_env['PYTHONPATH']}"}
    path = write(tmp_path, torch_files.save(torchvision_state_dict("squeezenet1_1"), legacy=True))
    result = convert(env, path, tmp_path / "o.sqzw")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o.sqzw").stat().st_size > 4 * 1_000_000


# ------------------------------------------------------- with PyTorch only

@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_reads_what_torch_saves(zipfile, tmp_path) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    generator = torch.Generator().manual_seed(0)
    state = {"w": torch.randn(4, 3, 3, 3, generator=generator),
             "h": torch.randn(5, generator=generator).half(),
             "t": torch.randn(3, 4, generator=generator).t(),
             "n": torch.tensor(7)}
    state["view"] = state["w"][1:3]
    torch.save(state, tmp_path / "t.pth", _use_new_zipfile_serialization=zipfile)
    got = tc.read(tmp_path / "t.pth")
    for key, value in state.items():
        np.testing.assert_array_equal(got[key], value.numpy())


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_reads_what_the_test_writer_writes(legacy, tmp_path) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float16)}
    path = write(tmp_path, torch_files.save(state, legacy=legacy))
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key].numpy(), value)
