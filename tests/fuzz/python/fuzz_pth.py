"""The torchvision .pth converter (python -m sqz.convert's .pth path, through
sqz.torch_checkpoint, no PyTorch) on any bytes."""

import sys

import atheris

with atheris.instrument_imports():
    from contract import run
    from sqz.convert import load_any


def test_one(data: bytes) -> None:
    run(data, ".pth", load_any)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
