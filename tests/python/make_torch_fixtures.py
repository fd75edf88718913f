"""Writes tests/python/fixtures/torch_saved_{zip,legacy}.pth with PyTorch:
small state_dicts of every layout test_torch_checkpoint.py checks against
values it recomputes with numpy, so that files PyTorch really wrote are
read in every test run, with or without PyTorch installed.
Usage (PyTorch needed): python tests/python/make_torch_fixtures.py"""

from pathlib import Path

import torch


def fixture_state() -> dict:
    w = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 8
    return {"state_dict": {
        "w": w,
        "row": w[1],  # a view: the same storage at an offset
        "t": (torch.arange(12, dtype=torch.float32).reshape(3, 4) - 5).t(),  # transposed
        "h": (torch.arange(5, dtype=torch.float32) / 4).half(),
        "b": torch.tensor([1.5, -2.0, 3.0]).bfloat16(),
        "n": torch.tensor(7),
        "p": torch.nn.Parameter(torch.ones(2, 2) * 0.5),
    }, "epoch": 3}


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "fixtures"
    out.mkdir(exist_ok=True)
    torch.save(fixture_state(), out / "torch_saved_zip.pth")
    torch.save(fixture_state(), out / "torch_saved_legacy.pth",
               _use_new_zipfile_serialization=False)
    print(f"torch {torch.__version__}: wrote {out}")
