"""The Python package gives what the C command-line tool gives, on the sample crops."""

from __future__ import annotations

import json
import subprocess

import numpy as np

import sqz


def test_classify_matches_cli(cli, data, sample_ppms, deep_compression) -> None:
    model_path = data / "squeezenet_v1.0_deep_compression.net"
    result = subprocess.run(
        [str(cli), "classify", "--json", "--backend", "cpu", "-m", str(model_path),
         "-l", str(data / "synset_words.txt"), *map(str, sample_ppms)],
        capture_output=True, text=True, check=True)
    cli_rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["file"] for row in cli_rows] == list(map(str, sample_ppms))

    with deep_compression.engine(backend="cpu", max_batch=10) as engine:
        py_rows = engine.classify(sample_ppms, k=5)
    for cli_row, py_row in zip(cli_rows, py_rows, strict=True):
        cli_top = cli_row["top5"]
        assert [p.index for p in py_row] == [t["index"] for t in cli_top], cli_row["file"]
        assert [p.label for p in py_row] == [t["label"] for t in cli_top]
        # The CLI prints %.6g: equal to its printed precision.
        np.testing.assert_allclose([p.prob for p in py_row], [t["prob"] for t in cli_top],
                                   rtol=1e-6, atol=1e-6)


def test_logits_match_reference_logits(data, sample_ppms, deep_compression) -> None:
    reference = np.fromfile(data / "imagenet_samples" / "reference_logits_fp32.bin",
                            dtype="<f4").reshape(100, 1000)
    # Every fifth crop: the C suites check all of them; this checks the Python path.
    rows = list(range(0, 100, 5))
    images = np.stack([sqz.load_image(sample_ppms[i]) for i in rows])
    with deep_compression.engine(backend="cpu", max_batch=len(rows)) as engine:
        logits = engine.run(images)
    assert np.abs(logits - reference[rows]).max() < 1e-3
    assert np.array_equal(logits.argmax(axis=1), reference[rows].argmax(axis=1))
