"""The Deep Compression v1.0 model, exported to ONNX, through ONNX Runtime on the
100 sample crops, against the independent reference logits.

The input tensor is built here in numpy from the PPM bytes and the model's
preprocessing values (Caffe's: BGR, mean B104 G117 R123, scale 1), not by
sqz's engine, so that only the exported graph is under test.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from test_images import read_ppm


def test_onnxruntime_reproduces_reference_logits(data, sample_ppms, deep_compression) -> None:
    reference = np.fromfile(data / "imagenet_samples" / "reference_logits_fp32.bin",
                            dtype="<f4").reshape(100, 1000)
    p = deep_compression.preprocess
    assert (p.channel_order, p.mean, p.scale) == ("bgr", (104.0, 117.0, 123.0), (1.0, 1.0, 1.0))
    pixels = np.stack([read_ppm(path) for path in sample_ppms])  # (100, 227, 227, 3) RGB
    bgr = pixels[..., ::-1].astype(np.float32)
    values = (bgr - np.asarray(p.mean, np.float32)) * np.asarray(p.scale, np.float32)
    x = np.ascontiguousarray(values.transpose(0, 3, 1, 2))
    session = ort.InferenceSession(deep_compression.to_onnx().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"input": x[i:i + 20]})[0]
                             for i in range(0, 100, 20)])
    diff = np.abs(logits - reference).max()
    print(f"ONNX Runtime vs reference logits: max abs diff {diff:.3g}")
    assert diff < 1e-3
    assert np.array_equal(logits.argmax(axis=1), reference.argmax(axis=1))
