"""GPU paths: PyTorch (and CuPy) CUDA arrays in and out without copies, streams,
and torchvision's SqueezeNet against sqz on the GPU.

Skipped with the reason when PyTorch with CUDA, a GPU, or a libsqz with GPU
backends is missing (CI has none of them; the GPU machine has all).
"""

from __future__ import annotations

import numpy as np
import pytest

import sqz
from sqz import torchvision_weights as tw

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

if not torch.cuda.is_available():
    pytest.skip("PyTorch sees no CUDA device", allow_module_level=True)
if not any(sqz.backend_is_built(b) for b in ("fused", "cudnn", "unfused")):
    pytest.skip("libsqz was built without GPU backends", allow_module_level=True)

REL_TOLERANCE = 1e-4


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def model():
    m = sqz.Model.builtin("squeezenet1_1", seed=0)
    yield m
    m.close()


@pytest.fixture(scope="module")
def gpu_engine(model):
    try:
        engine = model.engine(backend="auto", max_batch=4, allow_tf32=False)
    except sqz.NoDevice as exc:
        pytest.skip(f"no usable GPU for sqz: {exc}")
    if engine.backend == "cpu":
        engine.close()
        pytest.skip("backend auto chose cpu: no usable GPU backend")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((3, 3, 224, 224), dtype=np.float32)


@pytest.fixture(scope="module")
def expected(model, x) -> np.ndarray:
    with model.engine(backend="cpu", max_batch=3) as cpu:
        return cpu.run(x)


def test_numpy_in_numpy_out(gpu_engine, x, expected) -> None:
    out = gpu_engine.run(x)
    assert isinstance(out, np.ndarray)
    assert max_rel_diff(out, expected) < REL_TOLERANCE


def test_torch_cuda_tensor_on_callers_stream(gpu_engine, x, expected) -> None:
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        xt = torch.from_numpy(x).cuda(non_blocking=True)  # enqueued on `stream`
        out = gpu_engine.run(xt)
    assert isinstance(out, torch.Tensor) and out.is_cuda and out.device == xt.device
    assert out.shape == (3, 1000) and out.dtype == torch.float32
    assert max_rel_diff(out.cpu().numpy(), expected) < REL_TOLERANCE


def test_torch_explicit_stream_and_out(gpu_engine, x, expected) -> None:
    stream = torch.cuda.Stream()
    xt = torch.from_numpy(x).cuda()
    torch.cuda.synchronize()
    out = torch.empty((3, 1000), device="cuda")
    assert gpu_engine.run(xt, stream=stream, out=out) is out
    assert max_rel_diff(out.cpu().numpy(), expected) < REL_TOLERANCE
    assert max_rel_diff(gpu_engine.run(xt, stream=stream.cuda_stream).cpu().numpy(),
                        expected) < REL_TOLERANCE


def test_torch_default_stream_nhwc_and_images(gpu_engine, model, x, expected) -> None:
    nhwc = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 3, 1))).cuda()
    out = gpu_engine.run(nhwc, layout="nhwc")
    assert max_rel_diff(out.cpu().numpy(), expected) < REL_TOLERANCE
    images = np.random.default_rng(1).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    with model.engine(backend="cpu", max_batch=2) as cpu:
        expected_images = cpu.run(images, output="probs")
    got = gpu_engine.run(torch.from_numpy(images).cuda(), output="probs").cpu().numpy()
    assert np.abs(got - expected_images).max() < 1e-5


def test_dlpack_only_producer(gpu_engine, x, expected) -> None:
    class DLPackOnly:
        """Exposes a CUDA tensor through DLPack alone."""

        def __init__(self, t):
            self.t = t

        def __dlpack__(self, stream=None):
            return self.t.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()

    xt = torch.from_numpy(x).cuda()
    torch.cuda.synchronize()
    out = torch.empty((3, 1000), device="cuda")
    gpu_engine.run(DLPackOnly(xt), out=out)
    assert max_rel_diff(out.cpu().numpy(), expected) < REL_TOLERANCE
    with pytest.raises(sqz.Unsupported, match="out="):
        gpu_engine.run(DLPackOnly(xt))


def test_bad_device_arrays(gpu_engine, model, x) -> None:
    xt = torch.from_numpy(x).cuda()
    with pytest.raises(sqz.InvalidArgument, match="contiguous"):
        gpu_engine.run(xt.transpose(2, 3))
    with pytest.raises(sqz.InvalidArgument, match="dtype"):
        gpu_engine.run(xt.double())
    with pytest.raises(sqz.InvalidArgument, match="max_batch"):
        gpu_engine.run(torch.cat([xt, xt]))
    with model.engine(backend="cpu") as cpu:
        with pytest.raises(sqz.InvalidArgument, match="host memory only"):
            cpu.run(xt[:1])


def test_cupy_array(gpu_engine, x, expected) -> None:
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    out = gpu_engine.run(cupy.asarray(x))
    assert isinstance(out, cupy.ndarray)
    assert max_rel_diff(cupy.asnumpy(out), expected) < REL_TOLERANCE


@pytest.mark.parametrize("arch", tw.ARCHS)
def test_torchvision_random_squeezenet_matches(arch) -> None:
    torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None).eval().cuda()
    x = torch.randn(4, 3, 224, 224, device="cuda")
    with torch.no_grad():
        reference = net(x).cpu().numpy()
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    with tw.state_dict_to_model(state, arch) as model, \
            model.engine(backend="auto", max_batch=4, allow_tf32=False) as engine:
        if engine.backend == "cpu":
            pytest.skip("no GPU backend usable")
        ours = engine.run(x).cpu().numpy()
    assert max_rel_diff(ours, reference) < REL_TOLERANCE
