"""Serves an sqz model through Triton Inference Server (PyTriton).

    python -m sqz.serve builtin:squeezenet1_1 --backend cpu --instances 2

The model (docs/serving.md) takes, per request, exactly one of:
  image   BYTES [1]: one encoded JPEG, PNG or PPM file per row, decoded and
          prepared (resize, centre crop) by the model's preprocessing;
  pixels  UINT8 [H, W, 3]: RGB already at the model's input size;
and returns probs, FP32 [classes] per row (and label, BYTES [1], the top-1
class name, when the model has labels). Triton's dynamic batcher forms the
batches; each instance runs one sqz engine. Health, readiness and metrics
are Triton's own (HTTP /v2/health/ready, Prometheus on the metrics port).

Needs the ``nvidia-pytriton`` package, in an environment made with Debian's
/usr/bin/python3 (PyTriton's Python stub links the system libpython3.11).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from .errors import Error, InvalidArgument
from .model import Model

LOG = logging.getLogger("sqz.serve")


def load_model(spec: str, labels: Optional[str] = None, input_size: Optional[int] = None) -> Model:
    """A model from "builtin:NAME" or a model file, with optional labels and input size."""
    model = Model.builtin(spec[len("builtin:"):]) if spec.startswith("builtin:") else Model.load(spec)
    if labels:
        model.load_labels(labels)
    if input_size:
        model.set_input_size(input_size)
    return model


class RequestError(InvalidArgument):
    """A request Triton accepted but sqz cannot run (both or neither input, a bad image)."""


def request_pixels(model: Model, request: Dict[str, np.ndarray], index: int) -> np.ndarray:
    """The (rows, H, W, 3) uint8 pixels of one Triton request, or RequestError."""
    has_image, has_pixels = "image" in request, "pixels" in request
    if has_image == has_pixels:
        raise RequestError(f"request {index}: give exactly one of the inputs 'image' (encoded "
                           f"files, BYTES) and 'pixels' (UINT8 [H, W, 3]), not "
                           f"{'both' if has_image else 'neither'}")
    _, h, w = model.input_shape
    if has_pixels:
        pixels = np.asarray(request["pixels"])
        if pixels.dtype != np.uint8 or pixels.shape[1:] != (h, w, 3):
            raise RequestError(f"request {index}: 'pixels' must be UINT8 [batch, {h}, {w}, 3], "
                               f"got {pixels.dtype} {list(pixels.shape)}")
        return np.ascontiguousarray(pixels)
    rows = np.asarray(request["image"]).reshape(-1)
    out = np.empty((len(rows), h, w, 3), dtype=np.uint8)
    for r, data in enumerate(rows):
        raw = data if isinstance(data, bytes) else bytes(data)
        try:
            out[r] = model.prepare_image(raw)
        except Error as e:
            raise RequestError(f"request {index}, row {r}: the image cannot be decoded: {e}") from e
    return out


def make_infer(model: Model, engine: Any) -> Callable[[List[Dict[str, np.ndarray]]], List[Dict]]:
    """The inference function of one instance: Triton's batch of requests, one engine run.

    PyTriton answers a failure per call, so a request that sqz cannot run
    fails the requests Triton batched with it too; the message names it.
    """
    lock = threading.Lock()  # one engine, used by one thread at a time
    labels = model.labels

    def infer(requests: List[Dict[str, np.ndarray]]) -> List[Dict[str, np.ndarray]]:
        parts, bad = [], []
        for i, r in enumerate(requests):
            try:
                parts.append(request_pixels(model, r, i))
            except RequestError as e:
                bad.append(str(e))
        if bad:
            others = len(requests) - len(bad)
            raise RequestError("; ".join(bad) + (
                f". The {others} other request(s) Triton batched with it fail with this error: "
                "a request that was valid failed because of another request of this batch, "
                "and may be sent again" if others else ""))
        batch = np.concatenate(parts) if len(parts) > 1 else parts[0]
        with lock:
            probs = np.concatenate([engine.run(batch[i:i + engine.max_batch], output="probs")
                                    for i in range(0, len(batch), engine.max_batch)])
        responses, start = [], 0
        for part in parts:
            p = probs[start:start + len(part)]
            start += len(part)
            response = {"probs": p}
            if labels is not None:
                response["label"] = np.array([[labels[int(k)].encode()] for k in p.argmax(axis=1)],
                                             dtype=object)
            responses.append(response)
        return responses

    return infer


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m sqz.serve",
        description="Serve an sqz model through Triton Inference Server (PyTriton). Inputs: "
                    "'image' (BYTES, one encoded JPEG/PNG/PPM per row) or 'pixels' (UINT8 "
                    "[H, W, 3] at the input size), exactly one per request; output 'probs' "
                    "(FP32 [classes]). Stops on SIGINT or SIGTERM.")
    p.add_argument("model", help="a .sqzw or Deep Compression file, or builtin:NAME")
    p.add_argument("--backend", default="auto", help="auto, cpu, cudnn, unfused, fused (auto)")
    p.add_argument("--precision", default="fp32", help="fp32 or fp16 (fp32)")
    p.add_argument("--instances", type=int, default=1,
                   help="model instances, one sqz engine each (1)")
    p.add_argument("--max-batch", type=int, default=8,
                   help="Triton's max_batch_size and each engine's (8)")
    p.add_argument("--max-delay-us", type=int, default=500,
                   help="the dynamic batcher's max queue delay in microseconds (500)")
    p.add_argument("--http-port", type=int, default=8000, help="HTTP port (8000)")
    p.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (8001)")
    p.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port (8002)")
    p.add_argument("--name", default="squeezenet", help="the model's name in Triton (squeezenet)")
    p.add_argument("--labels", help="class labels, one per line: adds the output 'label'")
    p.add_argument("--input-size", type=int, help="serve at this square input size")
    p.add_argument("--cpu-threads", type=int, default=0,
                   help="cpu backend: threads per engine, 0 = all cores (0)")
    p.add_argument("--device", type=int, default=0, help="CUDA device (0)")
    args = p.parse_args(argv)
    for name in ("instances", "max_batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_delay_us < 0:
        p.error("--max-delay-us must be >= 0")
    return args


# PyTriton's second model instance reads its configuration from a Unix
# socket the first instance creates; it connects once the socket file exists,
# which is after bind() but may be before listen(), and then the model load
# fails with ConnectionRefusedError (seen in CI with PyTriton 0.7 on 2 busy
# cores). Starting Triton again does not meet the same timing.
HANDSHAKE_RACE = ("get_config_from_handshake_server", "ConnectionRefusedError")
START_ATTEMPTS = 3


def is_handshake_race(error: BaseException) -> bool:
    """Whether a failed model load is PyTriton's instance handshake race (retryable)."""
    text = str(error)
    return all(part in text for part in HANDSHAKE_RACE)


@contextlib.contextmanager
def running_triton(triton_class: Any, config: Any, bind: Dict[str, Any],
                   attempts: int = START_ATTEMPTS) -> Iterator[Any]:
    """Triton started with the model bound and running; stopped on leaving.

    A load that failed by PyTriton's handshake race stops that Triton and
    starts a new one, up to ``attempts`` in all; any other failure is raised
    at once.
    """
    for attempt in range(1, attempts + 1):
        with triton_class(config=config) as triton:
            try:
                triton.bind(**bind)
            except Exception as e:  # noqa: BLE001 - only the handshake race is retried
                if attempt == attempts or not is_handshake_race(e):
                    raise
                LOG.warning("sqz.serve: Triton could not load the model (PyTriton's instance "
                            "handshake race: connection refused); starting it again "
                            "(attempt %d of %d)", attempt + 1, attempts)
                continue
            triton.run()
            yield triton
            return


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while inside; the old handlers come back on leaving."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(args: argparse.Namespace, ready: Optional[Callable[[], None]] = None) -> None:
    """Starts Triton with the model bound and blocks until SIGINT/SIGTERM.

    ``ready`` is called once the model is served and the signal handlers are in place.
    """
    try:
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise SystemExit(f"sqz.serve needs nvidia-pytriton (pip install nvidia-pytriton): {e}")

    model = load_model(args.model, args.labels, args.input_size)
    engines: List[Any] = []
    try:
        _, h, w = model.input_shape
        for _ in range(args.instances):
            engines.append(model.engine(backend=args.backend, precision=args.precision,
                                        max_batch=args.max_batch, device=args.device,
                                        cpu_threads=args.cpu_threads))
        LOG.info("sqz.serve: %s, %d x %s", model.name, len(engines), engines[0].description)
        outputs = [Tensor(name="probs", dtype=np.float32, shape=(model.num_classes,))]
        if model.labels is not None:
            outputs.append(Tensor(name="label", dtype=bytes, shape=(1,)))
        config = TritonConfig(http_address="0.0.0.0", http_port=args.http_port,
                              grpc_port=args.grpc_port, metrics_port=args.metrics_port)
        bind = dict(
            model_name=args.name,
            infer_func=[make_infer(model, e) for e in engines],
            inputs=[Tensor(name="image", dtype=bytes, shape=(1,), optional=True),
                    Tensor(name="pixels", dtype=np.uint8, shape=(h, w, 3), optional=True)],
            outputs=outputs,
            config=ModelConfig(max_batch_size=args.max_batch,
                               batcher=DynamicBatcher(
                                   max_queue_delay_microseconds=args.max_delay_us)),
            strict=True,
        )
        with running_triton(Triton, config, bind), stop_signals() as stop:
            print(f"sqz.serve: serving '{args.name}' ({model.name}, input {h}x{w}, "
                  f"{len(engines)} x {engines[0].backend}) on HTTP {args.http_port}, gRPC "
                  f"{args.grpc_port}, metrics {args.metrics_port}", flush=True)
            if ready:
                ready()
            stop.wait()
    finally:
        for e in engines:
            e.close()
        model.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        serve(args)
    except Error as e:
        print(f"sqz.serve: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
