"""Triton Inference Server hosting sqz (python -m sqz.serve), on loopback.

2,000 requests from 32 concurrent clients over HTTP and gRPC, with both
inputs, each answer equal to the local cpu engine's; a stream of bad
requests mixed in; the server killed during load (clients get errors, not
hangs) and restarted; a model load failed by PyTriton's instance handshake
race, after which sqz.serve starts Triton again and serves. Needs nvidia-pytriton and tritonclient: run by
scripts/test.sh in its serving environment, where they are installed; they
are never skipped for want of them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

import sqz

SIZE = 64
NAME = "squeezenet"
RESULTS = Path(os.environ.get("SQZ_SERVING_RESULTS", "build/serving"))

# sqz.serve with PyTriton's Triton made to fail its first model load the way
# PyTriton's instance handshake race does (after the model is registered), so
# that the real Triton is stopped and started again in the same process.
FIRST_LOAD_RACES = """
import sys
import pytriton.triton
from sqz import serve

class FirstLoadRaces(pytriton.triton.Triton):
    raced = False

    def bind(self, **kwargs):
        super().bind(**kwargs)
        if not FirstLoadRaces.raced:
            FirstLoadRaces.raced = True
            raise RuntimeError("Model initialize error: get_config_from_handshake_server("
                               "handshake_socket) ConnectionRefusedError: [Errno 111] "
                               "Connection refused")

pytriton.triton.Triton = FirstLoadRaces
sys.exit(serve.main(sys.argv[1:]))
"""


def free_ports(n: int) -> List[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Server:
    """python -m sqz.serve in its own process group (PyTriton starts tritonserver in it)."""

    def __init__(self, ports: List[int], log: Path, program: Tuple[str, ...] = ("-m", "sqz.serve")
                 ) -> None:
        self.ports = ports
        self.log = log
        self.program = list(program)  # what python runs: the module, or a script and its argv
        self.proc: subprocess.Popen = None  # type: ignore[assignment]

    def start(self, timeout: float = 180) -> None:
        http, grpc, metrics = self.ports
        cmd = [sys.executable, *self.program, "builtin:squeezenet1_1", "--backend", "cpu",
               "--input-size", str(SIZE), "--instances", "2", "--max-batch", "8",
               "--max-delay-us", "2000", "--cpu-threads", "1", "--http-port", str(http),
               "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sqz.serve exited with {self.proc.returncode}: "
                                     f"{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/models/{NAME}/ready",
                                            timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.kill()
        raise AssertionError(f"sqz.serve not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, the way an operator stops it; it must exit cleanly."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            finally:
                self.kill()


@pytest.fixture(scope="module")
def reference():
    """The local cpu engine and the inputs the clients send, with the answers."""
    model = sqz.Model.builtin("squeezenet1_1")
    model.set_input_size(SIZE)
    engine = model.engine(backend="cpu", max_batch=1, cpu_threads=1)
    rng = np.random.default_rng(7)
    pixels = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(8)]
    big = [rng.integers(0, 256, (SIZE + 16, SIZE + 8, 3), dtype=np.uint8) for _ in range(8)]
    files = [f"P6\n{b.shape[1]} {b.shape[0]}\n255\n".encode() + b.tobytes() for b in big]
    want_pixels = [engine.run(p[None], output="probs")[0] for p in pixels]
    want_files = [engine.run(model.prepare_image(f)[None], output="probs")[0] for f in files]
    yield pixels, files, want_pixels, want_files
    engine.close()
    model.close()


@pytest.fixture(scope="module")
def server():
    s = Server(free_ports(3), RESULTS / "server.log")
    s.start()
    yield s
    s.kill()


def request(protocol: str, kind: str, value) -> Tuple[object, list]:
    """(module, inputs) of one request with one row."""
    mod = thttp if protocol == "http" else tgrpc
    if kind == "pixels":
        x = np.asarray(value)[None]
        inp = mod.InferInput("pixels", list(x.shape), "UINT8")
    else:
        x = np.array([[value]], dtype=object)
        inp = mod.InferInput("image", [1, 1], "BYTES")
    inp.set_data_from_numpy(x)
    return mod, [inp]


def client(protocol: str, ports: List[int], timeout: float = 30):
    if protocol == "http":
        return thttp.InferenceServerClient(f"127.0.0.1:{ports[0]}", connection_timeout=timeout,
                                           network_timeout=timeout)
    return tgrpc.InferenceServerClient(f"127.0.0.1:{ports[1]}")


def is_batch_mate_error(e: Exception) -> bool:
    """A failure caused by another request of the same Triton batch (retryable)."""
    return "another request of this batch" in str(e)


def test_load_both_protocols_and_inputs_with_bad_requests(server, reference) -> None:
    pixels, files, want_pixels, want_files = reference
    total, clients_n = 2000, 32
    answers: Dict[int, np.ndarray] = {}
    latencies: List[float] = []
    retried = []
    errors: List[str] = []
    lock = threading.Lock()
    stop_bad = threading.Event()
    bad_results: List[str] = []

    def good(c: int) -> None:
        protocol = "http" if c % 2 == 0 else "grpc"
        cl = client(protocol, server.ports)
        for k in range(c, total, clients_n):
            kind = "pixels" if (k // clients_n) % 2 == 0 else "image"
            value = pixels[k % 8] if kind == "pixels" else files[k % 8]
            _, inputs = request(protocol, kind, value)
            start = time.monotonic()
            for attempt in range(5):
                try:
                    kw = {"client_timeout": 30} if protocol == "grpc" else {}
                    result = cl.infer(NAME, inputs, **kw).as_numpy("probs")
                    break
                except Exception as e:  # noqa: BLE001 - any client error is recorded
                    if is_batch_mate_error(e) and attempt < 4:
                        with lock:
                            retried.append(k)
                        continue
                    with lock:
                        errors.append(f"request {k} ({protocol}, {kind}): {e}")
                    return
            with lock:
                latencies.append(time.monotonic() - start)
                answers[k] = result[0]
        cl.close()

    def bad() -> None:
        """Bad requests, over both protocols, until the good ones are done."""
        cases = ["dtype", "shape", "both", "neither", "corrupt", "truncated", "too_large"]
        i = 0
        while not stop_bad.is_set():
            protocol = "http" if i % 2 == 0 else "grpc"
            case = cases[i % len(cases)]
            i += 1
            mod = thttp if protocol == "http" else tgrpc
            cl = client(protocol, server.ports)
            if case == "dtype":
                x = np.zeros((1, SIZE, SIZE, 3), np.float32)
                inputs = [mod.InferInput("pixels", list(x.shape), "FP32")]
            elif case == "shape":
                x = np.zeros((1, SIZE, SIZE + 1, 3), np.uint8)
                inputs = [mod.InferInput("pixels", list(x.shape), "UINT8")]
            elif case == "too_large":
                x = np.zeros((9, SIZE, SIZE, 3), np.uint8)
                inputs = [mod.InferInput("pixels", list(x.shape), "UINT8")]
            elif case in ("corrupt", "truncated"):
                data = b"\x89PNG garbage" if case == "corrupt" else files[0][:100]
                x = np.array([[data]], dtype=object)
                inputs = [mod.InferInput("image", [1, 1], "BYTES")]
            else:
                x = pixels[0][None]
                inputs = [mod.InferInput("pixels", list(x.shape), "UINT8")]
            if case != "neither":
                try:
                    inputs[0].set_data_from_numpy(x)
                except Exception as e:  # noqa: BLE001 - a client-side refusal is a refusal too
                    bad_results.append(f"{case}: refused by the client: {e}")
                    continue
            if case == "both":
                _, extra = request(protocol, "image", files[0])
                inputs += extra
            if case == "neither":
                inputs = []
            try:
                cl.infer(NAME, inputs)
                bad_results.append(f"{case}: ANSWERED")
            except Exception as e:  # noqa: BLE001
                bad_results.append(f"{case}: {str(e)[:200]}")
            cl.close()
            time.sleep(0.05)

    t0 = time.monotonic()
    threads = [threading.Thread(target=good, args=(c,)) for c in range(clients_n)]
    bad_thread = threading.Thread(target=bad)
    for t in threads:
        t.start()
    bad_thread.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.monotonic() - t0
    stop_bad.set()
    bad_thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors[:5]
    assert sorted(answers) == list(range(total)), "requests lost"
    worst = 0.0
    for k, got in answers.items():
        kind = "pixels" if (k // clients_n) % 2 == 0 else "image"
        want = want_pixels[k % 8] if kind == "pixels" else want_files[k % 8]
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst <= 1e-5, f"largest difference from the local cpu engine {worst}"
    assert len(bad_results) >= 7, bad_results
    assert not [b for b in bad_results if "ANSWERED" in b], bad_results
    lat = np.sort(np.array(latencies)) * 1e3
    summary = {
        "backend": "cpu (the CPU reference engine; no GPU)", "input": f"{SIZE}x{SIZE}",
        "instances": 2, "max_batch": 8, "clients": clients_n, "requests": total,
        "seconds": wall, "requests_per_second": total / wall,
        "latency_ms": {"p50": float(lat[len(lat) // 2]),
                       "p99": float(lat[min(len(lat) - 1, int(len(lat) * 0.99))])},
        "bad_requests": len(bad_results), "good_requests_retried": len(retried),
        "max_abs_difference": worst,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "triton-load.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.ports[2]}/metrics",
                                     timeout=10).read().decode()
    assert "nv_inference_request_success" in metrics


def test_killed_during_load_clients_error_then_restart_serves(server, reference) -> None:
    pixels, _, want_pixels, _ = reference
    outcomes: List[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def loop(c: int) -> None:
        protocol = "http" if c % 2 == 0 else "grpc"
        cl = client(protocol, server.ports, timeout=20)
        _, inputs = request(protocol, "pixels", pixels[c % 8])
        for _ in range(1000):
            try:
                kw = {"client_timeout": 20} if protocol == "grpc" else {}
                cl.infer(NAME, inputs, **kw)
            except Exception as e:  # noqa: BLE001
                with lock:
                    outcomes.append(f"error after kill={killed.is_set()}: {type(e).__name__}")
                return
        with lock:
            outcomes.append("never failed")

    threads = [threading.Thread(target=loop, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    time.sleep(2)
    killed.set()
    server.kill()
    t_kill = time.monotonic()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a client hung after the server was killed"
    assert time.monotonic() - t_kill < 60
    assert len(outcomes) == 8 and all(o.startswith("error after kill=True") for o in outcomes), \
        outcomes
    server.start()
    cl = client("http", server.ports)
    _, inputs = request("http", "pixels", pixels[3])
    got = cl.infer(NAME, inputs).as_numpy("probs")[0]
    assert float(np.abs(got - want_pixels[3]).max()) <= 1e-5
    cl.close()
    server.stop()
    assert server.proc.returncode == 0, server.log.read_text()[-2000:]


def test_load_failed_by_the_handshake_race_starts_triton_again(reference) -> None:
    pixels, _, want_pixels, _ = reference
    log = RESULTS / "server-race.log"
    log.unlink(missing_ok=True)
    s = Server(free_ports(3), log, program=("-c", FIRST_LOAD_RACES))
    try:
        s.start()
        cl = client("grpc", s.ports)
        _, inputs = request("grpc", "pixels", pixels[5])
        got = cl.infer(NAME, inputs, client_timeout=30).as_numpy("probs")[0]
        assert float(np.abs(got - want_pixels[5]).max()) <= 1e-5
        cl.close()
        s.stop()
        assert s.proc.returncode == 0, log.read_text()[-2000:]
    finally:
        s.kill()
    text = log.read_text()
    assert "handshake race" in text and "attempt 2 of 3" in text, text[-2000:]
    assert text.count("sqz.serve: serving") == 1, text[-2000:]
