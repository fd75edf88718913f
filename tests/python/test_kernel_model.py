"""bench/kernel_model.py: the floors it prints follow from the network's
shapes (issue 14's 6.9 MB of fp16 activations per v1.1 image), and the
tile heights follow the fused planner's rule."""

from bench_module import load_bench


def load():
    return load_bench("kernel_model")


def test_v11_fp16_moves_about_6_9_mb_per_image():
    km = load()
    rows = km.kernels("v1.1", 256, fp16=True)
    assert [r["kernel"].split()[0] for r in rows] == \
        ["stem"] + [f"fire{i}" for i in range(2, 10)] + ["classifier"]
    per_image = sum(r["bytes"] for r in rows) / 256 / 1e6
    assert 6.8 < per_image < 7.0
    # fp32 moves twice the bytes, on the CUDA cores
    rows32 = km.kernels("v1.1", 256, fp16=False)
    assert abs(sum(r["bytes"] for r in rows32) - 2 * sum(r["bytes"] for r in rows)) < 256 * 8 * 1000
    assert not any(r["tensor"] for r in rows32)


def test_tile_heights_follow_the_planner():
    km = load()
    assert km.fire_tile_h(55, 55, 16, 256) == 8
    assert km.fire_tile_h(13, 13, 64, 1) == 1  # too few blocks at batch 1: the shortest tile
    assert km.fire_tile_h(1, 1, 16, 256) == 1  # no taller than the image needs
    # fp32 (CUDA cores) by the same rule: 8 rows at batch 256
    assert km.fire_tile_h(13, 13, 64, 256, tensor=False) == 8
    assert "8 rows" in km.kernels("v1.1", 256, fp16=False)[1]["kernel"]


def test_stem_tile_follows_the_planner():
    km = load()
    # v1.1's 3x3 stem: 4 x 8 (40 KB, several blocks an SM)
    assert km.stem_tile(3, 64, 55) == (4, 8, 160)
    # v1.0's 7x7: 4 x 8 needs 118 KB, one block an SM; 5 x 6 lets two share one
    assert km.stem_tile(7, 96, 54) == (5, 6, 144)
    rows = km.kernels("v1.0", 256, fp16=True)
    assert rows[0]["kernel"].startswith("stem (5x6") and rows[0]["tensor"]
