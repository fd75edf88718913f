"""Command line: export an sqz model as ONNX.

    python -m sqz.export_onnx MODEL OUT.onnx [--softmax] [--input-size H [W]]
                              [--labels FILE] [--opset N]

MODEL: a .sqzw file, a Deep Compression file, or builtin:NAME (synthetic
weights). The graph is checked with onnx.checker before it is written; the
file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .errors import Error
from .model import Model
from .onnx_export import DEFAULT_OPSET


def load_model_spec(spec: str) -> Model:
    """A model from "builtin:NAME" or a file path, as the sqz CLI reads it."""
    if spec.startswith("builtin:"):
        return Model.builtin(spec[len("builtin:"):])
    return Model.load(spec)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sqz.export_onnx",
                                     description="Export an sqz model as an ONNX graph.")
    parser.add_argument("model", help=".sqzw or Deep Compression file, or builtin:NAME")
    parser.add_argument("output", help="the .onnx file to write")
    parser.add_argument("--softmax", action="store_true",
                        help="end with Softmax: output 'probs' instead of 'logits'")
    parser.add_argument("--input-size", type=int, nargs="+", metavar=("H", "W"),
                        help="export for this input size (default: the model's)")
    parser.add_argument("--labels", help="class names file to store in the metadata")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset (default {DEFAULT_OPSET}, at least 10)")
    args = parser.parse_args(argv)
    if args.input_size is not None and len(args.input_size) > 2:
        parser.error("--input-size takes H or H W")
    try:
        import onnx
    except ImportError:
        print("sqz.export_onnx: the 'onnx' package is needed: pip install onnx", file=sys.stderr)
        return 1
    try:
        with load_model_spec(args.model) as model:
            if args.labels:
                model.load_labels(args.labels)
            if args.input_size:
                model.set_input_size(*args.input_size)
            proto = model.to_onnx(softmax=args.softmax, opset=args.opset)
            onnx.checker.check_model(proto, full_check=True)
            from .onnx_export import save_atomically

            save_atomically(proto, args.output)
            _, h, w = model.input_shape
            print(f"wrote {args.output}: {model.name}, input (batch, 3, {h}, {w}), "
                  f"{len(proto.graph.node)} nodes, opset {args.opset}")
    except (Error, OSError, ValueError) as exc:
        print(f"sqz.export_onnx: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
