"""sqz.serve's start-up around Triton, without Triton: a stand-in PyTriton.

The load of a model with two instances can fail in PyTriton itself (its
second instance connects to the first one's configuration socket before that
socket listens); sqz.serve starts Triton again for that failure only. These
tests drive serve() with a stand-in ``pytriton`` whose bind fails on demand,
so they run everywhere; tests/serving runs the real Triton.
"""

from __future__ import annotations

import os
import signal
import sys
import types
from typing import Any, Dict, List

import pytest

from sqz import serve as sqz_serve

RACE = ("load failed for model 'squeezenet': version 1 is at UNAVAILABLE state: Internal: "
        "TritonModelException: Model initialize error: Traceback (most recent call last):\n"
        "  File \"/tmp/folder/1/model.py\", line 425, in initialize\n"
        "    inference_handler_config = get_config_from_handshake_server(handshake_socket)\n"
        "ConnectionRefusedError: [Errno 111] Connection refused")


class Record:
    """What the stand-in Triton was asked to do, in order."""

    def __init__(self, failures: List[str]) -> None:
        self.failures = failures  # the messages of the binds that fail, in order
        self.events: List[str] = []
        self.bound: List[Dict[str, Any]] = []


def stand_in_pytriton(monkeypatch: pytest.MonkeyPatch, record: Record) -> None:
    class Plain:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    class Triton:
        count = 0

        def __init__(self, config: Any) -> None:
            Triton.count += 1
            self.n = Triton.count
            self.config = config

        def __enter__(self) -> "Triton":
            record.events.append(f"start {self.n}")
            return self

        def __exit__(self, *_: Any) -> None:
            record.events.append(f"stop {self.n}")

        def bind(self, **kwargs: Any) -> None:
            record.events.append(f"bind {self.n}")
            if record.failures:
                raise RuntimeError(record.failures.pop(0))
            record.bound.append(kwargs)

        def run(self) -> None:
            record.events.append(f"run {self.n}")

    package = types.ModuleType("pytriton")
    model_config = types.ModuleType("pytriton.model_config")
    model_config.DynamicBatcher = model_config.ModelConfig = model_config.Tensor = Plain
    triton = types.ModuleType("pytriton.triton")
    triton.Triton, triton.TritonConfig = Triton, Plain
    monkeypatch.setitem(sys.modules, "pytriton", package)
    monkeypatch.setitem(sys.modules, "pytriton.model_config", model_config)
    monkeypatch.setitem(sys.modules, "pytriton.triton", triton)


def args() -> Any:
    return sqz_serve.parse_args(["builtin:squeezenet1_1", "--backend", "cpu", "--input-size",
                                 "64", "--instances", "2", "--cpu-threads", "1"])


def serve_until_ready(record: Record) -> None:
    """serve() with a SIGTERM sent once it says it is ready, as an operator would stop it."""
    def ready() -> None:
        record.events.append("ready")
        os.kill(os.getpid(), signal.SIGTERM)

    sqz_serve.serve(args(), ready=ready)


def test_handshake_race_starts_triton_again_and_serves(monkeypatch, caplog) -> None:
    record = Record([RACE])
    stand_in_pytriton(monkeypatch, record)
    before = signal.getsignal(signal.SIGTERM)
    serve_until_ready(record)
    assert record.events == ["start 1", "bind 1", "stop 1", "start 2", "bind 2", "run 2",
                             "ready", "stop 2"]
    assert len(record.bound) == 1 and len(record.bound[0]["infer_func"]) == 2
    assert "handshake race" in caplog.text and "attempt 2 of 3" in caplog.text
    assert signal.getsignal(signal.SIGTERM) is before, "serve() left its signal handler behind"


def test_handshake_race_every_time_gives_up_after_three_starts(monkeypatch) -> None:
    record = Record([RACE] * 3)
    stand_in_pytriton(monkeypatch, record)
    with pytest.raises(RuntimeError, match="ConnectionRefusedError"):
        serve_until_ready(record)
    assert record.events == ["start 1", "bind 1", "stop 1", "start 2", "bind 2", "stop 2",
                             "start 3", "bind 3", "stop 3"]


@pytest.mark.parametrize("message", [
    "load failed for model 'squeezenet': Model initialize error: out of memory",
    "ConnectionRefusedError: [Errno 111] Connection refused",  # not the handshake
])
def test_other_load_failures_are_raised_at_once(monkeypatch, message: str) -> None:
    record = Record([message])
    stand_in_pytriton(monkeypatch, record)
    with pytest.raises(RuntimeError) as e:
        serve_until_ready(record)
    assert str(e.value) == message
    assert record.events == ["start 1", "bind 1", "stop 1"]


def test_is_handshake_race_needs_both_the_handshake_and_the_refusal() -> None:
    assert sqz_serve.is_handshake_race(RuntimeError(RACE))
    assert not sqz_serve.is_handshake_race(RuntimeError("get_config_from_handshake_server: "
                                                        "TimeoutError"))
