"""The GPU-array plumbing, checked on the CPU: DLPack capsules and the CUDA array
interface are parsed the same way whatever the device, and stream arguments."""

from __future__ import annotations

import numpy as np
import pytest

import sqz
from sqz import _device_arrays as da
from sqz.engine import stream_handle


class FakeCudaArray:
    def __init__(self, shape, typestr="<f4", strides=None, pointer=0x7F0000000000):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr,
                                         "data": (pointer, False), "strides": strides,
                                         "version": 3, "stream": 1}


def test_dlpack_capsule_is_read_in_place() -> None:
    # numpy exports CPU DLPack capsules: the same structures a GPU producer fills.
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    d = da._from_dlpack(x, stream=None)
    assert d.pointer == x.ctypes.data and d.shape == x.shape
    assert d.dtype == np.float32 and d.contiguous
    view = x[:, :, :, ::2]
    dv = da._from_dlpack(view, stream=None)
    assert dv.pointer == view.ctypes.data and not dv.contiguous
    sliced = x[1:]
    assert da._from_dlpack(sliced, stream=None).pointer == sliced.ctypes.data
    images = np.zeros((1, 8, 8, 3), np.uint8)
    assert da._from_dlpack(images, stream=None).dtype == np.uint8


def test_cuda_array_interface_is_parsed() -> None:
    d = da.describe(FakeCudaArray((2, 3, 4, 4)))
    assert d.pointer == 0x7F0000000000 and d.shape == (2, 3, 4, 4) and d.contiguous
    assert d.dtype == np.float32
    strided = da.describe(FakeCudaArray((2, 3), strides=(4, 8)))
    assert not strided.contiguous
    explicit = da.describe(FakeCudaArray((2, 3), strides=(12, 4)))
    assert explicit.contiguous
    assert da.describe(FakeCudaArray((1, 3), strides=(999, 4))).contiguous  # size-1 axis


def test_device_array_detection() -> None:
    assert da.is_device_array(FakeCudaArray((1,)))
    assert not da.is_device_array(np.zeros(3))

    class CudaDLPack:
        def __dlpack_device__(self):
            return (2, 0)

    class HostDLPack:
        def __dlpack_device__(self):
            return (1, 0)

    assert da.is_device_array(CudaDLPack()) and not da.is_device_array(HostDLPack())


def test_unknown_framework_needs_out() -> None:
    with pytest.raises(sqz.Unsupported, match="out="):
        da.empty_like_framework(FakeCudaArray((1,)), (1, 10))


def test_stream_arguments() -> None:
    class TorchLike:
        cuda_stream = 1234

    class CupyLike:
        ptr = 5678

    assert stream_handle(None) is None and stream_handle(42) == 42
    assert stream_handle(TorchLike()) == 1234 and stream_handle(CupyLike()) == 5678
    with pytest.raises(sqz.InvalidArgument, match="stream"):
        stream_handle("default")
    with pytest.raises(sqz.InvalidArgument):
        stream_handle(-1)


def test_host_dlpack_input_runs_without_copy() -> None:
    class HostTensor:
        """A CPU tensor of some other framework, seen only through DLPack."""

        def __init__(self, array):
            self.array = array

        def __dlpack__(self, stream=None):
            return self.array.__dlpack__()

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    with sqz.Model.builtin("squeezenet1_1") as model, model.engine(backend="cpu") as engine:
        np.testing.assert_array_equal(engine.run(HostTensor(x)), engine.run(x))
        with model.engine(backend="cpu") as other:
            engine.set_stream(None)  # recorded and ignored on the cpu backend
            np.testing.assert_array_equal(other.run(x, stream=0), engine.run(x))


def test_refusing_cuda_array_gives_a_clear_error() -> None:
    class RequiresGrad:
        @property
        def __cuda_array_interface__(self):
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires "
                               "grad")

    assert da.is_device_array(RequiresGrad())
    with pytest.raises(sqz.InvalidArgument, match="requires grad"):
        da.describe(RequiresGrad())
