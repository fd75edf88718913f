"""Command line: convert SqueezeNet weights to a .sqzw file.

    python -m sqz.convert IN OUT.sqzw [--arch squeezenet1_0|squeezenet1_1]
                          [--labels FILE] [--input-size N]
                          [--preprocess torchvision|caffe]

IN is recognised by its extension and content:
- a torchvision SqueezeNet checkpoint (.pth / .pt, a torch.save'd
  state_dict; needs PyTorch), or the same state_dict saved with
  numpy.savez (.npz, no PyTorch needed);
- an ONNX SqueezeNet-family graph (.onnx; needs the onnx package);
- anything libsqz loads (.sqzw, the Deep Compression file), to relabel it.

The output is written atomically by sqz_model_save.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import torchvision_weights
from .errors import Error
from .model import Model
from .types import Preprocess


def load_any(path: str, arch: Optional[str] = None, input_size: Optional[int] = None) -> Model:
    """A model from any input `convert` accepts (see the module docstring)."""
    lower = path.lower()
    if lower.endswith(".onnx"):
        from .onnx_import import onnx_to_model

        model = onnx_to_model(path, name=arch, input_size=input_size)
        return model
    if lower.endswith(".npz"):
        weights = torchvision_weights.load_npz_state_dict(path)
        return torchvision_weights.state_dict_to_model(weights, arch, input_size or 224)
    if lower.endswith((".pth", ".pt")) or torchvision_weights.looks_like_torch_file(path):
        weights = torchvision_weights.load_torch_state_dict(path)
        return torchvision_weights.state_dict_to_model(weights, arch, input_size or 224)
    model = Model.load(path)
    if input_size:
        model.set_input_size(input_size, input_size)
    return model


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sqz.convert",
        description="Convert torchvision (.pth/.npz) or ONNX SqueezeNet weights to .sqzw.")
    parser.add_argument("input", help=".pth/.pt, .npz, .onnx, .sqzw or Deep Compression file")
    parser.add_argument("output", help="the .sqzw file to write")
    parser.add_argument("--arch", choices=torchvision_weights.ARCHS,
                        help="check the torchvision version (detected from the shapes anyway); "
                             "for ONNX, the model's name")
    parser.add_argument("--labels", help="class names, one per line (\"wnid name\" or \"name\")")
    parser.add_argument("--input-size", type=int, help="input height and width (default: "
                        "the source's, 224 for torchvision)")
    parser.add_argument("--preprocess", choices=("torchvision", "caffe"),
                        help="replace the preprocessing (default: torchvision's for "
                             "torchvision and foreign ONNX files)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.input):
        print(f"sqz.convert: {args.input}: no such file", file=sys.stderr)
        return 1
    try:
        with load_any(args.input, args.arch, args.input_size) as model:
            if args.preprocess == "caffe":
                model.preprocess = Preprocess.caffe()
            elif args.preprocess == "torchvision":
                model.preprocess = Preprocess.torchvision(min(model.input_shape[1:]))
            if args.labels:
                model.load_labels(args.labels)
            model.save(args.output)
            c, h, w = model.input_shape
            print(f"wrote {args.output}: {model.name}, input {c}x{h}x{w}, "
                  f"{model.num_classes} classes, {model.parameters} parameters"
                  f"{', labels' if model.labels else ''}")
    except ImportError as exc:
        print(f"sqz.convert: {exc}", file=sys.stderr)
        return 1
    except (Error, OSError, ValueError) as exc:
        print(f"sqz.convert: {args.input}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
