"""Images: decoding, resizing, the model's prepare step, classify's inputs."""

from __future__ import annotations

import numpy as np
import pytest

import sqz


def read_ppm(path) -> np.ndarray:
    """A minimal binary PPM (P6, maxval 255) reader, independent of the library."""
    data = path.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P6" and fields[3] == b"255"
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data, np.uint8, w * h * 3, pos + 1).reshape(h, w, 3)


def test_formats() -> None:
    assert {"ppm", "pgm"} <= set(sqz.image_formats())


def test_load_and_decode(sample_ppms) -> None:
    path = sample_ppms[0]
    image = sqz.load_image(path)
    assert image.shape == (227, 227, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, read_ppm(path))
    np.testing.assert_array_equal(sqz.decode_image(path.read_bytes()), image)


def test_decode_errors(tmp_path) -> None:
    with pytest.raises(sqz.FormatError):
        sqz.decode_image(b"P6\n2 2\n255\n\x00")  # truncated pixels
    with pytest.raises(sqz.IOError):
        sqz.load_image(tmp_path / "missing.ppm")


def test_resize() -> None:
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, :, 1] = 200
    out = sqz.resize_image(image, 7, 5)
    assert out.shape == (5, 7, 3) and np.all(out[:, :, 1] == 200)


def test_prepare_image(deep_compression, data) -> None:
    jpegs = sorted((data / "imagenet_samples" / "jpeg").glob("*.jpg"))
    if "jpeg" not in sqz.image_formats():
        pytest.skip("libsqz was built without JPEG support")
    prepared = deep_compression.prepare_image(jpegs[0])
    assert prepared.shape == (227, 227, 3)
    decoded = sqz.load_image(jpegs[0])
    np.testing.assert_array_equal(deep_compression.prepare_image(decoded), prepared)
    same_size = np.arange(227 * 227 * 3, dtype=np.uint8).reshape(227, 227, 3)
    np.testing.assert_array_equal(deep_compression.prepare_image(same_size), same_size)
    with pytest.raises(sqz.InvalidArgument, match="uint8"):
        deep_compression.prepare_image(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(sqz.InvalidArgument, match="shape"):
        deep_compression.prepare_image(np.zeros((10, 10), np.uint8))


def test_classify_inputs(deep_compression, sample_ppms) -> None:
    path = sample_ppms[0]
    with deep_compression.engine(backend="cpu", max_batch=2) as engine:
        by_path = engine.classify(path)
        assert len(by_path) == 1 and len(by_path[0]) == 5
        top = by_path[0][0]
        assert (top.index, top.label) == (0, "tench") and top.prob > 0.5
        index, label, prob = top  # a plain tuple too
        assert by_path == engine.classify([str(path)])
        assert by_path == engine.classify(path.read_bytes())
        assert by_path == engine.classify([sqz.load_image(path)])
        three = engine.classify(sample_ppms[:3], k=2)  # two batches of max_batch 2
        assert [len(r) for r in three] == [2, 2, 2] and three[0] == by_path[0][:2]
        with pytest.raises(sqz.IOError, match="missing.ppm"):
            engine.classify(path.parent / "missing.ppm")
        with pytest.raises(sqz.InvalidArgument, match="k must"):
            engine.classify(path, k=0)
        with pytest.raises(sqz.InvalidArgument, match="image"):
            engine.classify([42])
